// Vitest setup: DOM matchers; after every test, unmount what was rendered (while the
// Tauri IPC mock still answers its unlisten calls), then clear the mock and put back
// real timers for tests that faked them.
import "@testing-library/jest-dom/vitest";
import { cleanup } from "@testing-library/svelte";
import { clearMocks } from "@tauri-apps/api/mocks";
import { afterEach, vi } from "vitest";

afterEach(() => {
  cleanup();
  clearMocks();
  vi.useRealTimers();
});
