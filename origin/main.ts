/**
 * `deno task origin`: the origin role alone. Reads its environment once (exit 2 with one
 * line on a bad or missing variable; a lone role needs `REDIS_URL`), listens for RTMP and
 * HTTP, announces itself and its streams in Redis, and on SIGINT/SIGTERM tells publishers,
 * ends playlists with `#EXT-X-ENDLIST` and exits.
 */
import { ConfigError, exitOnConfigError, loadConfig } from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { onShutdown } from "@cascade/common/shutdown";
import { RedisRegistry } from "@cascade/registry";
import { originConfigSchema } from "./src/config.ts";
import { startOrigin } from "./src/origin.ts";

if (import.meta.main) {
  const config = exitOnConfigError(() => {
    const c = loadConfig(originConfigSchema);
    if (!c.REDIS_URL) {
      throw new ConfigError(
        "Invalid REDIS_URL: required for a lone origin (e.g. redis://127.0.0.1:6379); `deno task start` runs without Redis",
      );
    }
    return c;
  });
  configureLogging({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const registry = new RedisRegistry({ url: config.REDIS_URL!, prefix: config.REDIS_PREFIX, log });
  const origin = await startOrigin(config, { registry });
  const onStop = onShutdown();
  onStop(() => registry.close());
  onStop(() => origin.close());
}
