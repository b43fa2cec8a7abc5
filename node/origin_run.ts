/**
 * `deno task origin`: the origin role alone. Reads its environment once (exit 2 with one
 * line on a bad or missing variable; a lone role needs `REDIS_URL` or `REDIS_SENTINELS`), listens for RTMP and
 * HTTP, announces itself and its streams in Redis, and on SIGINT/SIGTERM tells publishers,
 * ends playlists with `#EXT-X-ENDLIST` and exits.
 */
import * as v from "valibot";
import {
  exitOnConfigError,
  loadConfig,
  redisServer,
  redisShape,
  requireRedis,
} from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { onShutdown } from "@cascade/common/shutdown";
import { RedisRegistry } from "@cascade/registry";
import { loadOriginNodeConfig, startOriginNode } from "./origin_node.ts";

/** Checked before the rest: a lone origin announces itself in Redis. */
const loneOriginSchema = v.pipe(v.object(redisShape), requireRedis("the origin"));

export async function main(): Promise<void> {
  const { config, redis } = exitOnConfigError(() => ({
    redis: redisServer(loadConfig(loneOriginSchema)),
    config: loadOriginNodeConfig(),
  }));
  const { LOG_LEVEL, LOG_FORMAT, REDIS_PREFIX } = config.origin;
  configureLogging({ level: LOG_LEVEL, format: LOG_FORMAT });
  const registry = new RedisRegistry({ ...redis, prefix: REDIS_PREFIX, log });
  const origin = await startOriginNode(config, { registry });
  const onStop = onShutdown();
  onStop(() => registry.close());
  onStop(() => origin.close());
}

if (import.meta.main) await main();
