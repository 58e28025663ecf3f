import { defineConfig } from "vite";

// `npm run dev` serves the app with hot reload on :5173 and sends the API, media and the
// notification WebSocket to a Flick on :8000 (`./run demo`). `npm run build` writes dist/,
// which Flick itself serves (src/flick/gateway/webapp.py).
declare const process: { env: Record<string, string | undefined> }; // no @types/node
const FLICK = process.env.FLICK_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  build: {
    outDir: "dist",
    assetsDir: "assets", // hashed names: the server caches /assets/ for a year
    sourcemap: true,
    target: "es2022",
  },
  server: {
    proxy: {
      "/api": { target: FLICK, ws: true },
      "/media": FLICK,
    },
  },
});
