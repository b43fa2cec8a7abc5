/**
 * `deno task start`: every role in one process for a newcomer — origin (RTMP + HLS),
 * API, edge, watch page and dashboard — on an in-memory registry, with
 * no Redis and no configuration. One HTTP port serves `/live/…` (through the edge),
 * `/api/v1/…`, `/watch/{name}` and `/` (`createAllInOneApp`), and takes browser publishers
 * on `/ingest/ws` for the origin; the origin's own HTTP
 * listener stays on loopback for the edge to fetch from. A development stream key and an
 * admin token are created on first start under `CASCADE_DATA_DIR` and reused afterwards;
 * `API_ADMIN_TOKEN`, `HOOK_TOKEN`, `PUBLISH_KEYS` and `PLAYBACK_SIGNING_KEY` from the
 * environment are honoured as by the lone roles.
 */
import { httpLimits } from "@cascade/common/http_server";
import { join } from "node:path";
import * as v from "valibot";
import {
  ConfigError,
  fields,
  loadConfig,
  loggingShape,
  STREAM_NAME_RE,
} from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { MetricsRegistry } from "@cascade/common/metrics";
import type { PublishAuthorizer } from "@cascade/common/publish_auth";
import { onShutdown } from "@cascade/common/shutdown";
import { MemoryRegistry } from "@cascade/registry/memory";
import { apiConfigSchema } from "../api/src/config.ts";
import { createApiAuthorizerFor } from "../api/src/publish.ts";
import { generateStreamKey, hashStreamKey } from "../api/src/stream_keys.ts";
import { createEdge } from "../edge/src/app.ts";
import { startEdgeHeartbeat } from "../edge/src/announce.ts";
import { serveEdgeNode } from "../edge/src/node_server.ts";
import { edgeConfigSchema } from "../edge/src/config.ts";
import { parsePublishKeys, StaticAuthorizer } from "../origin/src/auth.ts";
import { createAllInOneApp } from "./all_in_one_app.ts";
import { loadOriginNodeConfig, type OriginNode, startOriginNode } from "./origin_node.ts";

