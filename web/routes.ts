/**
 * The web pages as Hono route modules, mounted by whichever process serves them:
 *
 * - `watchRoutes()` — `/watch/{name}`, the player page edges (and the all-in-one node)
 *   serve, with `/vendor/hls.min.js` and its own assets. The page uses only root-relative
 *   URLs (`/live/{name}/ll.m3u8` when the edge serves it, else `/live/{name}/index.m3u8`),
 *   so it plays from whichever edge served it.
 * - `dashboardRoutes(deps)` — `/`, the operators' dashboard the API (and the all-in-one
 *   node) serves, with its data: `GET /api/v1/dashboard` (one snapshot) and
 *   `GET /api/v1/dashboard/events` (server-sent events, a snapshot per change).
 *
 * The broadcast page lives in `broadcast_routes.ts` and what pages share in `pages.ts`.
 *
 * Pages are plain HTML and small JavaScript modules (each page's split in two, the
 * import versioned by `staticModule`), with no build step; every file is read when a page
 * first asks for it and served from memory. They hold no secret: the dashboard asks
 * for the admin token at run time, keeps it in `sessionStorage` and sends it to the API's
 * admin routes itself.
 */
import type { Hono } from "hono";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { HttpError } from "@cascade/common/http_errors";
import { log as rootLog, type Logger } from "@cascade/common/log";
import type { Registry } from "@cascade/registry/types";
import hlsPackage from "hls.js/package.json" with { type: "json" };
import {
  type Asset,
  assetResponse,
  fillTemplate,
  hlsJsUrl,
  HTML,
  IMMUTABLE,
  JS,
  lazily,
  memoryAsset,
  readAsset,
  staticAsset,
  staticModule,
  staticText,
} from "./assets.ts";
import { DashboardFeed, type DashboardListener } from "./dashboard_feed.ts";
import { baseApp, pageResponse, SECURITY_HEADERS, serveAsset, styleAsset } from "./pages.ts";
import type { StreamStatsSource } from "./stream_stats.ts";

const encoder = new TextEncoder();

/** Null when hls.js could not be read (pages then use native HLS). */
let hlsJs: Promise<Asset | null> | undefined;

/**
 * hls.js, read and compressed when the first viewer asks for it: only the watch page plays
 * video, and a node nobody watches from need not hold it in memory.
 */
function hlsJsAsset(log: Logger): Promise<Asset | null> {
  return hlsJs ??= Promise.try(() => readAsset(hlsJsUrl(), JS)).catch((err) => {
    log.error("web.hls_js_missing", { error: err, hint: "run deno install to fetch npm packages" });
    return null;
  });
}

/** hls.js feeds media through blob: URLs (MSE) and runs its demuxer in a blob: worker. */
const WATCH_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/**
 * The dashboard sends the admin token: it must not be framed by another site. Its stream
 * thumbnails come from wherever the streams are watched (an edge's host, not only this one);
 * an image can carry nothing out that scripts, limited to this host, did not put in its URL.
 */
const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: http: https:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

function serveHlsJs(app: Hono, log: Logger): void {
  app.get("/vendor/hls.min.js", async (c) => {
    const asset = await hlsJsAsset(log);
    if (asset === null) {
      throw new HttpError(503, "unavailable", "hls.js is not installed on this server");
    }
    return assetResponse(c.req.raw, asset, IMMUTABLE);
  });
}

export interface WatchRoutesOptions {
  log?: Logger;
}

async function watchAssets() {
  const source = await staticAsset("watch_source.js", JS);
  const script = await staticModule("watch.js", { "watch_source.js": source });
  const template = await staticText("watch.html");
  const versions = {
    style: `/assets/style.css?v=${(await styleAsset()).version}`,
    script: `/assets/watch.js?v=${script.version}`,
    source: `/assets/watch_source.js?v=${source.version}`,
    hls: `/vendor/hls.min.js?v=${hlsPackage.version}`,
  };
  // A template that does not fill fails here, once, rather than page by page.
  fillTemplate(template, { ...versions, name: "check" });
  return { source, script, template, versions };
}

/**
 * `/watch/{name}`, `/vendor/hls.min.js` and the watch page's assets, built on the first
 * request.
 */
export function watchRoutes(opts: WatchRoutesOptions = {}): Hono {
  const log = opts.log ?? rootLog;
  const assets = lazily(watchAssets);
  const app = baseApp();
  app.get("/watch/:name", async (c) => {
    const name = c.req.param("name");
    if (!STREAM_NAME_RE.test(name)) {
      throw new HttpError(
        404,
        "not_found",
        `Invalid stream name: must match ${STREAM_NAME_RE.source}`,
      );
    }
    const { template, versions } = await assets();
    // About 1.5 KB, made per request: not worth compressing.
    const html = encoder.encode(fillTemplate(template, { ...versions, name }));
    const page = await memoryAsset(html, HTML, { compress: false });
    return pageResponse(c.req.raw, page, WATCH_CSP);
  });
  serveHlsJs(app, log);
  serveAsset(app, "/assets/watch.js", async () => (await assets()).script);
  serveAsset(app, "/assets/watch_source.js", async () => (await assets()).source);
  serveAsset(app, "/assets/style.css", styleAsset);
  return app;
}

