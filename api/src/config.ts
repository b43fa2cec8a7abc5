/**
 * The API's configuration: the environment variables of docs/architecture.md the API reads, as
 * one valibot schema parsed once at start. `apiConfigSchema` suits the all-in-one node (no
 * Redis needed); `apiProcessConfigSchema` is what `deno task api` parses, where `REDIS_URL`
 * is required because a lone API has no embedded registry. Both check that the default
 * playback token lifetime stays within the longest one the API may sign.
 */
import * as v from "valibot";
import {
  envCheck,
  fields,
  httpLimitsShape,
  loggingShape,
  MIN_TOKEN_LENGTH,
  nodeShape,
  redisShape,
  requireRedis,
  secretFields,
} from "@cascade/common/config";
import { originPrefix } from "./trusted_origins.ts";
import { parseRegionCidrs } from "./regions.ts";

/** Longest playback token lifetime, when `PLAYBACK_TOKEN_MAX_TTL_SECONDS` is not set: a day. */
export const DEFAULT_MAX_TOKEN_TTL_SECONDS = 86_400;
/** Bounds of every playback token lifetime setting: a minute to a week. */
const tokenTtl = fields.integer(60, 7 * 86_400);

const apiConfigShape = {
  ...redisShape,
  ...loggingShape,
  ...httpLimitsShape,
  /** Reported by `/healthz`; default hostname and `API_PORT`. */
  NODE_ID: nodeShape.NODE_ID,
  API_HOST: v.optional(v.string(), "0.0.0.0"),
  API_PORT: fields.port(8080),
  /** Base URL clients reach the API at; unset → taken from each request. */
  API_PUBLIC_URL: v.optional(fields.httpUrl()),
  /** Bearer token of the admin routes; unset → they refuse with 503. */
  API_ADMIN_TOKEN: v.optional(fields.secret(MIN_TOKEN_LENGTH)),
  /** Bearer token origins (and nginx-rtmp's `?token=`) present to the publish hooks. */
  HOOK_TOKEN: v.optional(secretFields.HOOK_TOKEN),
  /**
   * Origins the API presents `HOOK_TOKEN` to when it asks them for recordings: a comma list
   * of http(s) URL prefixes (`https://origin-1.internal:8081,http://10.0.0.0:8081/`); unset →
   * every origin in the registry (logged at start). See docs/security.md.
   */
  API_TRUSTED_ORIGINS: v.optional(v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const entries = dataset.value.split(",").map((s) => s.trim()).filter((s) => s !== "");
      const bad = entries.findIndex((entry) => originPrefix(entry) === null);
      if (bad >= 0) {
        addIssue({
          message: `entry ${bad + 1} must be an http(s) URL without credentials, query or fragment`,
        });
        return NEVER;
      }
      return entries.map((entry) => originPrefix(entry)!);
    }),
  )),
  /** HMAC key of playback tokens (`lib/common/playback_token.ts`); unset → open playback. */
  PLAYBACK_SIGNING_KEY: v.optional(secretFields.PLAYBACK_SIGNING_KEY),
  /**
   * Bearer token that may only fetch signed playback URLs: what the operator's backend holds
   * instead of the admin token (docs/security.md, "Playback tokens").
   */
  PLAYBACK_API_TOKEN: v.optional(fields.secret(MIN_TOKEN_LENGTH)),
  /** Lifetime of a token when the caller asks for none (`?ttl=`). */
  PLAYBACK_TOKEN_TTL_SECONDS: v.optional(tokenTtl, String(6 * 3600)),
  /** The longest `?ttl=` a caller may ask for. */
  PLAYBACK_TOKEN_MAX_TTL_SECONDS: v.optional(tokenTtl, String(DEFAULT_MAX_TOKEN_TTL_SECONDS)),
  /** Edges reporting a load above this are skipped while others are left; unset → no limit. */
  EDGE_LOAD_THRESHOLD: v.optional(fields.number(0)),
  /** `cidr=region,…`: the viewer region of a client address when none is given. */
  REGION_CIDRS: v.optional(
    v.pipe(
      v.string(),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        try {
          return parseRegionCidrs(dataset.value);
        } catch (err) {
          addIssue({ message: (err as Error).message });
          return NEVER;
        }
      }),
    ),
    "",
  ),
  /** Region assumed for viewers with none given and no CIDR match; unset → any region. */
  DEFAULT_REGION: v.optional(fields.region),
  /**
   * Extra ingest base URLs (`rtmp://ingest.example.com/live,…`) listed before the live
   * origins' own in `ingestUrls`, e.g. a load-balanced name or an nginx-rtmp ingest.
   */
  RTMP_INGEST_URLS: v.optional(
    v.pipe(
      v.string(),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        const urls = dataset.value.split(",").map((s) => s.trim().replace(/\/+$/, ""))
          .filter((s) => s !== "");
        const bad = urls.findIndex((u) => !/^rtmps?:\/\/[^\s/?#]+\/[A-Za-z0-9_-]+$/.test(u));
        if (bad >= 0) {
          addIssue({ message: `entry ${bad + 1} must look like rtmp://host[:port]/app` });
          return NEVER;
        }
        return urls;
      }),
    ),
    "",
  ),
  /** `Access-Control-Allow-Origin` of the public routes; empty → no CORS headers. */
  CORS_ORIGIN: v.optional(v.string(), "*"),
  /** Take the client address from the last `X-Forwarded-For` hop (behind one proxy). */
  TRUST_PROXY: fields.bool(false),
  AUTH_FAILURE_LIMIT: v.optional(fields.integer(1, 10_000), "10"),
  AUTH_FAILURE_WINDOW_SECONDS: v.optional(fields.number(1, 86_400), "60"),
};

/** The default lifetime must be one the API may sign. */
export const apiConfigSchema = v.pipe(
  v.object(apiConfigShape),
  envCheck(
    "PLAYBACK_TOKEN_TTL_SECONDS",
    (config) =>
      config.PLAYBACK_TOKEN_TTL_SECONDS > config.PLAYBACK_TOKEN_MAX_TTL_SECONDS
        ? `must not exceed PLAYBACK_TOKEN_MAX_TTL_SECONDS (${config.PLAYBACK_TOKEN_MAX_TTL_SECONDS})`
        : undefined,
  ),
);

export type ApiConfig = v.InferOutput<typeof apiConfigSchema>;

export const apiProcessConfigSchema = v.pipe(apiConfigSchema, requireRedis("the API"));

export type ApiProcessConfig = v.InferOutput<typeof apiProcessConfigSchema>;
