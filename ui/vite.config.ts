/// <reference types="vitest/config" />
// Vite builds the UI into ui/dist (Tauri's frontendDist) and serves it on :5173 for
// `tauri dev`; the same file configures Vitest (jsdom, Tauri IPC mocked per test).
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { svelteTesting } from "@testing-library/svelte/vite";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [svelte(), svelteTesting()],
  // Tauri prints its own output; keep Vite's visible.
  clearScreen: false,
  server: {
    port: 5173,
    strictPort: true,
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts"],
    setupFiles: ["src/test/setup.ts"],
    // The global stylesheet is read by a test (what runs while idle); others stay empty.
    css: { include: [/app\.css/] },
  },
});
