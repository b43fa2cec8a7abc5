/**
 * The all-in-one node's HTTP face on its one port, as a pure Hono factory: `/healthz` and
 * `/metrics` (lib/common/ops.ts), the API, the edge's `/live/…`, the watch page, the
 * dashboard and the broadcast page. `node/all_in_one.ts` serves it; tests mount the same app over their own
 * origin and registry, so they exercise exactly what `deno task start` serves.
 */
import { Hono } from "hono";
import { jsonErrorHandler, jsonNotFound } from "@cascade/common/http_errors";
import type { Logger } from "@cascade/common/log";
import type { MetricsRegistry } from "@cascade/common/metrics";
import { createOpsApp } from "@cascade/common/ops";
import type { Registry } from "@cascade/registry";
import type { StreamHub } from "@cascade/stream/hub";
import { createApiApp } from "../api/src/app.ts";
import type { ApiConfig } from "../api/src/config.ts";
import { createEdgeApp } from "../edge/src/app.ts";
import type { Edge } from "../edge/src/edge.ts";
import { BROADCAST_PATH, broadcastRoutes } from "../web/broadcast_routes.ts";
import { dashboardRoutes, watchRoutes } from "../web/routes.ts";
import { hubStreamStats } from "../web/stream_stats.ts";

export interface AllInOneAppDeps {
  registry: Registry;
  edge: Edge;
  /** The in-process origin's hub, for the dashboard's per-stream bit rates. */
  hub: StreamHub;
  apiConfig: ApiConfig;
  log: Logger;
  /** Served on `/metrics`; the API counts into it too. */
  metrics: MetricsRegistry;
  /** Ends the dashboard's live feeds. */
  signal: AbortSignal;
  /** Node id `/healthz` reports (default `local`). */
  id?: string;
}

/** Builds the all-in-one node's app; see the module comment. */
export function createAllInOneApp(deps: AllInOneAppDeps): Hono {
  const { registry, edge, log, metrics } = deps;
  const app = new Hono();
  app.route(
    "/",
    createOpsApp({
      role: "all-in-one",
      id: deps.id ?? "local",
      metrics,
      status: () => edge.draining ? "draining" : "ok",
    }),
  );
  app.route("/", createApiApp({ registry, config: deps.apiConfig, log, metrics }));
  app.route("/", createEdgeApp(edge, { healthAndMetrics: false }));
  app.route("/", watchRoutes({ log }));
  app.route(BROADCAST_PATH, broadcastRoutes());
  app.route(
    "/",
    dashboardRoutes({
      registry,
      log,
      streamStats: hubStreamStats(deps.hub),
      watchBaseUrl: "",
      signal: deps.signal,
    }),
  );
  app.notFound(jsonNotFound);
  app.onError(jsonErrorHandler);
  return app;
}
