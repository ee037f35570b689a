/**
 * `RovingControls`: one tab stop for a list whose rows hold controls of their own (a
 * thread's messages, with their actions, quotes, reactions, links and files). The rows
 * set their own `tabindex` (one 0, the others -1); this keeps the controls inside the
 * rows out of the tab order too, except those of the current row (the one focus is in),
 * so that Tab reaches the list once, goes through the focused row's controls, and then
 * on past the list, instead of through every button of every message. The others'
 * controls are reached by moving to their row first (the arrows), and a click still
 * works on any. Rows are the list's element children with a `data-id`; controls added
 * later (a row arriving, a file's buttons appearing) are handled as they come.
 */
const CONTROLS = "a[href], button, input, select, textarea, summary";

export class RovingControls {
  readonly #list: HTMLElement;
  readonly #observer: MutationObserver;
  #current: string | null = null;

  constructor(list: HTMLElement) {
    this.#list = list;
    this.#observer = new MutationObserver((records) => {
      for (const record of records) {
        for (const node of record.addedNodes) if (node instanceof HTMLElement) this.#place(node);
      }
    });
    this.#observer.observe(list, { childList: true, subtree: true });
  }

  /** The row focus is in now (its `data-id`), or none: its controls join the tab order. */
  setCurrent(id: string | null): void {
    this.#current = id;
    this.#place(this.#list);
  }

  stop(): void {
    this.#observer.disconnect();
  }

  /** Puts the controls in and under `root` in the tab order or out of it. */
  #place(root: HTMLElement): void {
    const controls = [...(root.matches(CONTROLS) ? [root] : []), ...root.querySelectorAll<HTMLElement>(CONTROLS)];
    for (const control of controls) {
      const row = this.#rowOf(control);
      if (!row) continue;
      if (row.dataset.id === this.#current) control.removeAttribute("tabindex");
      else control.tabIndex = -1;
    }
  }

  #rowOf(element: HTMLElement): HTMLElement | null {
    let at: HTMLElement | null = element;
    while (at && at.parentElement !== this.#list) at = at.parentElement;
    return at && at !== element && at.dataset.id !== undefined ? at : null;
  }
}
