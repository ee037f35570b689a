import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { guardWebview, reloads, wantsNativeMenu } from "./webview";

describe("the webview's own menu and keys", () => {
  let unguard: () => void;
  beforeEach(() => {
    document.body.innerHTML = `
      <article data-testid="message"><p>hello there</p></article>
      <textarea data-testid="composer"></textarea>
      <input type="text" data-testid="search" />
      <input type="checkbox" data-testid="box" />`;
    unguard = guardWebview(window);
  });
  afterEach(() => {
    unguard();
    window.getSelection()?.removeAllRanges();
  });

  const rightClick = (el: Element) => {
    const event = new MouseEvent("contextmenu", { bubbles: true, cancelable: true });
    el.dispatchEvent(event);
    return event.defaultPrevented;
  };
  const press = (init: KeyboardEventInit) => {
    const event = new KeyboardEvent("keydown", { bubbles: true, cancelable: true, ...init });
    document.body.dispatchEvent(event);
    return event.defaultPrevented;
  };
  const q = (id: string) => document.querySelector(`[data-testid="${id}"]`)!;

  it("suppresses the page menu (Back, Reload, Inspect) on the app itself", () => {
    expect(rightClick(q("message").querySelector("p")!)).toBe(true);
    expect(rightClick(document.body)).toBe(true);
    expect(rightClick(q("box"))).toBe(true);
  });

  it("keeps the native menu in text fields and on selected text", () => {
    expect(rightClick(q("composer"))).toBe(false);
    expect(rightClick(q("search"))).toBe(false);
    const range = document.createRange();
    range.selectNodeContents(q("message"));
    window.getSelection()!.addRange(range);
    expect(rightClick(q("message"))).toBe(false);
  });

  it("ignores the reload keys, and nothing else", () => {
    expect(press({ key: "F5" })).toBe(true);
    expect(press({ key: "r", ctrlKey: true })).toBe(true);
    expect(press({ key: "R", ctrlKey: true, shiftKey: true })).toBe(true);
    expect(press({ key: "r", metaKey: true })).toBe(true);
    expect(press({ key: "r" })).toBe(false);
    expect(press({ key: "k", ctrlKey: true })).toBe(false);
  });

  it("is undone by the function it returns", () => {
    unguard();
    expect(rightClick(document.body)).toBe(false);
    expect(press({ key: "F5" })).toBe(false);
    unguard = guardWebview(window);
  });

  it("decides from the target and the selection alone", () => {
    expect(wantsNativeMenu(null, "")).toBe(false);
    expect(wantsNativeMenu(null, "some text")).toBe(true);
    expect(reloads({ key: "F5", ctrlKey: false, metaKey: false, altKey: false })).toBe(true);
  });
});
