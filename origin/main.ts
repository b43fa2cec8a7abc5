/**
 * `deno task origin`: the origin role alone. Reads its environment once (exit 2 with one
 * line on a bad or missing variable; a lone role needs `REDIS_URL`), listens for RTMP and
 * HTTP, announces itself and its streams in Redis, and on SIGINT/SIGTERM tells publishers,
 * ends playlists with `#EXT-X-ENDLIST` and exits.
 */
import { ConfigError, exitOnConfigError } from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { onShutdown } from "@cascade/common/shutdown";
import { RedisRegistry } from "@cascade/registry";
import { loadOriginNodeConfig, startOriginNode } from "../node/origin_node.ts";

if (import.meta.main) {
  const config = exitOnConfigError(() => {
    const c = loadOriginNodeConfig();
    if (!c.origin.REDIS_URL) {
      throw new ConfigError(
        "Invalid REDIS_URL: required for a lone origin (e.g. redis://127.0.0.1:6379); `deno task start` runs without Redis",
      );
    }
    return c;
  });
  const { LOG_LEVEL, LOG_FORMAT, REDIS_URL, REDIS_PREFIX } = config.origin;
  configureLogging({ level: LOG_LEVEL, format: LOG_FORMAT });
  const registry = new RedisRegistry({ url: REDIS_URL!, prefix: REDIS_PREFIX, log });
  const origin = await startOriginNode(config, { registry });
  const onStop = onShutdown();
  onStop(() => registry.close());
  onStop(() => origin.close());
}
