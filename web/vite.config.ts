import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// `npm run dev` proxies the API to a `diffgraph serve` on the default port.
const api = "http://127.0.0.1:8188";

export default defineConfig({
  plugins: [react()],
  build: { outDir: "dist", emptyOutDir: true, chunkSizeWarningLimit: 1000 },
  server: {
    proxy: {
      "/api": api,
      "/v1": api,
      "/api/ws": { target: api, ws: true },
    },
  },
  test: { include: ["src/**/*.test.{ts,tsx}"] },
});
