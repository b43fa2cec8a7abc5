/**
 * The edge's configuration: the environment variables of docs/architecture.md the edge reads, as
 * one valibot schema parsed once at start. `edgeConfigSchema` suits the all-in-one node (the
 * registry is embedded there, so Redis is optional); `edgeProcessConfigSchema` is what
 * `deno task edge` parses, where neither `REDIS_URL` nor `REDIS_SENTINELS` is the one-line
 * exit 2.
 */
import * as v from "valibot";
import {
  fields,
  httpLimitsShape,
  loggingShape,
  nodeShape,
  redisShape,
  requireRedis,
  secretFields,
} from "@cascade/common/config";

const millis = (fallback: number) => v.optional(fields.integer(1, 600_000), String(fallback));

export const edgeConfigSchema = v.object({
  ...redisShape,
  ...nodeShape,
  ...loggingShape,
  ...httpLimitsShape,
  EDGE_HOST: v.optional(v.string(), "0.0.0.0"),
  EDGE_PORT: fields.port(8000),
  /** Base URL viewers reach this edge at; announced in `node:edge:{id}`. */
  EDGE_PUBLIC_URL: v.optional(fields.httpUrl()),
  /** Bytes of segments and playlists kept in memory, in MiB. */
  EDGE_CACHE_MB: v.optional(fields.number(1, 1_048_576), "512"),
  /** Time allowed to open a connection to an origin. */
  EDGE_CONNECT_TIMEOUT_MS: millis(1000),
  /** Time allowed for a whole playlist fetch from an origin. */
  EDGE_PLAYLIST_TIMEOUT_MS: millis(2000),
  /** Longest a live playlist is served from the edge cache (never above half a target). */
  EDGE_PLAYLIST_FRESH_MS: millis(1000),
  /** Time allowed for a whole segment fetch from an origin. */
  EDGE_SEGMENT_TIMEOUT_MS: millis(10_000),
  /**
   * Time allowed beyond the origin's hold of 3 target durations for the LL-HLS requests it
   * holds (blocking playlist reloads, the hinted part).
   */
  EDGE_HOLD_MARGIN_MS: millis(2000),
  /** HMAC key of playback tokens (`lib/common/playback_token.ts`); unset → open playback. */
  PLAYBACK_SIGNING_KEY: v.optional(secretFields.PLAYBACK_SIGNING_KEY),
  /** `Access-Control-Allow-Origin`; empty string → no CORS headers. */
  CORS_ORIGIN: v.optional(v.string(), "*"),
});

export const edgeProcessConfigSchema = v.pipe(edgeConfigSchema, requireRedis("the edge"));

export type EdgeConfig = v.InferOutput<typeof edgeConfigSchema>;

/** The announced base URL: `EDGE_PUBLIC_URL`, or loopback on the port actually bound. */
export function edgePublicUrl(config: Pick<EdgeConfig, "EDGE_PUBLIC_URL">, port: number): string {
  return config.EDGE_PUBLIC_URL ?? `http://127.0.0.1:${port}`;
}
