/**
 * `deno task transcoder`: the transcoder as a process of its own in a cluster. Reads its
 * environment once (Redis like every lone role, `HOOK_TOKEN` to reach the origins' internal
 * WebSockets, the `TRANSCODE_*` settings), serves `/healthz` and `/metrics` on
 * `TRANSCODER_PORT`, announces itself as `node:transcoder:{id}` and makes the renditions of
 * the sources it ranks first for (`role.ts`). Origins beside it run with
 * `TRANSCODE_LOCAL=false`. On SIGINT/SIGTERM it lets its sources go (the renditions end on
 * the origins, held for the republish grace), withdraws its node record and closes Redis.
 */
import * as v from "valibot";
import {
  envCheck,
  exitOnConfigError,
  fields,
  httpLimitsShape,
  loadConfig,
  loggingShape,
  nodeId,
  nodeShape,
  redisServer,
  redisShape,
  requireRedis,
  secretFields,
} from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { MetricsRegistry } from "@cascade/common/metrics";
import { createOpsApp } from "@cascade/common/ops";
import { processUsageSampler } from "@cascade/common/process_usage";
import { onShutdown } from "@cascade/common/shutdown";
import { fetchHandler, httpLimits, serveHttp } from "@cascade/common/http_server";
import { RedisRegistry } from "@cascade/registry/redis";
import { transcoderConfigShape } from "./config.ts";
import { TranscoderRole } from "./role.ts";

export const transcoderRoleConfigSchema = v.pipe(
  v.object({
    ...redisShape,
    ...nodeShape,
    ...loggingShape,
    ...httpLimitsShape,
    ...transcoderConfigShape,
    /** Presented to the origins' `/internal/…` WebSockets; the role cannot work without it. */
    HOOK_TOKEN: v.optional(secretFields.HOOK_TOKEN),
    TRANSCODER_HOST: v.optional(v.string(), "0.0.0.0"),
    TRANSCODER_PORT: fields.port(8085),
    /** Default: `http://127.0.0.1:{TRANSCODER_PORT}`. */
    TRANSCODER_PUBLIC_URL: v.optional(fields.httpUrl()),
  }),
  requireRedis("the transcoder"),
  envCheck(
    "HOOK_TOKEN",
    (config) =>
      config.HOOK_TOKEN === undefined
        ? "required: the transcoder presents it to the origins' /internal/ WebSockets"
        : undefined,
  ),
  v.transform((config) => ({ ...config, HOOK_TOKEN: config.HOOK_TOKEN! })),
);

export type TranscoderRoleConfig = v.InferOutput<typeof transcoderRoleConfigSchema>;

export async function main(): Promise<void> {
  const config = exitOnConfigError(() => loadConfig(transcoderRoleConfigSchema));
  configureLogging({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
  const logger = log.child({ role: "transcoder" });
  const shutdown = onShutdown(10_000);
  const metrics = new MetricsRegistry();
  const startedAt = Date.now();

  const registry = new RedisRegistry({
    ...redisServer(config),
    prefix: config.REDIS_PREFIX,
    log: logger,
  });
  shutdown(() => registry.close());

  // The default id holds the bound port, known once the server listens.
  let id = nodeId(config.NODE_ID, config.TRANSCODER_PORT);
  const ops = createOpsApp({ role: "transcoder", id: () => id, metrics, startedAt });
  const server = await serveHttp({
    hostname: config.TRANSCODER_HOST,
    port: config.TRANSCODER_PORT,
    handler: fetchHandler(ops.fetch, logger),
    limits: httpLimits(config, 0.5),
    log: logger,
  });
  shutdown(() => server.close(1000));
  id = nodeId(config.NODE_ID, server.port);
  const url = config.TRANSCODER_PUBLIC_URL ?? `http://127.0.0.1:${server.port}`;

  const role = await TranscoderRole.start({
    id,
    registry,
    log: logger,
    metrics,
    config,
    token: config.HOOK_TOKEN,
  });
  const usage = processUsageSampler();
  const heartbeat = registry.startHeartbeat(() => ({
    id,
    kind: "transcoder",
    url,
    region: config.REGION,
    load: role.load,
    startedAt,
    ...usage(),
  }));
  shutdown(() => role.close());
  shutdown(() => heartbeat.stop());
  logger.info("transcoder.started", {
    id,
    url,
    profile: config.TRANSCODE_PROFILE,
    available: await role.transcoder.check(),
  });
}

if (import.meta.main) await main();
