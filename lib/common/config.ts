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
  const variable = String(issue.path[0]);
  const value = cleaned[variable];
  throw new ConfigError(`Invalid ${name}: ${issue.message}${shownValue(variable, value)}`);
}

/** Variables whose values are secrets: an error never echoes them. */
const SECRET_NAME_RE = /(?:PASSWORD|TOKEN|_KEYS?|SECRET[A-Z_]*)$/;

/** The value as an error may echo it: not a secret's, and a URL without its credentials. */
function shownValue(variable: string, value: string | undefined): string {
  if (value === undefined || SECRET_NAME_RE.test(variable)) return "";
  const safe = value.replace(/^([a-z]+:\/\/)[^@/\s]*@/i, "$1…@").slice(0, 80);
  return ` (got ${JSON.stringify(safe)})`;
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

/** A Redis password: Redis itself accepts any non-empty string. */
const redisPassword = z.string().max(1024, "must be at most 1024 characters");

/** One Sentinel's address; the name the Sentinels know the master by. */
export interface HostPort {
  host: string;
  port: number;
}

const HOST_PORT_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/;

/** `host:port,host:port…` (IPv6 hosts in brackets) as a list of addresses. */
const hostPortList = z.string().transform((value, ctx): HostPort[] => {
  const out: HostPort[] = [];
  for (const item of value.split(",").map((s) => s.trim())) {
    const m = HOST_PORT_RE.exec(item);
    const port = Number(m?.[3]);
    if (m === null || port < 1 || port > 65535) {
      ctx.addIssue({
        code: "custom",
        message: `must be a comma-separated list of host:port, port 1-65535: bad entry ${
          JSON.stringify(item)
        }`,
      });
      return z.NEVER;
    }
    out.push({ host: m[1] ?? m[2]!, port });
  }
  return out;
});

/**
 * Where the registry lives; optional because the all-in-one node embeds one. Either one
 * server (`REDIS_URL`) or a Sentinel group: `REDIS_SENTINELS` lists Sentinels, which name the
 * current master of `REDIS_SENTINEL_MASTER`; it wins over `REDIS_URL` when both are set.
 * `REDIS_PASSWORD` is the master's (and replicas') password in Sentinel mode, where there is
 * no URL to carry it; `REDIS_SENTINEL_PASSWORD` the Sentinels' own, if they require one.
 */
export const redisShape = {
  REDIS_URL: redisUrl.optional(),
  REDIS_SENTINELS: hostPortList.optional(),
  REDIS_SENTINEL_MASTER: z.string().regex(
    /^[A-Za-z0-9_.-]{1,128}$/,
    "must be 1-128 of [A-Za-z0-9_.-]",
  ).default("mymaster"),
  REDIS_PASSWORD: redisPassword.optional(),
  REDIS_SENTINEL_PASSWORD: redisPassword.optional(),
  REDIS_PREFIX: z.string().default("cascade:"),
};

type RedisSettings = z.infer<z.ZodObject<typeof redisShape>>;

/** A Sentinel group as `RedisRegistry` takes it. */
export interface RedisSentinelGroup {
  sentinels: HostPort[];
  /** The master's name in the Sentinels' configuration. */
  name: string;
  password?: string;
  sentinelPassword?: string;
}

/**
 * The registry's server from the `redisShape` variables: `{ sentinel }` when `REDIS_SENTINELS`
 * is set, else `{ url }`, else nothing (the all-in-one node then embeds a registry). Spread it
 * into `RedisRegistry`'s options.
 */
export function redisServer(
  config: RedisSettings,
): { url?: string; sentinel?: RedisSentinelGroup } {
  if (config.REDIS_SENTINELS !== undefined) {
    return {
      sentinel: {
        sentinels: config.REDIS_SENTINELS,
        name: config.REDIS_SENTINEL_MASTER,
        password: config.REDIS_PASSWORD,
        sentinelPassword: config.REDIS_SENTINEL_PASSWORD,
      },
    };
  }
  return config.REDIS_URL === undefined ? {} : { url: config.REDIS_URL };
}

/**
 * A refinement for the schema of a role that cannot run without Redis: one of `REDIS_URL` and
 * `REDIS_SENTINELS` must be set; `who` ("the edge") says which role in the one-line error.
 */
export function requireRedis(who: string) {
  return (
    config: { REDIS_URL?: string; REDIS_SENTINELS?: HostPort[] },
    ctx: z.RefinementCtx,
  ): void => {
    if (config.REDIS_URL !== undefined || config.REDIS_SENTINELS !== undefined) return;
    ctx.addIssue({
      code: "custom",
      path: ["REDIS_URL"],
      message:
        `required: ${who} runs as a lone role and needs Redis (e.g. redis://127.0.0.1:6379, or REDIS_SENTINELS; \`deno task start\` needs none)`,
    });
  };
}

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
