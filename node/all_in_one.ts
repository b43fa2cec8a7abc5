/**
 * `deno task start`: every role in one process for a newcomer — origin (RTMP + HLS),
 * embedded discovery, API, edge, watch page and dashboard — on an in-memory registry, with
 * no Redis and no configuration. One HTTP port serves `/live/…` (through the edge),
 * `/api/v1/…`, `/watch/{name}` and `/`; the origin's own HTTP listener stays on loopback
 * for the edge to fetch from. A development stream key and an admin token are created on
 * first start under `CASCADE_DATA_DIR` and reused afterwards.
 */
import { join } from "node:path";
import { Hono } from "hono";
import { z } from "zod";
import { ConfigError, fields, loadConfig } from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from "@cascade/common/metrics";
import { jsonErrorHandler, jsonNotFound } from "@cascade/common/http_errors";
import { MemoryRegistry } from "@cascade/registry/memory";
import { createApiApp } from "../api/src/app.ts";
import { apiConfigSchema } from "../api/src/config.ts";
import { createApiAuthorizerFor } from "../api/src/publish.ts";
import { generateStreamKey, hashStreamKey } from "../api/src/stream_keys.ts";
import { loadOriginNodeConfig, type OriginNode, startOriginNode } from "./origin_node.ts";
import { createEdge, createEdgeApp } from "../edge/src/app.ts";
import { startEdgeHeartbeat } from "../edge/src/announce.ts";
import { dashboardRoutes, watchRoutes } from "../web/routes.ts";
import { hubStreamStats } from "../web/stream_stats.ts";

export const allInOneConfigSchema = z.object({
  HOST: z.string().default("0.0.0.0"),
  PORT: fields.port(8000),
  /** Base URL viewers reach this node at; default `http://127.0.0.1:{PORT}`. */
  PUBLIC_URL: z.string().regex(/^https?:\/\/\S+$/, "must be an http(s) URL").optional(),
  CASCADE_DATA_DIR: z.string().min(1).default("./.cascade"),
  DEV_STREAM_NAME: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/).default("dev"),
  EDGE_CACHE_MB: z.coerce.number().int().min(1).max(1 << 20).default(512),
  LOG_LEVEL: fields.logLevel,
  LOG_FORMAT: fields.logFormat,
});

interface Secrets {
  adminToken: string;
  devKey: string;
}

