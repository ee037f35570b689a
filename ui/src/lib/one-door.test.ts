// One path from components to the Rust side: only the store (chat.svelte.ts and its topic
// stores in chat/) imports the backend module, only the backend module imports Tauri, and
// only its `call` module calls commands.
import { describe, expect, it } from "vitest";

const sources = import.meta.glob<string>(["/src/**/*.ts", "/src/**/*.svelte", "!/src/**/*.test.ts", "!/src/test/**"], {
  query: "?raw",
  import: "default",
  eager: true,
});

function importing(pattern: RegExp): string[] {
  return Object.entries(sources)
    .filter(([, text]) => pattern.test(text))
    .map(([path]) => path)
    .sort();
}

describe("the door to the backend", () => {
  it("is the store: no component imports the backend module", () => {
    expect(Object.keys(sources).length).toBeGreaterThan(20);
    expect(importing(/from\s+["'][./]*(lib\/)?backend(\/index)?["']/)).toEqual([
      "/src/lib/chat.svelte.ts",
      "/src/lib/chat/account.svelte.ts",
      "/src/lib/chat/compose.svelte.ts",
      "/src/lib/chat/do-not-disturb.svelte.ts",
      "/src/lib/chat/files.svelte.ts",
      "/src/lib/chat/history.svelte.ts",
      "/src/lib/chat/list.svelte.ts",
      "/src/lib/chat/notice.svelte.ts",
      "/src/lib/chat/pictures.svelte.ts",
      "/src/lib/chat/safety.svelte.ts",
      "/src/lib/chat/session.svelte.ts",
      "/src/lib/chat/settings.svelte.ts",
      "/src/lib/chat/thread.svelte.ts",
      "/src/lib/chat/updates.svelte.ts",
    ]);
  });

  it("and only the backend module (and the preview's mocks) import Tauri", () => {
    const tauri = importing(/from\s+["']@tauri-apps\//);
    expect(tauri.filter((path) => !path.startsWith("/src/lib/backend/"))).toEqual(["/src/preview/main.ts"]);
    // Commands go through `call`, the one module that imports `invoke`.
    expect(importing(/import\s*\{[^}]*\binvoke\b[^}]*\}\s*from\s+["']@tauri-apps\//)).toEqual([
      "/src/lib/backend/call.ts",
    ]);
  });

  it("whose topic modules are reached only through its index", () => {
    const direct = importing(/from\s+["'][./]*(lib\/)?backend\/(?!index["'])[\w-]+["']/);
    expect(direct).toEqual([]);
  });
});
