// For tests that render the whole window: the screens it loads on demand (`import()`:
// Settings, the dialogs, the thread) are loaded when the test file starts, so that a test
// waits for what it does, not for Vite to compile a screen the first time it opens.
await Promise.all(Object.values(import.meta.glob("../lib/components/*.svelte")).map((load) => load()));

export {};
