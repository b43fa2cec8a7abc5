/**
 * What the API's route modules share, built once by `createApiApp`: dependencies passed in
 * (registry, config, logger, metrics, clock) and the pieces made from them (guards' rate
 * limiter, publish decision, playback planner).
 */
import type { Context } from "hono";
import type { Logger } from "@cascade/common/log";
import type { MetricsRegistry } from "@cascade/common/metrics";
import type { Registry } from "@cascade/registry/types";
import type { ClientIpFn } from "./auth.ts";
import type { ApiConfig } from "./config.ts";
import type { PlaybackPlanner } from "./playback.ts";
import type { PlaybackAccess } from "./playback_access.ts";
import type { PublishGate } from "./publish.ts";
import type { FailureLimiter } from "./rate_limit.ts";

export interface ApiContext {
  registry: Registry;
  config: ApiConfig;
  log: Logger;
  metrics: MetricsRegistry;
  /** Epoch milliseconds. */
  now: () => number;
  clientIp: ClientIpFn;
  /** Failed token checks, per client address. */
  tokenLimiter: FailureLimiter;
  gate: PublishGate;
  planner: PlaybackPlanner;
  /** Whether this caller may be given signed playback URLs (`playback_access.ts`). */
  playbackAccess: (c: Context) => Promise<PlaybackAccess>;
  /** Longest wait for one origin's answer when the API asks every origin (recordings). */
  originTimeoutMs: number;
  /** The API's base URL for links: `API_PUBLIC_URL`, else the request's own origin. */
  baseUrl(c: Context): string;
}

/** `{base}/api/v1/streams/{name}/playback`, the stable URL viewers resolve playback with. */
export function playbackEndpoint(ctx: ApiContext, c: Context, name: string): string {
  return `${ctx.baseUrl(c)}/api/v1/streams/${name}/playback`;
}