export interface DashboardDeps {
  registry: Registry;
  log?: Logger;
  /** Figures of streams published to an origin in this process (see `hubStreamStats`). */
  streamStats?: StreamStatsSource;
  /** Base URL of watch links: `""` when this host serves `/watch/…`; default: an edge's URL. */
  watchBaseUrl?: string;
  /** Probe nodes' `/healthz` (default true). */
  probeNodes?: boolean;
  /** Read origins' `/metrics` for ingest bit rates (default true). */
  scrapeOriginMetrics?: boolean;
  /** Snapshot period while dashboards are open (default 2000 ms). */
  refreshMs?: number;
  /** Dashboards that may listen at once (default 200); more are answered 503. */
  maxListeners?: number;
  /** Aborting it ends every event stream, so that the server can shut down. */
  signal?: AbortSignal;
}

/** A listener that is this many messages behind is dropped (its page reconnects). */
const MAX_QUEUED_MESSAGES = 16;
const KEEP_ALIVE_MS = 15_000;
/** How long pages wait before reconnecting a dropped event stream. */
const RETRY_MS = 2000;

async function dashboardAssets() {
  const graphs = await staticAsset("dashboard_graphs.js", JS);
  const liveView = await staticModule("dashboard_live.js", { "dashboard_graphs.js": graphs });
  const script = await staticModule("dashboard.js", { "dashboard_live.js": liveView });
  const page = await memoryAsset(
    encoder.encode(fillTemplate(await staticText("dashboard.html"), {
      style: `/assets/style.css?v=${(await styleAsset()).version}`,
      script: `/assets/dashboard.js?v=${script.version}`,
      liveView: `/assets/dashboard_live.js?v=${liveView.version}`,
      graphs: `/assets/dashboard_graphs.js?v=${graphs.version}`,
    })),
    HTML,
  );
  return { graphs, liveView, script, page };
}

/**
 * `/`, its assets (built on the first request), and the dashboard data routes under
 * `/api/v1/dashboard`.
 */
export function dashboardRoutes(deps: DashboardDeps): Hono {
  const log = deps.log ?? rootLog;
  const assets = lazily(dashboardAssets);
  const maxListeners = deps.maxListeners ?? 200;
  const feed = new DashboardFeed({
    registry: deps.registry,
    log,
    streamStats: deps.streamStats,
    watchBaseUrl: deps.watchBaseUrl,
    probeNodes: deps.probeNodes,
    scrapeOriginMetrics: deps.scrapeOriginMetrics,
    refreshMs: deps.refreshMs,
  });
  if (deps.signal?.aborted) feed.close();
  deps.signal?.addEventListener("abort", () => feed.close(), { once: true });

  const app = baseApp();
  app.get("/", async (c) => pageResponse(c.req.raw, (await assets()).page, DASHBOARD_CSP));
  serveAsset(app, "/assets/dashboard.js", async () => (await assets()).script);
  serveAsset(app, "/assets/dashboard_live.js", async () => (await assets()).liveView);
  serveAsset(app, "/assets/dashboard_graphs.js", async () => (await assets()).graphs);
  serveAsset(app, "/assets/style.css", styleAsset);

  app.get("/api/v1/dashboard", async (c) => {
    return c.json(await feed.snapshot(), 200, { "Cache-Control": "no-store" });
  });

  app.get("/api/v1/dashboard/events", () => {
    if (feed.listeners >= maxListeners) {
      throw new HttpError(503, "unavailable", "Too many open dashboards, try again later", {
        headers: { "Retry-After": "10" },
      });
    }
    return eventStream(feed);
  });
  return app;
}

/**
 * A `text/event-stream` response carrying the feed's snapshots until either side ends: a
 * page that goes away cancels the body, and the feed closing (shutdown) ends it.
 */
function eventStream(feed: DashboardFeed): Response {
  let finish = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let done = false;
      let unsubscribe = () => {};
      const keepAlive = setInterval(() => send(": keep-alive\n\n"), KEEP_ALIVE_MS);
      finish = () => {
        if (done) return;
        done = true;
        unsubscribe();
        clearInterval(keepAlive);
        try {
          controller.close();
        } catch {
          // Already closed or errored by the other side.
        }
      };
      const send = (text: string) => {
        if (done) return;
        // A page that stopped reading must not make the server buffer without bound.
        if ((controller.desiredSize ?? 0) < -MAX_QUEUED_MESSAGES) return finish();
        controller.enqueue(encoder.encode(text));
      };
      const listener: DashboardListener = {
        snapshot: (s) => send(`event: snapshot\ndata: ${JSON.stringify(s)}\n\n`),
        close: finish,
      };
      send(`retry: ${RETRY_MS}\n\n`);
      unsubscribe = feed.subscribe(listener);
    },
    cancel() {
      finish();
    },
  });
  return new Response(body, {
    headers: {
      "Content-Type": "text/event-stream; charset=utf-8",
      // no-transform keeps compressing proxies from holding events back.
      "Cache-Control": "no-store, no-transform",
      "X-Accel-Buffering": "no",
      ...SECURITY_HEADERS,
    },
  });
}