export const allInOneConfigSchema = v.object({
  HOST: v.optional(v.string(), "0.0.0.0"),
  PORT: fields.port(8000),
  /** Base URL viewers reach this node at; default `http://127.0.0.1:{PORT}`. */
  PUBLIC_URL: v.optional(fields.httpUrl()),
  CASCADE_DATA_DIR: v.optional(v.string(), "./.cascade"),
  DEV_STREAM_NAME: v.optional(v.pipe(v.string(), v.regex(STREAM_NAME_RE)), "dev"),
  ...loggingShape,
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

/** `PUBLISH_KEYS` first, when set, then the streams the API manages (the dev stream among them). */
function publishAuthorizer(keys: string, api: PublishAuthorizer): PublishAuthorizer {
  if (keys === "") return api;
  const configured = new StaticAuthorizer(parsePublishKeys(keys));
  return {
    mode: api.mode,
    async authorize(req) {
      const decision = await configured.authorize(req);
      return decision.ok ? decision : await api.authorize(req);
    },
  };
}

/** Starts every role in this process; `env` defaults to the process environment. */
export async function startAllInOne(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<AllInOne> {
  // Every variable is checked before anything is written or started.
  const config = loadConfig(allInOneConfigSchema, env);
  // The origin's HTTP listener is internal: the edge fetches from it on loopback.
  const originConfig = loadOriginNodeConfig({
    ...env,
    ORIGIN_HTTP_HOST: "127.0.0.1",
    ORIGIN_HTTP_PORT: env.ORIGIN_HTTP_PORT ?? "0",
    ORIGIN_PUBLIC_URL: undefined,
    NODE_ID: env.NODE_ID ?? "local-origin",
  });
  // The registry is embedded: Redis settings meant for other programs do not apply here.
  const noRedis = { REDIS_URL: undefined, REDIS_SENTINELS: undefined };
  const envApiConfig = loadConfig(apiConfigSchema, { ...env, ...noRedis });
  const edgeConfig = loadConfig(edgeConfigSchema, { ...env, ...noRedis });
  configureLogging({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });

  const secrets = await loadSecrets(config.CASCADE_DATA_DIR);
  const apiConfig = {
    ...envApiConfig,
    API_ADMIN_TOKEN: envApiConfig.API_ADMIN_TOKEN ?? secrets.adminToken,
  };
  const metrics = new MetricsRegistry();
  const registry = new MemoryRegistry({ log });
  await registry.putStreamConfig({
    name: config.DEV_STREAM_NAME,
    keyHash: await hashStreamKey(secrets.devKey),
    createdAt: Date.now(),
    disabled: false,
    record: false,
  });

  const auth = publishAuthorizer(
    originConfig.origin.PUBLISH_KEYS,
    createApiAuthorizerFor(registry, { log, metrics }),
  );
  // Shares of the descriptor budget: publishers, the internal origin listener, viewers.
  const origin = await startOriginNode(originConfig, {
    registry,
    auth,
    metrics,
    rtmpShare: 0.2,
    httpShare: 0.1,
  });

  const edge = createEdge({
    registry,
    metrics,
    log: log.child({ role: "edge" }),
    cacheBytes: edgeConfig.EDGE_CACHE_MB * 1024 * 1024,
    signingKey: edgeConfig.PLAYBACK_SIGNING_KEY,
    corsOrigin: edgeConfig.CORS_ORIGIN,
    connectTimeoutMs: edgeConfig.EDGE_CONNECT_TIMEOUT_MS,
    playlistTimeoutMs: edgeConfig.EDGE_PLAYLIST_TIMEOUT_MS,
    playlistFreshMs: edgeConfig.EDGE_PLAYLIST_FRESH_MS,
    segmentTimeoutMs: edgeConfig.EDGE_SEGMENT_TIMEOUT_MS,
    holdMarginMs: edgeConfig.EDGE_HOLD_MARGIN_MS,
  });
  await edge.start();

  const stopWeb = new AbortController();
  const app = createAllInOneApp({
    registry,
    edge,
    hub: origin.hub,
    apiConfig,
    log,
    metrics,
    signal: stopWeb.signal,
    id: env.NODE_ID || "local",
  });

  // `/live/` goes straight to the edge (its replies are written without a copy); the API,
  // pages and ops endpoints go through the all-in-one app.
  const server = await serveEdgeNode({
    edge,
    hostname: config.HOST,
    port: config.PORT,
    limits: httpLimits(originConfig.origin, 0.6),
    healthAndMetrics: false,
    fallback: app.fetch,
    // Browsers publish on the public port: the origin's own listener is loopback-only.
    upgrade: origin.upgrade,
    log,
  });
  const port = server.port;
  const publicUrl = config.PUBLIC_URL ?? `http://127.0.0.1:${port}`;
  const heartbeat = startEdgeHeartbeat(registry, edge, {
    id: "local-edge",
    url: publicUrl,
    region: originConfig.origin.REGION,
    startedAt: Date.now(),
  });

  const ingest = `rtmp://127.0.0.1:${origin.rtmpPort}/${originConfig.origin.RTMP_APP}`;
  const adminToken = envApiConfig.API_ADMIN_TOKEN === undefined
    ? `Admin token is in ${secrets.path} (${secrets.created ? "created now" : "reused"}).`
    : "Admin token is from API_ADMIN_TOKEN.";
  const lines = [
    "",
    "Cascade is running (all-in-one, in-memory registry).",
    "",
    `  OBS:        Server     ${ingest}`,
    `              Stream Key ${secrets.devKey}`,
    `  ffmpeg:     ffmpeg -re -i input.mp4 -c:v libx264 -g 60 -c:a aac -f flv ${ingest}/${secrets.devKey}`,
    `  Browser:    ${publicUrl}/broadcast (the same stream key)`,
    `  Watch:      ${publicUrl}/watch/${config.DEV_STREAM_NAME}`,
    `  Playlist:   ${publicUrl}/live/${config.DEV_STREAM_NAME}/index.m3u8`,
    `  Dashboard:  ${publicUrl}/`,
    `  API docs:   ${publicUrl}/api/v1/docs`,
    `  ${adminToken}`,
    ...(apiConfig.PLAYBACK_SIGNING_KEY === undefined ? [] : [
      "  Playback is signed: viewers need a link with a token, from",
      `  GET ${publicUrl}/api/v1/streams/${config.DEV_STREAM_NAME}/playback with the admin token or PLAYBACK_API_TOKEN,`,
      "  or a watch link opened from the unlocked dashboard.",
    ]),
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
      await server.close();
      await edge.close();
      await registry.close();
    },
  };
}

/** `deno task start` (through `node/main.ts`): the node until SIGINT/SIGTERM. */
export async function main(): Promise<void> {
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
  onShutdown(4500)(() => node.close());
}

if (import.meta.main) await main();
