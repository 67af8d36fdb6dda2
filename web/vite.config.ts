import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Plugin } from "vite";

// The server's interactive API docs (/api/docs) are Swagger UI from the npm package
// swagger-ui-dist: its bundle and stylesheet go to dist/api-docs/ beside the page in
// public/api-docs/, and are embedded in the binary with the rest of the UI.
function swaggerUi(): Plugin {
  return {
    name: "avesa-swagger-ui",
    apply: "build",
    closeBundle() {
      const require = createRequire(import.meta.url);
      const from = dirname(require.resolve("swagger-ui-dist/package.json"));
      const to = join(__dirname, "dist", "api-docs");
      mkdirSync(to, { recursive: true });
      for (const f of ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE", "NOTICE"]) {
        copyFileSync(join(from, f), join(to, f));
      }
    },
  };
}

// During `npm run dev`, API calls (relative URLs) are proxied to the Rust
// backend. Override the target with AVESA_API=http://host:port.
const apiTarget = process.env.AVESA_API ?? "http://127.0.0.1:3000";

export default defineConfig({
  plugins: [react(), tailwindcss(), swaggerUi()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: {
      "/api": apiTarget,
      "/auth": apiTarget,
      "/health": apiTarget,
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
