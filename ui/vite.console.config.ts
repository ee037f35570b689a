// Builds the admin console (console.html, src/console/) into ui/dist-console, apart from
// the desktop app's dist/: the Ferry server embeds these files and serves them under
// /admin/, hence the base. The file names are fixed (no content hashes) so the server
// can embed them by name: dist-console/console.html, assets/console.js and
// assets/console.css. Tests run from vite.config.ts, which covers src/console too.
import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vite";

export default defineConfig({
  plugins: [svelte()],
  base: "/admin/",
  clearScreen: false,
  build: {
    outDir: "dist-console",
    emptyOutDir: true,
    rolldownOptions: {
      input: "console.html",
      output: {
        entryFileNames: "assets/[name].js",
        chunkFileNames: "assets/[name].js",
        assetFileNames: "assets/[name][extname]",
      },
    },
  },
});
