/**
 * `deno task discovery`: the discovery watcher as a process of its own, beside any origin
 * that writes `MEDIA_ROOT/{name}/index.m3u8` (Cascade's or nginx-rtmp with `hls_nested on`).
 * Reads its environment once, connects to Redis, watches, and on SIGINT/SIGTERM releases
 * the streams it announced before exiting. A Redis outage is logged and outlived, never fatal.
 */
import * as v from "valibot";
import {
  exitOnConfigError,
  fields,
  loadConfig,
  loggingShape,
  nodeId,
  nodeShape,
  redisServer,
  redisShape,
  requireRedis,
} from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { onShutdown } from "@cascade/common/shutdown";
import { RedisRegistry } from "@cascade/registry/redis";
import { DiscoveryWatcher } from "./src/watcher.ts";

export const discoveryConfigSchema = v.pipe(
  v.object({
    ...redisShape,
    MEDIA_ROOT: v.optional(v.string(), "./media"),
    ORIGIN_HTTP_PORT: fields.port(8081),
    /** Default: `http://127.0.0.1:{ORIGIN_HTTP_PORT}`, as the origin beside it announces. */
    ORIGIN_PUBLIC_URL: v.optional(fields.httpUrl()),
    NODE_ID: nodeShape.NODE_ID,
    STREAM_TTL_SECONDS: fields.positive(10),
    ...loggingShape,
  }),
  requireRedis("discovery"),
);

export type DiscoveryConfig = v.InferOutput<typeof discoveryConfigSchema>;

export async function main(): Promise<void> {
  const config = exitOnConfigError(() => loadConfig(discoveryConfigSchema));
  configureLogging({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const port = config.ORIGIN_HTTP_PORT;

  const registry = new RedisRegistry({ ...redisServer(config), prefix: config.REDIS_PREFIX, log });
  const watcher = new DiscoveryWatcher({
    registry,
    mediaRoot: config.MEDIA_ROOT,
    originId: nodeId(config.NODE_ID, port),
    originUrl: config.ORIGIN_PUBLIC_URL ?? `http://127.0.0.1:${port}`,
    ttlSeconds: config.STREAM_TTL_SECONDS,
    log,
  });

  // Cleanups run in reverse: release the announced streams, then close Redis.
  const onStop = onShutdown();
  onStop(() => registry.close());
  onStop(() => watcher.stop());

  await watcher.start();
}

if (import.meta.main) await main();
