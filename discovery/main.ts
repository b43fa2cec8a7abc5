/**
 * `deno task discovery`: the discovery watcher as a process of its own, beside any origin
 * that writes `MEDIA_ROOT/{name}/index.m3u8` (Cascade's or nginx-rtmp with `hls_nested on`).
 * Reads its environment once, connects to Redis, watches, and on SIGINT/SIGTERM releases
 * the streams it announced before exiting. A Redis outage is logged and outlived, never fatal.
 */
import { z } from "zod";
import { exitOnConfigError, fields, loadConfig } from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { DEFAULT_PREFIX, RedisRegistry } from "@cascade/registry/redis";
import { DiscoveryWatcher } from "./src/watcher.ts";

export const discoveryConfigSchema = z.object({
  REDIS_URL: z.string({
    error: (issue) =>
      issue.input === undefined
        ? "required: discovery runs as a lone role and needs Redis (e.g. redis://127.0.0.1:6379)"
        : "must be a string",
  }).regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL"),
  REDIS_PREFIX: z.string().default(DEFAULT_PREFIX),
  MEDIA_ROOT: z.string().min(1).default("./media"),
  ORIGIN_HTTP_PORT: fields.port(8081),
  ORIGIN_PUBLIC_URL: fields.url("http://127.0.0.1:8081"),
  NODE_ID: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "must be 1-128 of [A-Za-z0-9_.:-]")
    .optional(),
  STREAM_TTL_SECONDS: fields.positive(10),
  LOG_LEVEL: fields.logLevel,
  LOG_FORMAT: fields.logFormat,
});

export type DiscoveryConfig = z.infer<typeof discoveryConfigSchema>;

/** ARCHITECTURE.md's default node id: hostname and port, the same the origin uses. */
export function defaultNodeId(port: number): string {
  return `${Deno.hostname()}:${port}`;
}

async function main(): Promise<void> {
  const config = exitOnConfigError(() => loadConfig(discoveryConfigSchema));
  configureLogging({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const originId = config.NODE_ID ?? defaultNodeId(config.ORIGIN_HTTP_PORT);

  const registry = new RedisRegistry({ url: config.REDIS_URL, prefix: config.REDIS_PREFIX, log });
  const watcher = new DiscoveryWatcher({
    registry,
    mediaRoot: config.MEDIA_ROOT,
    originId,
    originUrl: config.ORIGIN_PUBLIC_URL,
    ttlSeconds: config.STREAM_TTL_SECONDS,
    log,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info("discovery.shutdown", { signal });
    await watcher.stop();
    await registry.close();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGINT", () => shutdown("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => shutdown("SIGTERM"));

  await watcher.start();
}

if (import.meta.main) await main();
