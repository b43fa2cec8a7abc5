/**
 * What every web page shares: the stylesheet, the security headers, how a page and an asset are
 * answered, and the Hono app pages are mounted from. `routes.ts` (watch page, dashboard) and
 * `broadcast_routes.ts` (the origin's broadcast page) build on it, so an origin loads neither
 * the dashboard nor hls.js.
 */
import { Hono } from "hono";
import { jsonErrorHandler, jsonNotFound } from "@cascade/common/http_errors";
import {
  type Asset,
  assetResponse,
  CSS,
  IMMUTABLE,
  lazily,
  REVALIDATE,
  staticAsset,
} from "./assets.ts";

/** The stylesheet every page loads, built when a page first asks for it. */
export const styleAsset: () => Promise<Asset> = lazily(() => staticAsset("style.css", CSS));

export const SECURITY_HEADERS = {
  "Referrer-Policy": "no-referrer",
  "X-Content-Type-Options": "nosniff",
};

export function pageResponse(
  req: Request,
  page: Asset,
  csp: string,
  headers: Record<string, string> = {},
): Response {
  return assetResponse(req, page, REVALIDATE, {
    ...SECURITY_HEADERS,
    "Content-Security-Policy": csp,
    ...headers,
  });
}

export function baseApp(): Hono {
  const app = new Hono();
  app.onError(jsonErrorHandler);
  app.notFound(jsonNotFound);
  return app;
}

/** `GET path`: the asset `asset()` builds (on the first request), immutable under its URL. */
export function serveAsset(app: Hono, path: string, asset: () => Promise<Asset>): void {
  app.get(path, async (c) => assetResponse(c.req.raw, await asset(), IMMUTABLE));
}
