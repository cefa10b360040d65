/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API (uvicorn, `azuraforge up`) listens on 8000 by default; the dev server forwards to it.
const apiTarget = process.env.AZURAFORGE_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      "/api": apiTarget,
      "/ws": { target: apiTarget, ws: true },
    },
  },
  build: { outDir: "dist", chunkSizeWarningLimit: 1000 },
  test: {
    environment: "jsdom",
    include: ["tests/**/*.test.{ts,tsx}"],
  },
});
