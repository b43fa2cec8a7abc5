/**
 * `deno task api`: the API as a process of its own. Reads its environment once (a lone API
 * needs `REDIS_URL` or `REDIS_SENTINELS`; anything invalid exits 2 with one line naming the variable), connects
 * the Redis registry, serves the API with `/healthz` and `/metrics` beside it, and on
 * SIGINT/SIGTERM stops accepting requests, finishes those in flight and closes Redis.
 * A Redis outage is answered 503 per request and outlived, never fatal.
 */
import { Hono } from "hono";
import { exitOnConfigError, loadConfig, nodeId, redisServer } from "@cascade/common/config";
import { jsonErrorHandler, jsonNotFound } from "@cascade/common/http_errors";
import { configureLogging, log } from "@cascade/common/log";
import { MetricsRegistry } from "@cascade/common/metrics";
import { createOpsApp } from "@cascade/common/ops";
import { onShutdown } from "@cascade/common/shutdown";
import { fetchHandler, httpLimits, serveHttp } from "@cascade/common/http_server";
import { RedisRegistry } from "@cascade/registry/redis";
import { createApiApp } from "./src/app.ts";
import { type ApiProcessConfig, apiProcessConfigSchema } from "./src/config.ts";

function warnAboutMissingTokens(config: ApiProcessConfig): void {
  if (config.API_ADMIN_TOKEN === undefined) {
    log.warn("api.admin_disabled", { hint: "set API_ADMIN_TOKEN to enable the admin routes" });
  }
  if (config.HOOK_TOKEN === undefined) {
    log.warn("api.hooks_disabled", { hint: "set HOOK_TOKEN to let origins authorize publishes" });
  }
}

export async function main(): Promise<void> {
  const config = exitOnConfigError(() => loadConfig(apiProcessConfigSchema));
  configureLogging({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  warnAboutMissingTokens(config);

  const registry = new RedisRegistry({ ...redisServer(config), prefix: config.REDIS_PREFIX, log });
  const metrics = new MetricsRegistry();
  const app = new Hono();
  app.onError(jsonErrorHandler);
  app.notFound(jsonNotFound);
  let port = config.API_PORT;
  app.route(
    "/",
    createOpsApp({
      role: "api",
      id: () => nodeId(config.NODE_ID, port),
      metrics,
    }),
  );
  app.route("/", createApiApp({ registry, config, log, metrics }));

  const server = await serveHttp({
    hostname: config.API_HOST,
    port: config.API_PORT,
    handler: fetchHandler(app.fetch, log),
    limits: httpLimits(config, 0.9),
    log,
  });
  port = server.port;

  // Cleanups run in reverse: stop serving first, then close Redis.
  const onStop = onShutdown();
  onStop(() => registry.close());
  onStop(() => server.close());
}

if (import.meta.main) await main();
