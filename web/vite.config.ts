import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";

// During `npm run dev`, API calls (relative URLs) are proxied to the Rust
// backend. Override the target with AVESA_API=http://host:port.
const apiTarget = process.env.AVESA_API ?? "http://127.0.0.1:3000";

export default defineConfig({
  plugins: [react(), tailwindcss()],
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
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
