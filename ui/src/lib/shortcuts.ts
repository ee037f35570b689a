/**
 * The keyboard map: every shortcut the window takes, grouped by where it works, as the
 * Settings' "Keyboard shortcuts" section lists them (Ctrl+/ or Cmd+/ opens it from
 * anywhere); and the few tests of a key event that more than one component makes.
 * A component that takes a key is where it is handled; this list is what a person reads,
 * so a new key goes in both.
 *
 * Keys are named as they are printed on the keyboard of the window's language (Strg,
 * Entf in German), and Ctrl is Cmd on macOS.
 */
import { m } from "./paraglide/messages.js";

/** One shortcut: its key combinations (any one of them does it) and what it does. */
export interface Shortcut {
  /** Each combination is the keys pressed together, as printed on the keys. */
  keys: string[][];
  what: string;
}

export interface ShortcutGroup {
  id: "everywhere" | "list" | "writing" | "messages" | "picker";
  title: string;
  shortcuts: Shortcut[];
}

/** Whether this is a Mac, where Cmd does what Ctrl does elsewhere. */
export function isMac(): boolean {
  if (typeof navigator === "undefined") return false;
  return /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);
}

/** The modifier of the app's commands, as printed on the key. */
function command(): string {
  return isMac() ? "⌘" : m.key_ctrl();
}

/**
 * Whether `event` is Ctrl (or Cmd) with `key`, and no Alt. `code` is the key's place on
 * a US layout, for layouts where the character needs Shift (German "/" is Shift+7).
 */
export function isCommand(event: KeyboardEvent, key: string, code?: string): boolean {
  if (!(event.ctrlKey || event.metaKey) || event.altKey) return false;
  return event.key.toLowerCase() === key || (code !== undefined && event.code === code);
}

/** Ctrl/Cmd+/: the keyboard shortcuts. */
export function isShortcutsKey(event: KeyboardEvent): boolean {
  return isCommand(event, "/", "Slash");
}

/** Ctrl/Cmd+, (the usual key for an app's settings). */
export function isSettingsKey(event: KeyboardEvent): boolean {
  return isCommand(event, ",", "Comma");
}

/** The keys a focused message takes, as `KeyboardEvent.key` gives them (letters lowercased). */
export const MESSAGE_KEYS = {
  reply: "r",
  react: ["e", "+"],
  edit: "F2",
  delete: ["Delete", "Backspace"],
} as const;

/** Everything, in the window's language. */
export function shortcutGroups(): ShortcutGroup[] {
  const mod = command();
  const enter = m.key_enter();
  const esc = m.key_escape();
  const up = "↑";
  const down = "↓";
  return [
    {
      id: "everywhere",
      title: m.shortcuts_everywhere(),
      shortcuts: [
        { keys: [[mod, "K"]], what: m.shortcut_quick_switcher() },
        { keys: [[mod, "/"]], what: m.shortcut_shortcuts() },
        { keys: [[mod, ","]], what: m.shortcut_settings() },
        { keys: [[esc]], what: m.shortcut_close() },
        { keys: [["Tab"], [m.key_shift(), "Tab"]], what: m.shortcut_tab() },
      ],
    },
    {
      id: "list",
      title: m.shortcuts_list(),
      shortcuts: [
        { keys: [[up], [down]], what: m.shortcut_list_move() },
        { keys: [[m.key_home()], [m.key_end()]], what: m.shortcut_list_ends() },
        { keys: [[enter]], what: m.shortcut_list_open() },
        { keys: [[esc]], what: m.shortcut_search_clear() },
      ],
    },
    {
      id: "writing",
      title: m.shortcuts_writing(),
      shortcuts: [
        { keys: [[enter]], what: m.shortcut_send() },
        { keys: [[m.key_shift(), enter]], what: m.shortcut_new_line() },
        { keys: [[up]], what: m.shortcut_edit_last() },
        { keys: [[esc]], what: m.shortcut_cancel_reply() },
        { keys: [[m.key_shift(), "Tab"]], what: m.shortcut_to_messages() },
      ],
    },
    {
      id: "messages",
      title: m.shortcuts_messages(),
      shortcuts: [
        { keys: [[up], [down]], what: m.shortcut_message_move() },
        { keys: [[m.key_home()], [m.key_end()]], what: m.shortcut_message_ends() },
        { keys: [["R"]], what: m.shortcut_reply() },
        { keys: [["E"], ["+"]], what: m.shortcut_react() },
        { keys: [["F2"]], what: m.shortcut_edit() },
        { keys: [[m.key_delete()]], what: m.shortcut_delete() },
        { keys: [[esc]], what: m.shortcut_back_to_writing() },
      ],
    },
    {
      id: "picker",
      title: m.shortcuts_picker(),
      shortcuts: [
        { keys: [["←"], ["→"], [up], [down]], what: m.shortcut_picker_move() },
        { keys: [[enter]], what: m.shortcut_picker_pick() },
        { keys: [[esc]], what: m.shortcut_picker_close() },
      ],
    },
  ];
}
