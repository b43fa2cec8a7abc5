/**
 * Environment configuration: each service declares one valibot schema of the variables it
 * reads, and `loadConfig` parses `Deno.env` once at start. An invalid value is a
 * `ConfigError` naming the variable; composition roots turn it into exit code 2 with
 * that one line (`exitOnConfigError`). Variables more than one role reads (Redis, node
 * identity, logging, URL rules) are declared here once and spread into each role's schema,
 * so the roles cannot drift apart. Valibot rather than zod because the origin must idle small:
 * with zod its configuration took about 5 MiB more private memory (measured 2026-12-03).
 */
import * as v from "valibot";

export class ConfigError extends TypeError {
  override name = "ConfigError";
}

/** Parses `env` (default: the process environment) with `schema`; throws `ConfigError`. */
export function loadConfig<S extends v.GenericSchema>(
  schema: S,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): v.InferOutput<S> {
  const cleaned: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== "") cleaned[name] = value;
  }
  // Only the first problem is reported, so parsing stops there.
  const result = v.safeParse(schema, cleaned, { abortEarly: true, message: issueMessage });
  if (result.success) return result.output;
  const issue = result.issues[0];
  const name = v.getDotPath(issue) ?? "environment";
  const variable = String(issue.path?.[0]?.key);
  const value = cleaned[variable];
  throw new ConfigError(`Invalid ${name}: ${issue.message}${shownValue(variable, value)}`);
}

/**
 * The message of an issue whose schema or action names none: one shape for every role, and
 * never the received value (it may be a secret; `shownValue` decides what is echoed).
 */
function issueMessage(issue: v.BaseIssue<unknown>): string {
  if (issue.kind === "schema" && issue.input === undefined) return "required";
  switch (issue.type) {
    case "min_value":
      return `must be at least ${issue.requirement}`;
    case "max_value":
      return `must be at most ${issue.requirement}`;
    case "gt_value":
      return `must be more than ${issue.requirement}`;
    case "integer":
      return "must be an integer";
    case "min_length":
      return `must be at least ${issue.requirement} characters`;
    case "max_length":
      return `must be at most ${issue.requirement} characters`;
    case "picklist":
      return `must be one of ${issue.expected?.replace(/^\((.*)\)$/, "$1")}`;
    case "regex":
      return `must match ${issue.expected}`;
    case "url":
      return "must be a URL";
    default:
      return `expected ${issue.expected ?? issue.type}`;
  }
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

const redisUrl = v.pipe(v.string(), v.regex(REDIS_URL_RE, "must be a redis:// or rediss:// URL"));

/** A variable's text as a number, as `Number()` reads it; text that is none is refused. */
const number = v.pipe(
  v.string(),
  v.transform((text) => Number(text)),
  v.number("must be a number"),
);

/** A number in `[min, max]`. */
const numberIn = (min = -Infinity, max = Infinity) =>
  v.pipe(number, v.minValue(min), v.maxValue(max));

/** A whole number in `[min, max]`. */
const integerIn = (min = -Infinity, max = Infinity) =>
  v.pipe(number, v.integer(), v.minValue(min), v.maxValue(max));

/**
 * Reusable field schemas shared by the services' config schemas. A default is given as the
 * variable's text would be (`v.optional(fields.integer(2, 1000), "6")`): valibot parses it
 * like a value that was set.
 */
export const fields = {
  number: numberIn,
  integer: integerIn,
  port: (fallback: number) => v.optional(integerIn(0, 65535), String(fallback)),
  bool: (fallback: boolean) =>
    v.optional(
      v.pipe(
        v.picklist(["true", "false", "1", "0", "yes", "no"]),
        v.transform((value) => value === "true" || value === "1" || value === "yes"),
      ),
      fallback ? "true" : "false",
    ),
  positive: (fallback: number) => v.optional(v.pipe(number, v.gtValue(0)), String(fallback)),
  /** An http(s) base URL without query or fragment; trailing slashes are dropped. */
  httpUrl: () =>
    v.pipe(
      v.string(),
      v.regex(HTTP_URL_RE, "must be an http(s) URL"),
      v.transform((url) => url.replace(/\/+$/, "")),
    ),
  /** A secret of at least `min` characters; shorter ones would be guessable. */
  secret: (min: number) => v.pipe(v.string(), v.minLength(min), v.maxLength(1024)),
  nodeId: v.pipe(v.string(), v.regex(NODE_ID_RE, "must be 1-128 of [A-Za-z0-9_.:-]")),
  region: v.pipe(
    v.string(),
    v.regex(REGION_RE, "must be 1-64 of [A-Za-z0-9_.-], starting with a letter or digit"),
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
  LOG_LEVEL: v.optional(v.picklist(["debug", "info", "warn", "error"]), "info"),
  LOG_FORMAT: v.optional(v.picklist(["json", "pretty"]), "pretty"),
};

/** A Redis password: Redis itself accepts any non-empty string. */
const redisPassword = v.pipe(v.string(), v.maxLength(1024));

/** One Sentinel's address; the name the Sentinels know the master by. */
export interface HostPort {
  host: string;
  port: number;
}

const HOST_PORT_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+)):(\d{1,5})$/;

