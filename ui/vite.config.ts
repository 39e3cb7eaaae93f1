import { defineConfig } from "vitest/config";
import preact from "@preact/preset-vite";

// The desktop shell loads ui/dist from disk and forbids remote loads, so every asset is bundled
// and paths stay relative.
export default defineConfig({
  base: "./",
  plugins: [preact()],
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  build: { target: "es2022", sourcemap: false, assetsInlineLimit: 0 },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
