/**
 * Publish authorization: from a stream key to the public name it may publish as. The HTTP
 * hooks (Cascade origins, nginx-rtmp) and the all-in-one node's in-process authorizer run
 * this one decision: hash the key, look the hash up, refuse unknown keys and disabled
 * streams, and throttle addresses that keep presenting wrong keys. The key is never logged
 * or returned; decisions are logged with the public name and the publisher's address.
 */
import { log as rootLog, type Logger } from "@cascade/common/log";
import type { Counter, MetricsRegistry } from "@cascade/common/metrics";
import { RegistryUnavailableError } from "@cascade/registry/errors";
import type { Registry } from "@cascade/registry/types";
import type {
  PublishAuthorizer,
  PublishDecision,
  PublishRequest,
} from "@cascade/common/publish_auth";
import { FailureLimiter } from "./rate_limit.ts";
import { hashStreamKey } from "./stream_keys.ts";

/** Longest key looked up; anything longer cannot be one we issued or one worth hashing. */
export const MAX_KEY_LENGTH = 512;

export type PublishVerdict =
  | { ok: true; name: string; record: boolean }
  | {
    ok: false;
    status: 403 | 429 | 503;
    code: "unknown_key" | "stream_disabled" | "too_many_requests" | "unavailable";
    message: string;
    /** Seconds to wait, for 429 and 503. */
    retryAfter?: number;
  };

/** Where a publish request came from, for logs and metrics. */
export type PublishVia = "hook" | "nginx" | "in-process";

export interface PublishGateOptions {
  registry: Registry;
  log: Logger;
  /** Failures are counted per publisher address under the `key:` namespace. */
  limiter: FailureLimiter;
  metrics?: MetricsRegistry;
}

export interface PublishAttempt {
  key: string;
  /** The publisher's address as the origin saw it; "" when unknown. */
  clientIp: string;
  originId?: string;
  via: PublishVia;
}

/** The publish decision shared by every way of asking. */
export class PublishGate {
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #limiter: FailureLimiter;
  readonly #decisions: Counter | undefined;

  constructor(opts: PublishGateOptions) {
    this.#registry = opts.registry;
    this.#log = opts.log;
    this.#limiter = opts.limiter;
    this.#decisions = opts.metrics?.counter(
      "cascade_api_publish_decisions_total",
      "Publish authorizations decided, by outcome",
      ["result"],
    );
  }

  async check(attempt: PublishAttempt): Promise<PublishVerdict> {
    const verdict = await this.#decide(attempt);
    const fields = {
      via: attempt.via,
      client: attempt.clientIp || undefined,
      origin: attempt.originId || undefined,
    };
    if (verdict.ok) {
      this.#log.info("publish.allowed", { stream: verdict.name, ...fields });
    } else {
      this.#log.warn("publish.refused", { reason: verdict.code, ...fields });
    }
    this.#decisions?.labels(verdict.ok ? "allowed" : verdict.code).inc();
    return verdict;
  }

  async #decide(attempt: PublishAttempt): Promise<PublishVerdict> {
    const bucket = `key:${attempt.clientIp || "unknown"}`;
    const waitMs = this.#limiter.retryAfterMs(bucket);
    if (waitMs > 0) {
      return {
        ok: false,
        status: 429,
        code: "too_many_requests",
        message: "Too many failed publish attempts from this address",
        retryAfter: Math.ceil(waitMs / 1000),
      };
    }
    if (attempt.key.length === 0 || attempt.key.length > MAX_KEY_LENGTH) {
      this.#limiter.fail(bucket);
      return unknownKey();
    }
    try {
      const name = await this.#registry.resolveKeyHash(await hashStreamKey(attempt.key));
      // A missing config means the stream was deleted after the lookup: the key is dead.
      const cfg = name === null ? null : await this.#registry.getStreamConfig(name);
      if (cfg === null) {
        this.#limiter.fail(bucket);
        return unknownKey();
      }
      if (cfg.disabled) {
        return {
          ok: false,
          status: 403,
          code: "stream_disabled",
          message: "Stream is disabled",
        };
      }
      return { ok: true, name: cfg.name, record: cfg.record };
    } catch (err) {
      if (!(err instanceof RegistryUnavailableError)) throw err;
      return {
        ok: false,
        status: 503,
        code: "unavailable",
        message: "Registry unavailable, try again shortly",
        retryAfter: 1,
      };
    }
  }
}

function unknownKey(): PublishVerdict {
  return { ok: false, status: 403, code: "unknown_key", message: "Unknown stream key" };
}

export interface InProcessAuthorizerOptions {
  /** Default: the root logger. */
  log?: Logger;
  metrics?: MetricsRegistry;
  /** Wrong keys allowed per address within `failureWindowMs` (default 10). */
  failureLimit?: number;
  failureWindowMs?: number;
  now?: () => number;
}

/**
 * The origin's `PublishAuthorizer` answered in process by the API's own decision, for the
 * all-in-one node: the same result as `POST /api/v1/hooks/publish`, without HTTP.
 */
export function createApiAuthorizerFor(
  registry: Registry,
  opts: InProcessAuthorizerOptions = {},
): PublishAuthorizer {
  const gate = new PublishGate({
    registry,
    log: (opts.log ?? rootLog).child({ role: "api" }),
    metrics: opts.metrics,
    limiter: new FailureLimiter({
      limit: opts.failureLimit ?? 10,
      windowMs: opts.failureWindowMs ?? 60_000,
      now: opts.now,
    }),
  });
  return {
    mode: "api",
    async authorize(req: PublishRequest): Promise<PublishDecision> {
      const verdict = await gate.check({
        key: req.key,
        clientIp: req.clientIp,
        originId: req.originId,
        via: "in-process",
      });
      return verdict.ok ? { ok: true, name: verdict.name } : { ok: false, reason: verdict.message };
    },
  };
}