/** Reads the admin token and dev key from the data dir, creating them on first start (0600). */
async function loadSecrets(dir: string): Promise<Secrets & { path: string; created: boolean }> {
  const path = join(dir, "secrets.json");
  try {
    const saved = JSON.parse(await Deno.readTextFile(path)) as Partial<Secrets>;
    if (typeof saved.adminToken === "string" && typeof saved.devKey === "string") {
      return { adminToken: saved.adminToken, devKey: saved.devKey, path, created: false };
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  const secrets: Secrets = {
    adminToken: `adm_${btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "")}`,
    devKey: generateStreamKey(),
  };
  await Deno.writeTextFile(path, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600 });
  return { ...secrets, path, created: true };
}

export interface AllInOne {
  port: number;
  rtmpPort: number;
  origin: OriginNode;
  close(): Promise<void>;
}

/** Starts every role in this process; `env` defaults to the process environment. */
export async function startAllInOne(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<AllInOne> {
  const config = loadConfig(allInOneConfigSchema, env);
  configureLogging({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const secrets = await loadSecrets(config.CASCADE_DATA_DIR);
  const metrics = new MetricsRegistry();
  const registry = new MemoryRegistry({ log });

  await registry.putStreamConfig({
    name: config.DEV_STREAM_NAME,
    keyHash: await hashStreamKey(secrets.devKey),
    createdAt: Date.now(),
    disabled: false,
    record: false,
  });

  // The origin's HTTP listener is internal: the edge fetches from it on loopback.
  const originConfig = loadOriginNodeConfig({
    ...env,
    ORIGIN_HTTP_HOST: "127.0.0.1",
    ORIGIN_HTTP_PORT: env.ORIGIN_HTTP_PORT ?? "0",
    ORIGIN_PUBLIC_URL: undefined,
    NODE_ID: env.NODE_ID ?? "local-origin",
  });
  const apiConfig = loadConfig(apiConfigSchema, {
    ...env,
    REDIS_URL: undefined,
    API_ADMIN_TOKEN: secrets.adminToken,
  });
  const auth = createApiAuthorizerFor(registry, { log, metrics });
  const origin = await startOriginNode(originConfig, { registry, auth, metrics });

  const edge = createEdge({
    registry,
    metrics,
    log: log.child({ role: "edge" }),
    cacheBytes: config.EDGE_CACHE_MB * 1024 * 1024,
    corsOrigin: originConfig.origin.CORS_ORIGIN,
  });
  await edge.start();

  const stopWeb = new AbortController();
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get(
    "/metrics",
    (c) => c.body(metrics.render(), 200, { "content-type": PROMETHEUS_CONTENT_TYPE }),
  );
  app.route("/", createApiApp({ registry, config: apiConfig, log, metrics }));
  app.route("/", createEdgeApp(edge, { healthAndMetrics: false }));
  app.route("/", watchRoutes({ log }));
  app.route(
    "/",
    dashboardRoutes({
      registry,
      log,
      streamStats: hubStreamStats(origin.hub),
      watchBaseUrl: "",
      signal: stopWeb.signal,
    }),
  );
  app.notFound(jsonNotFound);
  app.onError(jsonErrorHandler);

  // Deno.serve binds before it returns; the banner below replaces its listening line.
  const server = Deno.serve({ hostname: config.HOST, port: config.PORT, onListen() {} }, app.fetch);
  const port = server.addr.port;
  const publicUrl = (config.PUBLIC_URL ?? `http://127.0.0.1:${port}`).replace(/\/+$/, "");
  const heartbeat = startEdgeHeartbeat(registry, edge, {
    id: "local-edge",
    url: publicUrl,
    region: originConfig.origin.REGION,
    startedAt: Date.now(),
  });

  const ingest = `rtmp://127.0.0.1:${origin.rtmpPort}/${originConfig.origin.RTMP_APP}`;
  const lines = [
    "",
    "Cascade is running (all-in-one, in-memory registry).",
    "",
    `  OBS:        Server     ${ingest}`,
    `              Stream Key ${secrets.devKey}`,
    `  ffmpeg:     ffmpeg -re -i input.mp4 -c:v libx264 -g 60 -c:a aac -f flv ${ingest}/${secrets.devKey}`,
    `  Watch:      ${publicUrl}/watch/${config.DEV_STREAM_NAME}`,
    `  Playlist:   ${publicUrl}/live/${config.DEV_STREAM_NAME}/index.m3u8`,
    `  Dashboard:  ${publicUrl}/`,
    `  API docs:   ${publicUrl}/api/v1/docs`,
    `  Admin token is in ${secrets.path} (${secrets.created ? "created now" : "reused"}).`,
    "",
  ];
  // The banner is for the person at the terminal; the key is theirs and goes nowhere else.
  console.log(lines.join("\n"));

  return {
    port,
    rtmpPort: origin.rtmpPort,
    origin,
    async close() {
      await origin.close();
      stopWeb.abort();
      await heartbeat.stop();
      edge.drain();
      await server.shutdown();
      await edge.close();
      await registry.close();
    },
  };
}

if (import.meta.main) {
  let node: AllInOne;
  try {
    node = await startAllInOne();
  } catch (err) {
    // Same contract as exitOnConfigError, for an async start.
    if (err instanceof ConfigError) {
      console.error(err.message);
      Deno.exit(2);
    }
    throw err;
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) Deno.exit(1);
    stopping = true;
    log.info("shutdown.start", { signal });
    const timer = setTimeout(() => {
      log.error("shutdown.deadline", { ms: 5000 });
      Deno.exit(1);
    }, 4500);
    try {
      await node.close();
    } finally {
      clearTimeout(timer);
    }
    log.info("shutdown.done");
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => void stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => void stop("SIGTERM"));
}
