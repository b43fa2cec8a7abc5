/**
 * `deno task edge`: one edge as a process of its own. Reads its environment once (a lone
 * edge needs `REDIS_URL` or `REDIS_SENTINELS`; without them the process exits 2 with one line), connects to Redis,
 * serves viewers on `EDGE_PORT` and announces itself as `node:edge:{id}`. On SIGINT/SIGTERM
 * it reports unhealthy, stops accepting, lets the responses in progress finish, and only
 * then withdraws its node record and closes its connections.
 */
import { exitOnConfigError, loadConfig, nodeId, redisServer } from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { MetricsRegistry } from "@cascade/common/metrics";
import { onShutdown } from "@cascade/common/shutdown";
import { RedisRegistry } from "@cascade/registry/redis";
import { createEdge, createEdgeApp, type EdgeAppOptions } from "./src/app.ts";
import { startEdgeHeartbeat } from "./src/announce.ts";
import { edgeProcessConfigSchema, edgePublicUrl } from "./src/config.ts";
import { serveEdgeNode } from "./src/node_server.ts";
import { httpLimits } from "@cascade/common/http_server";
import type { Edge } from "./src/edge.ts";
import { Hono } from "hono";
import { watchRoutes } from "@cascade/web";

/** Time responses in progress get to finish on shutdown. */
const DRAIN_MS = 10_000;

/** The edge's routes plus the watch page (`/watch/{name}`, `/vendor/hls.min.js`). */
function edgeApp(edge: Edge, opts: EdgeAppOptions): Hono {
  const app = new Hono();
  app.route("/", watchRoutes({ log }));
  app.route("/", createEdgeApp(edge, opts));
  return app;
}

export async function main(): Promise<void> {
  const config = exitOnConfigError(() => loadConfig(edgeProcessConfigSchema));
  configureLogging({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const logger = log.child({ role: "edge" });
  const shutdown = onShutdown(DRAIN_MS + 5000);

  const registry = new RedisRegistry({
    ...redisServer(config),
    prefix: config.REDIS_PREFIX,
    log: logger,
  });
  shutdown(() => registry.close());
  const edge = createEdge({
    registry,
    metrics: new MetricsRegistry(),
    log: logger,
    cacheBytes: config.EDGE_CACHE_MB * 1024 * 1024,
    signingKey: config.PLAYBACK_SIGNING_KEY,
    corsOrigin: config.CORS_ORIGIN,
    connectTimeoutMs: config.EDGE_CONNECT_TIMEOUT_MS,
    playlistTimeoutMs: config.EDGE_PLAYLIST_TIMEOUT_MS,
    playlistFreshMs: config.EDGE_PLAYLIST_FRESH_MS,
    segmentTimeoutMs: config.EDGE_SEGMENT_TIMEOUT_MS,
    holdMarginMs: config.EDGE_HOLD_MARGIN_MS,
  });
  shutdown(() => edge.close());
  await edge.start();

  // The default id holds the bound port, known once the server listens.
  let id = nodeId(config.NODE_ID, config.EDGE_PORT);
  const idNow = () => id;
  const server = await serveEdgeNode({
    edge,
    hostname: config.EDGE_HOST,
    port: config.EDGE_PORT,
    log: logger,
    id: idNow,
    limits: httpLimits(config, 0.8),
    fallback: edgeApp(edge, { healthAndMetrics: false }).fetch,
  });
  id = nodeId(config.NODE_ID, server.port);
  const url = edgePublicUrl(config, server.port);
  const heartbeat = startEdgeHeartbeat(registry, edge, {
    id,
    url,
    region: config.REGION,
    startedAt: Date.now(),
  });
  shutdown(() => heartbeat.stop());
  shutdown(async () => {
    logger.info("edge.draining", { inFlight: server.inFlight });
    await server.close(DRAIN_MS);
    logger.info("edge.drained");
  });
  logger.info("edge.listening", {
    id,
    url,
    listen: `http://${server.hostname}:${server.port}`,
    region: config.REGION,
    cacheMb: config.EDGE_CACHE_MB,
    signedPlayback: config.PLAYBACK_SIGNING_KEY !== undefined,
  });
}

if (import.meta.main) await main();
