/**
 * `broadcastRoutes()`: the page that goes live from the browser, mounted under
 * `BROADCAST_PATH` (`/broadcast`) by origins and the all-in-one node beside the ingest
 * WebSocket `/ingest/ws` the page connects to. It holds no secret: it asks for the stream key
 * and sends it only in the ingest socket's first message.
 */
import type { Hono } from "hono";
import {
  fillTemplate,
  HTML,
  JS,
  lazily,
  memoryAsset,
  staticAsset,
  staticModule,
  staticText,
} from "./assets.ts";
import { baseApp, pageResponse, serveAsset, styleAsset } from "./pages.ts";

const encoder = new TextEncoder();

/**
 * The broadcast page takes a stream key: never framed by another site. Its socket is
 * same-origin (`'self'` covers ws: and wss: of the page's host); the preview is a
 * `srcObject`, which no media source list governs.
 */
const BROADCAST_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Where origins and the all-in-one node mount `broadcastRoutes()`. */
export const BROADCAST_PATH = "/broadcast";

async function broadcastAssets() {
  const encoderModule = await staticAsset("broadcast_encoder.js", JS);
  const script = await staticModule("broadcast.js", { "broadcast_encoder.js": encoderModule });
  const page = await memoryAsset(
    encoder.encode(fillTemplate(await staticText("broadcast.html"), {
      style: `${BROADCAST_PATH}/assets/style.css?v=${(await styleAsset()).version}`,
      script: `${BROADCAST_PATH}/assets/broadcast.js?v=${script.version}`,
      encoder: `${BROADCAST_PATH}/assets/broadcast_encoder.js?v=${encoderModule.version}`,
    })),
    HTML,
  );
  return { page, script, encoderModule };
}

/**
 * The broadcast page and its assets, to mount under `BROADCAST_PATH`: `/` is the page,
 * `/assets/…` its modules and style (so a lone origin serves everything the page loads).
 * They are built on the first request.
 */
export function broadcastRoutes(): Hono {
  const assets = lazily(broadcastAssets);
  const app = baseApp();
  app.get("/", async (c) =>
    pageResponse(c.req.raw, (await assets()).page, BROADCAST_CSP, {
      "Permissions-Policy": "camera=(self), microphone=(self)",
    }));
  serveAsset(app, "/assets/broadcast.js", async () => (await assets()).script);
  serveAsset(app, "/assets/broadcast_encoder.js", async () => (await assets()).encoderModule);
  serveAsset(app, "/assets/style.css", styleAsset);
  return app;
}
