/**
 * The edge's configuration: the environment variables of docs/architecture.md the edge reads, as
 * one zod schema parsed once at start. `edgeConfigSchema` suits the all-in-one node (the
 * registry is embedded there, so `REDIS_URL` is optional); `edgeProcessConfigSchema` is what
 * `deno task edge` parses, where a missing `REDIS_URL` is the one-line exit 2.
 */
import { z } from "zod";
import { fields } from "@cascade/common/config";

/** Playback signing keys shorter than this are refused, as the API refuses them. */
export const MIN_SIGNING_KEY_LENGTH = 32;

const redisUrl = z.string().regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL");

const httpUrl = z.string().regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, "must be an http(s) URL")
  .transform((u) => u.replace(/\/+$/, ""));

const millis = (fallback: number) => z.coerce.number().int().min(1).max(600_000).default(fallback);

export const edgeConfigSchema = z.object({
  REDIS_URL: redisUrl.optional(),
  REDIS_PREFIX: z.string().default("cascade:"),
  EDGE_HOST: z.string().min(1).default("0.0.0.0"),
  EDGE_PORT: fields.port(8000),
  /** Base URL viewers reach this edge at; announced in `node:edge:{id}`. */
  EDGE_PUBLIC_URL: httpUrl.optional(),
  /** Bytes of segments and playlists kept in memory, in MiB. */
  EDGE_CACHE_MB: z.coerce.number().min(1).max(1_048_576).default(512),
  /** Time allowed to open a connection to an origin. */
  EDGE_CONNECT_TIMEOUT_MS: millis(1000),
  /** Time allowed for a whole playlist fetch from an origin. */
  EDGE_PLAYLIST_TIMEOUT_MS: millis(2000),
  /** Longest a live playlist is served from the edge cache (never above half a target). */
  EDGE_PLAYLIST_FRESH_MS: millis(250),
  /** Time allowed for a whole segment fetch from an origin. */
  EDGE_SEGMENT_TIMEOUT_MS: millis(10_000),
  /** Which HTTP server carries viewers: `node` (node:http, faster for segments) or `deno`. */
  EDGE_SERVER: z.enum(["node", "deno"]).default("node"),
  REGION: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "must be 1-64 of [A-Za-z0-9_.-]")
    .default("local"),
  NODE_ID: z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, "must be 1-128 of [A-Za-z0-9_.:-]")
    .optional(),
  /** HMAC key of playback tokens (`lib/common/playback_token.ts`); unset → open playback. */
  PLAYBACK_SIGNING_KEY: z.string().min(
    MIN_SIGNING_KEY_LENGTH,
    `must be at least ${MIN_SIGNING_KEY_LENGTH} characters`,
  ).max(1024, "must be at most 1024 characters").optional(),
  /** `Access-Control-Allow-Origin`; empty string → no CORS headers. */
  CORS_ORIGIN: z.string().default("*"),
  LOG_LEVEL: fields.logLevel,
  LOG_FORMAT: fields.logFormat,
});

export const edgeProcessConfigSchema = edgeConfigSchema.extend({
  REDIS_URL: z.string({
    error: (issue) =>
      issue.input === undefined
        ? "required: the edge runs as a lone role and needs Redis (e.g. redis://127.0.0.1:6379)"
        : "must be a string",
  }).regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL"),
});

export type EdgeConfig = z.infer<typeof edgeConfigSchema>;

/** ARCHITECTURE.md's default node id: hostname and port. */
export function edgeNodeId(config: Pick<EdgeConfig, "NODE_ID" | "EDGE_PORT">): string {
  return config.NODE_ID ?? `${Deno.hostname()}:${config.EDGE_PORT}`;
}

/** The announced base URL: `EDGE_PUBLIC_URL`, or loopback on the port actually bound. */
export function edgePublicUrl(config: Pick<EdgeConfig, "EDGE_PUBLIC_URL">, port: number): string {
  return config.EDGE_PUBLIC_URL ?? `http://127.0.0.1:${port}`;
}
