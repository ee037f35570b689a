/**
 * The webview's own browser behaviour, kept out of a chat app's window. Right-click
 * opened WebKit's page menu (Back, Reload, Inspect Element), and Reload (from there, or
 * F5 / Ctrl+R) threw the open chat, a half-written reply and the scroll position away:
 * the page menu is suppressed, and so are the reload keys. A right-click where the menu
 * has something to offer stays native: in a text field (cut, copy, paste, spelling) and
 * on selected text (copy).
 */

/** Whether `target` edits text (the native menu's cut, copy and paste belong there). */
function editsText(target: EventTarget | null): boolean {
  if (!(target instanceof Element)) return false;
  const field = target.closest("input, textarea, [contenteditable]:not([contenteditable='false'])");
  if (!field) return false;
  if (field instanceof HTMLInputElement) {
    return !["button", "checkbox", "radio", "submit", "reset", "file", "image", "range", "color"].includes(field.type);
  }
  return true;
}

/** Whether a right-click should get the webview's native menu. */
export function wantsNativeMenu(target: EventTarget | null, selection: string): boolean {
  return editsText(target) || selection.trim() !== "";
}

/** Whether a key press asks the webview to reload the page. */
export function reloads(event: Pick<KeyboardEvent, "key" | "ctrlKey" | "metaKey" | "altKey">): boolean {
  if (event.key === "F5" || event.key === "BrowserRefresh") return true;
  return (event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "r";
}

/** Installs the guards on `win`; returns a function that removes them. */
export function guardWebview(win: Window): () => void {
  const oncontextmenu = (event: MouseEvent) => {
    if (!wantsNativeMenu(event.target, win.getSelection()?.toString() ?? "")) event.preventDefault();
  };
  const onkeydown = (event: KeyboardEvent) => {
    if (reloads(event)) event.preventDefault();
  };
  win.addEventListener("contextmenu", oncontextmenu);
  win.addEventListener("keydown", onkeydown, true);
  return () => {
    win.removeEventListener("contextmenu", oncontextmenu);
    win.removeEventListener("keydown", onkeydown, true);
  };
}
