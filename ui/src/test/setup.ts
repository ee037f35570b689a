// Vitest setup: DOM matchers; the window speaks English (the tests find things by their
// English words), whatever the machine's language; after every test, unmount what was
// rendered (while the Tauri IPC mock still answers its unlisten calls), then clear the
// mock, put back real timers for tests that faked them and English for those that
// switched language.
import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, beforeEach, vi } from "vitest";
import { setLanguage } from "../lib/i18n.svelte";

beforeEach(() => setLanguage("en"));

afterEach(() => {
  cleanup();
  clearMocks();
  vi.useRealTimers();
});