/** `host:port,host:port…` (IPv6 hosts in brackets) as a list of addresses. */
const hostPortList = v.pipe(
  v.string(),
  v.rawTransform(({ dataset, addIssue, NEVER }): HostPort[] => {
    const out: HostPort[] = [];
    for (const item of dataset.value.split(",").map((s) => s.trim())) {
      const m = HOST_PORT_RE.exec(item);
      const port = Number(m?.[3]);
      if (m === null || port < 1 || port > 65535) {
        addIssue({
          message: `must be a comma-separated list of host:port, port 1-65535: bad entry ${
            JSON.stringify(item)
          }`,
        });
        return NEVER;
      }
      out.push({ host: m[1] ?? m[2]!, port });
    }
    return out;
  }),
);

/**
 * Where the registry lives; optional because the all-in-one node embeds one. Either one
 * server (`REDIS_URL`) or a Sentinel group: `REDIS_SENTINELS` lists Sentinels, which name the
 * current master of `REDIS_SENTINEL_MASTER`; it wins over `REDIS_URL` when both are set.
 * `REDIS_PASSWORD` is the master's (and replicas') password in Sentinel mode, where there is
 * no URL to carry it; `REDIS_SENTINEL_PASSWORD` the Sentinels' own, if they require one.
 */
export const redisShape = {
  REDIS_URL: v.optional(redisUrl),
  REDIS_SENTINELS: v.optional(hostPortList),
  REDIS_SENTINEL_MASTER: v.optional(
    v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,128}$/, "must be 1-128 of [A-Za-z0-9_.-]")),
    "mymaster",
  ),
  REDIS_PASSWORD: v.optional(redisPassword),
  REDIS_SENTINEL_PASSWORD: v.optional(redisPassword),
  REDIS_PREFIX: v.optional(v.string(), "cascade:"),
};

type RedisSettings = v.InferOutput<v.ObjectSchema<typeof redisShape, undefined>>;

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
 * A rule across variables, piped after a role's object (`v.pipe(v.object({…}), envCheck(…))`):
 * `problem` says what is wrong, if anything, and the error names `variable`. It runs only
 * once every variable is valid on its own.
 */
export function envCheck<T extends Record<string, unknown>>(
  variable: string,
  problem: (config: T) => string | undefined,
): v.RawCheckAction<T> {
  return v.rawCheck<T>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const message = problem(dataset.value);
    if (message === undefined) return;
    const input = dataset.value;
    addIssue({
      message,
      path: [{ type: "object", origin: "value", input, key: variable, value: input[variable] }],
    });
  });
}

/** What `requireRedis` looks at. */
type RedisChoice = { REDIS_URL?: string; REDIS_SENTINELS?: HostPort[] };

/**
 * The check of a role that cannot run without Redis, piped after its object: one of
 * `REDIS_URL` and `REDIS_SENTINELS` must be set; `who` ("the edge") says which role in the
 * one-line error, which names `REDIS_URL`.
 */
export function requireRedis<T extends RedisChoice>(who: string): v.RawCheckAction<T> {
  return envCheck<T>(
    "REDIS_URL",
    (config) =>
      config.REDIS_URL !== undefined || config.REDIS_SENTINELS !== undefined
        ? undefined
        : `required: ${who} runs as a lone role and needs Redis (e.g. redis://127.0.0.1:6379, or REDIS_SENTINELS; \`deno task start\` needs none)`,
  );
}

/** This node's identity in the registry: `NODE_ID` (default `nodeId()`) and `REGION`. */
export const nodeShape = {
  NODE_ID: v.optional(fields.nodeId),
  REGION: v.optional(fields.region, "local"),
};

/** `NODE_ID` when set, else the default of docs/architecture.md: hostname and HTTP port. */
export function nodeId(configured: string | undefined, port: number): string {
  return configured ?? `${Deno.hostname()}:${port}`;
}

/** The stream name rule of docs/architecture.md. */
export const STREAM_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const optionalCount = v.optional(integerIn(1));
const timeoutSeconds = (fallback: number) => v.optional(numberIn(0.1, 3600), String(fallback));

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
  HTTP_REQUEST_TIMEOUT_SECONDS: timeoutSeconds(10),
  /** A connection with no traffic either way for this long is closed. */
  HTTP_IDLE_TIMEOUT_SECONDS: timeoutSeconds(60),
  HTTP_MAX_REQUESTS_PER_CONNECTION: v.optional(integerIn(1), "1000"),
};

export type HttpLimitsConfig = v.InferOutput<v.ObjectSchema<typeof httpLimitsShape, undefined>>;
