// Idle means idle: once nothing happens, the window has nothing scheduled that would wake
// the web process (no timer, no animation frame, no looping animation). Timers exist
// only while something is under way (a debounce, a moment of "Back online", a notice),
// and end with it.
import { fireEvent, render, screen, within } from "@testing-library/svelte";
import { describe, expect, it, vi } from "vitest";
import App from "./App.svelte";
import appCss from "./app.css?raw";
import { BACK_ONLINE_MS } from "./lib/connection";
import { ago, connectionEvent, coreEmits, direct, ME, message, mockCore, user } from "./test/fixtures";
import "./test/screens";

const sources = import.meta.glob<string>(
  ["/src/**/*.ts", "/src/**/*.svelte", "!/src/**/*.test.ts", "!/src/test/**", "!/src/preview/**"],
  { query: "?raw", import: "default", eager: true },
);

function containing(pattern: RegExp): string[] {
  return Object.entries(sources)
    .filter(([, text]) => pattern.test(text))
    .map(([path]) => path)
    .sort();
}

describe("what could wake the window while nothing happens", () => {
  it("is none of: an interval, a looping animation, a keyframe animation", () => {
    expect(Object.keys(sources).length).toBeGreaterThan(20);
    expect(containing(/setInterval\s*\(/)).toEqual([]);
    expect(containing(/\binfinite\b/)).toEqual([]);
    expect(containing(/@keyframes/)).toEqual([]);
  });

  it("has animation frames only for the one-shot first-paint mark", () => {
    expect(containing(/requestAnimationFrame\s*\(/)).toEqual(["/src/App.svelte"]);
  });

  it("turns transitions off for those who ask for reduced motion", () => {
    expect(appCss).not.toMatch(/@keyframes|\binfinite\b/);
    expect(appCss).toMatch(
      /@media \(prefers-reduced-motion: reduce\)\s*\{[^}]*\{[^}]*transition: none !important;/,
    );
  });
});

describe("the settled window", () => {
  const ada = user("Ada Lovelace");

  it("leaves no timer or frame pending, once each thing under way is over", async () => {
    vi.useFakeTimers({
      toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "requestAnimationFrame", "cancelAnimationFrame"],
    });
    const withAda = direct(ada, { last_seq: 1 });
    const first = message({ conversation_id: withAda.id, seq: 1, body: "hi", mine: false, sender_id: ada.id });
    mockCore({
      session: () => ({ user: ME, connection: { state: "online" } }),
      conversations: () => [withAda],
      conversation: () => withAda,
      messages: () => [first],
      set_notifications: () => {
        throw { kind: "offline", message: "the server cannot be reached" };
      },
    });
    /** Lets the mocked core answer and the frames run. */
    const settle = () => vi.advanceTimersByTimeAsync(50);

    render(App);
    await settle();
    await fireEvent.click(screen.getByTestId("conversation-item"));
    await settle();
    expect(within(screen.getByTestId("thread")).getByText("hi")).toBeInTheDocument();
    expect(vi.getTimerCount()).toBe(0);

    // Someone types, and stops: no timer (the core says when typing ends).
    await coreEmits({ type: "typing", conversation_id: withAda.id, typing: [ada.id] });
    await coreEmits({ type: "typing", conversation_id: withAda.id, typing: [] });
    await coreEmits({ type: "message", message: { ...first, id: "m2", seq: 2, body: "again", created_at: ago(0) } });
    await settle();
    expect(vi.getTimerCount()).toBe(0);

    // "Back online" shows for a moment, then nothing is left running.
    await connectionEvent({ state: "offline", retry_at: null, reason: null });
    await connectionEvent({ state: "online" });
    await settle();
    expect(screen.getByTestId("offline-banner")).toHaveAttribute("data-state", "back-online");
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(BACK_ONLINE_MS);
    expect(screen.queryByTestId("offline-banner")).toBeNull();
    expect(vi.getTimerCount()).toBe(0);

    // A failure notice goes away by itself, and so does its timer.
    await fireEvent.click(screen.getByTestId("notify-level"));
    await settle();
    await fireEvent.click(within(screen.getByRole("menu")).getByRole("menuitemradio", { name: "Nothing" }));
    await settle();
    expect(screen.getByTestId("notice")).toHaveTextContent("the server cannot be reached");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(screen.queryByTestId("notice")).toBeNull();
    expect(vi.getTimerCount()).toBe(0);

    // A draft is saved after a pause in typing, then nothing is scheduled.
    await fireEvent.input(screen.getByTestId("composer"), { target: { value: "later" } });
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("leaves nothing behind when it closes, even with a notice up", async () => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "requestAnimationFrame", "cancelAnimationFrame"] });
    mockCore({
      session: () => ({ user: ME, connection: { state: "online" } }),
      conversations: () => {
        throw { kind: "local_storage", message: "database is locked" };
      },
    });
    const { unmount } = render(App);
    await vi.advanceTimersByTimeAsync(50);
    expect(screen.getByTestId("notice")).toHaveTextContent("database is locked");
    expect(vi.getTimerCount()).toBe(1);
    unmount();
    expect(vi.getTimerCount()).toBe(0);
  });
});
