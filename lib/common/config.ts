/**
 * Environment configuration: each service declares one zod schema of the variables it
 * reads, and `loadConfig` parses `Deno.env` once at start. An invalid value is a
 * `ConfigError` naming the variable; composition roots turn it into exit code 2 with
 * that one line (`exitOnConfigError`). Variables more than one role reads (Redis, node
 * identity, logging, URL rules) are declared here once and spread into each role's schema,
 * so the roles cannot drift apart.
 */
import { z } from "zod";

export class ConfigError extends TypeError {
  override name = "ConfigError";
}

/** Parses `env` (default: the process environment) with `schema`; throws `ConfigError`. */
export function loadConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): z.infer<S> {
  const cleaned: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== "") cleaned[k] = v;
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const name = issue.path.join(".") || "environment";
  const value = cleaned[String(issue.path[0])];
  const shown = value === undefined ? "" : ` (got ${JSON.stringify(value.slice(0, 80))})`;
  throw new ConfigError(`Invalid ${name}: ${issue.message}${shown}`);
}

/** Runs `fn`; on `ConfigError` prints its one line and exits with code 2. */
export function exitOnConfigError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      Deno.exit(2);
    }
    throw err;
  }
}

const REDIS_URL_RE = /^rediss?:\/\/\S+$/;
const HTTP_URL_RE = /^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/;

/** Node ids: what the registry keys `node:{kind}:{id}` and stream claims by. */
export const NODE_ID_RE = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Regions, of nodes (`REGION`) and of viewers (`DEFAULT_REGION`, `REGION_CIDRS`) alike. */
export const REGION_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const redisUrl = z.string().regex(REDIS_URL_RE, "must be a redis:// or rediss:// URL");

/** Reusable field schemas shared by the services' config schemas. */
export const fields = {
  port: (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback),
  bool: (fallback: boolean) =>
    z.enum(["true", "false", "1", "0", "yes", "no"]).default(fallback ? "true" : "false")
      .transform((v) => v === "true" || v === "1" || v === "yes"),
  positive: (fallback: number) => z.coerce.number().positive().default(fallback),
  /** An http(s) base URL without query or fragment; trailing slashes are dropped. */
  httpUrl: () =>
    z.string().regex(HTTP_URL_RE, "must be an http(s) URL").transform((u) => u.replace(/\/+$/, "")),
  /**
   * `REDIS_URL` of a role that cannot run without Redis; `who` ("the edge") says which in
   * the one-line error when it is missing.
   */
  requiredRedisUrl: (who: string) =>
    z.string({
      error: (issue) =>
        issue.input === undefined
          ? `required: ${who} runs as a lone role and needs Redis (e.g. redis://127.0.0.1:6379; \`deno task start\` needs none)`
          : "must be a string",
    }).pipe(redisUrl),
  /** A secret of at least `min` characters; shorter ones would be guessable. */
  secret: (min: number) =>
    z.string().min(min, `must be at least ${min} characters`).max(
      1024,
      "must be at most 1024 characters",
    ),
  nodeId: z.string().regex(NODE_ID_RE, "must be 1-128 of [A-Za-z0-9_.:-]"),
  region: z.string().regex(
    REGION_RE,
    "must be 1-64 of [A-Za-z0-9_.-], starting with a letter or digit",
  ),
};

/** Secrets shorter than this are refused: they would be guessable despite rate limiting. */
export const MIN_TOKEN_LENGTH = 16;
/** Playback signing keys (HMAC) shorter than this are refused. */
export const MIN_SIGNING_KEY_LENGTH = 32;

/** Secrets two roles share: the origin presents `HOOK_TOKEN` to the API's hooks, the API
 * signs playback tokens that the edge checks with `PLAYBACK_SIGNING_KEY`. */
export const secretFields = {
  HOOK_TOKEN: fields.secret(MIN_TOKEN_LENGTH),
  PLAYBACK_SIGNING_KEY: fields.secret(MIN_SIGNING_KEY_LENGTH),
};

/** `LOG_LEVEL` and `LOG_FORMAT`, read by every program. */
export const loggingShape = {
  LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  LOG_FORMAT: z.enum(["json", "pretty"]).default("pretty"),
};

/**
 * Where the registry lives; optional because the all-in-one node embeds one. The Redis
 * Sentinel settings (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`) belong here too.
 */
export const redisShape = {
  REDIS_URL: redisUrl.optional(),
  REDIS_PREFIX: z.string().default("cascade:"),
};

/** This node's identity in the registry: `NODE_ID` (default `nodeId()`) and `REGION`. */
export const nodeShape = {
  NODE_ID: fields.nodeId.optional(),
  REGION: fields.region.default("local"),
};

/** `NODE_ID` when set, else the default of docs/architecture.md: hostname and HTTP port. */
export function nodeId(configured: string | undefined, port: number): string {
  return configured ?? `${Deno.hostname()}:${port}`;
}

/** The stream name rule of docs/architecture.md. */
export const STREAM_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const optionalCount = z.coerce.number().int().min(1).optional();

/**
 * Limits of every HTTP listener (docs/security.md). A connection budget left unset is a share
 * of the process's descriptor limit (`httpLimits` in `http_server.ts`).
 */
export const httpLimitsShape = {
  HTTP_MAX_CONNECTIONS: optionalCount,
  HTTP_MAX_CONNECTIONS_PER_ADDRESS: optionalCount,
  /** Connections that have not yet sent a complete request. */
  HTTP_MAX_PENDING_CONNECTIONS: optionalCount,
  /** A request's head and body must arrive within this, from the connection or the last reply. */
  HTTP_REQUEST_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(3600).default(10),
  /** A connection with no traffic either way for this long is closed. */
  HTTP_IDLE_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(3600).default(60),
  HTTP_MAX_REQUESTS_PER_CONNECTION: z.coerce.number().int().min(1).default(1000),
};

export type HttpLimitsConfig = z.infer<z.ZodObject<typeof httpLimitsShape>>;
