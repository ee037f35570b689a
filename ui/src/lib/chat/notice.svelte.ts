/**
 * `Notice`: the one line the window shows for a moment when something did not work (a
 * command the core refused, a reply whose original is gone), with what it offers to do
 * instead, if anything. Every topic store tells its failures here rather than throwing
 * them at components, so a click never ends in silence; `errorMessage` is how any
 * failure is worded, for the components that show their own.
 */
import * as backend from "../backend";

/** Something the notice offers to do about what it says. */
export interface NoticeAction {
  label: string;
  run: () => void;
}

/** What a failure says to people (any rejection: the core's CommandError or Tauri's own). */
export function errorMessage(e: unknown): string {
  return backend.toCommandError(e).message;
}

export class Notice {
  /** A failure to show for a moment (a command that did not work). */
  text = $state<string | null>(null);
  /** What the notice offers to do instead, if anything (Save as…, for a file not opened). */
  action = $state<NoticeAction | null>(null);

  #timer: ReturnType<typeof setTimeout> | undefined;

  /** Shows `text` for a few seconds (longer when it offers `action`: time to reach it), as
   *  a notice that nobody must close by hand. */
  say(text: string, action: NoticeAction | null = null): void {
    this.text = text;
    this.action = action;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.dismiss(), action ? 12000 : 6000);
  }

  /** Shows what a failure says. */
  show(e: unknown): void {
    this.say(errorMessage(e));
  }

  /** Waits for `work`; a failure is shown, not thrown. True if it worked. */
  async run(work: Promise<unknown>): Promise<boolean> {
    try {
      await work;
      return true;
    } catch (e) {
      this.show(e);
      return false;
    }
  }

  dismiss(): void {
    this.text = null;
    this.action = null;
  }

  /** The window goes: its timer would otherwise outlive it. */
  stop(): void {
    clearTimeout(this.#timer);
  }
}
