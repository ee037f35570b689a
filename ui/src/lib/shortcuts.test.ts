// The keyboard map: which events are the window's own commands (Ctrl on Linux and
// Windows, Cmd on macOS, a US layout's key place for layouts that need Shift), and that
// the list a person reads has the keys a message takes.
import { afterEach, describe, expect, it, vi } from "vitest";
import { isSettingsKey, isShortcutsKey, MESSAGE_KEYS, shortcutGroups } from "./shortcuts";

const key = (init: KeyboardEventInit) => new KeyboardEvent("keydown", init);

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("the keyboard shortcuts", () => {
  it("are opened with Ctrl+/ or Cmd+/, also where / needs Shift, but not with Alt or alone", () => {
    expect(isShortcutsKey(key({ key: "/", ctrlKey: true }))).toBe(true);
    expect(isShortcutsKey(key({ key: "/", metaKey: true }))).toBe(true);
    // German layout: Shift+7 is "/"; the key's place on a US layout is "Slash" (there "-").
    expect(isShortcutsKey(key({ key: "/", code: "Digit7", ctrlKey: true, shiftKey: true }))).toBe(true);
    expect(isShortcutsKey(key({ key: "-", code: "Slash", ctrlKey: true }))).toBe(true);
    expect(isShortcutsKey(key({ key: "/" }))).toBe(false);
    expect(isShortcutsKey(key({ key: "/", ctrlKey: true, altKey: true }))).toBe(false);
    expect(isShortcutsKey(key({ key: "k", ctrlKey: true }))).toBe(false);
  });

  it("and Settings with Ctrl+, or Cmd+,", () => {
    expect(isSettingsKey(key({ key: ",", ctrlKey: true }))).toBe(true);
    expect(isSettingsKey(key({ key: ",", metaKey: true }))).toBe(true);
    expect(isSettingsKey(key({ key: "," }))).toBe(false);
  });

  it("list the keys a focused message takes", () => {
    const messages = shortcutGroups().find((g) => g.id === "messages")!;
    const listed = messages.shortcuts.flatMap((s) => s.keys.flat());
    expect(listed).toEqual(expect.arrayContaining(["R", "E", "+", "F2", "Delete", "Esc", "↑", "↓", "Home", "End"]));
    expect(MESSAGE_KEYS).toEqual({ reply: "r", react: ["e", "+"], edit: "F2", delete: ["Delete", "Backspace"] });
  });

  it("name Cmd as ⌘ on a Mac and Ctrl elsewhere", () => {
    const command = () => shortcutGroups()[0]!.shortcuts[0]!.keys[0]![0];
    vi.stubGlobal("navigator", { ...navigator, platform: "Linux x86_64", userAgent: "X11" });
    expect(command()).toBe("Ctrl");
    vi.stubGlobal("navigator", { ...navigator, platform: "MacIntel", userAgent: "Macintosh" });
    expect(command()).toBe("⌘");
  });
});
