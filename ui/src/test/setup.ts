// Vitest setup: DOM matchers; the window speaks English (the tests find things by their
// English words), whatever the machine's language; every test starts at the same time
// of day (`START`); after every test, unmount what was rendered (while the Tauri IPC
// mock still answers its unlisten calls), then clear the mock, put back the real clock
// and real timers for tests that faked them, and English for those that switched
// language.
import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, vi } from "vitest";
import { setLanguage } from "../lib/i18n.svelte";

/**
 * Noon, local time, on Thursday 26 November 2026. The fixtures' times are minutes before
 * now (`ago`), so what a thread or the list shows depended on when the suite ran: a CI
 * run just after midnight once failed (a real bug, now tested with times of its own in
 * days.test.ts and App.test.ts). A test must not depend on when CI runs it, so the clock
 * starts here, far from midnight. Only `Date` is faked, and it moves on with real time:
 * waitFor, user-event and the app's timers keep their real timers, and a test that fakes
 * timers or sets the time itself starts from here or from its own time. Code run as a
 * file is collected sees the real clock, so fixtures whose times matter are made in a
 * test or a hook.
 */
const START = new Date(2026, 10, 26, 12, 0);

beforeEach(() => {
  setLanguage("en");
  vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
  vi.setSystemTime(START);
});

afterEach(() => {
  cleanup();
  clearMocks();
  vi.useRealTimers();
});
