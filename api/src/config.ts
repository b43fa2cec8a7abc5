/**
 * The API's configuration: the environment variables of docs/architecture.md the API reads, as
 * one zod schema parsed once at start. `apiConfigSchema` suits the all-in-one node (no
 * Redis needed); `apiProcessConfigSchema` is what `deno task api` parses, where `REDIS_URL`
 * is required because a lone API has no embedded registry.
 */
import { z } from "zod";
import { fields } from "@cascade/common/config";
import { parseRegionCidrs, REGION_RE } from "./regions.ts";

/** Secrets shorter than this are refused: they would be guessable despite rate limiting. */
export const MIN_TOKEN_LENGTH = 16;

const secret = (min: number) =>
  z.string().min(min, `must be at least ${min} characters`).max(
    1024,
    "must be at most 1024 characters",
  ).optional();

const redisUrl = z.string().regex(/^rediss?:\/\/\S+$/, "must be a redis:// or rediss:// URL");

const httpUrl = z.string().regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, "must be an http(s) URL")
  .transform((u) => u.replace(/\/+$/, ""));

export const apiConfigSchema = z.object({
  REDIS_URL: redisUrl.optional(),
  REDIS_PREFIX: z.string().default("cascade:"),
  API_HOST: z.string().min(1).default("0.0.0.0"),
  API_PORT: fields.port(8080),
  /** Base URL clients reach the API at; unset → taken from each request. */
  API_PUBLIC_URL: httpUrl.optional(),
  /** Bearer token of the admin routes; unset → they refuse with 503. */
  API_ADMIN_TOKEN: secret(MIN_TOKEN_LENGTH),
  /** Bearer token origins (and nginx-rtmp's `?token=`) present to the publish hooks. */
  HOOK_TOKEN: secret(MIN_TOKEN_LENGTH),
  /** HMAC key of playback tokens (`lib/common/playback_token.ts`); unset → open playback. */
  PLAYBACK_SIGNING_KEY: secret(32),
  PLAYBACK_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).max(7 * 86_400).default(6 * 3600),
  /** Edges reporting a load above this are skipped while others are left; unset → no limit. */
  EDGE_LOAD_THRESHOLD: z.coerce.number().nonnegative().optional(),
  /** `cidr=region,…`: the viewer region of a client address when none is given. */
  REGION_CIDRS: z.string().default("").transform((spec, ctx) => {
    try {
      return parseRegionCidrs(spec);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  }),
  /** Region assumed for viewers with none given and no CIDR match; unset → any region. */
  DEFAULT_REGION: z.string().regex(REGION_RE, "must be 1-64 of [A-Za-z0-9_.-]").optional(),
  /**
   * Extra ingest base URLs (`rtmp://ingest.example.com/live,…`) listed before the live
   * origins' own in `ingestUrls`, e.g. a load-balanced name or an nginx-rtmp ingest.
   */
  RTMP_INGEST_URLS: z.string().default("").transform((spec, ctx) => {
    const urls = spec.split(",").map((s) => s.trim().replace(/\/+$/, "")).filter((s) => s !== "");
    const bad = urls.findIndex((u) => !/^rtmps?:\/\/[^\s/?#]+\/[A-Za-z0-9_-]+$/.test(u));
    if (bad >= 0) {
      ctx.addIssue({
        code: "custom",
        message: `entry ${bad + 1} must look like rtmp://host[:port]/app`,
      });
      return z.NEVER;
    }
    return urls;
  }),
  /** `Access-Control-Allow-Origin` of the public routes; empty → no CORS headers. */
  CORS_ORIGIN: z.string().default("*"),
  /** Take the client address from the last `X-Forwarded-For` hop (behind one proxy). */
  TRUST_PROXY: fields.bool(false),
  AUTH_FAILURE_LIMIT: z.coerce.number().int().min(1).max(10_000).default(10),
  AUTH_FAILURE_WINDOW_SECONDS: z.coerce.number().min(1).max(86_400).default(60),
  LOG_LEVEL: fields.logLevel,
  LOG_FORMAT: fields.logFormat,
});

export type ApiConfig = z.infer<typeof apiConfigSchema>;

export const apiProcessConfigSchema = apiConfigSchema.extend({
  REDIS_URL: z.string({
    error: (issue) =>
      issue.input === undefined
        ? "required: the API runs as a lone role and needs Redis (e.g. redis://127.0.0.1:6379)"
        : "must be a string",
  }).pipe(redisUrl),
});

export type ApiProcessConfig = z.infer<typeof apiProcessConfigSchema>;
