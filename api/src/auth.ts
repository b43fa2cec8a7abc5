/**
 * Token checks for the admin routes and the publish hooks, as middleware factories that
 * read their options once. Tokens are compared in constant time and never logged; an
 * address that keeps failing is answered 429 until its window passes (see `rate_limit.ts`),
 * and routes whose token is not configured refuse everything with 503 saying which
 * variable to set.
 */
import type { Context, MiddlewareHandler } from "hono";
import { HttpError } from "@cascade/common/http_errors";
import type { Counter, MetricsRegistry } from "@cascade/common/metrics";
import { safeEqual } from "@cascade/common/secrets";
import type { FailureLimiter } from "./rate_limit.ts";

/** The address a request came from, as the rate limiter and region lookup see it. */
export type ClientIpFn = (c: Context) => string;

/**
 * Reads the peer address Deno's server passes as `c.env.remoteAddr`; with `trustProxy`,
 * the last `X-Forwarded-For` hop instead (the one the trusted proxy appended).
 */
export function clientIpResolver(trustProxy: boolean): ClientIpFn {
  return (c) => {
    if (trustProxy) {
      const hops = c.req.header("x-forwarded-for")?.split(",");
      const last = hops?.[hops.length - 1]?.trim();
      if (last) return last;
    }
    const env = c.env as { remoteAddr?: { hostname?: unknown } } | undefined;
    const host = env?.remoteAddr?.hostname;
    return typeof host === "string" ? host : "";
  };
}

export interface TokenGuardOptions {
  /** The expected token; undefined → every request is refused with 503. */
  token: string | undefined;
  /** The variable that sets it, named in the 503 answer. */
  variable: string;
  /** `bearer`: `Authorization: Bearer …`; `query`: `?token=…` (nginx-rtmp hooks). */
  source: "bearer" | "query";
  realm: string;
  limiter: FailureLimiter;
  clientIp: ClientIpFn;
  /** Counts refused tokens. */
  failures?: Counter;
}

/** Refused tokens by realm; one counter for every guard on `metrics`. */
export function authFailures(metrics: MetricsRegistry): Counter {
  return metrics.counter(
    "cascade_api_auth_failures_total",
    "Requests refused for a missing or wrong token, by realm",
    ["realm"],
  );
}

const BEARER_RE = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** Middleware that lets a request through only with the configured token. */
export function tokenGuard(opts: TokenGuardOptions): MiddlewareHandler {
  const challenge = { "WWW-Authenticate": `Bearer realm="${opts.realm}"` };
  const failures = opts.failures?.labels(opts.realm);
  return async (c, next) => {
    if (opts.token === undefined) {
      throw new HttpError(503, "not_configured", `Refused: set ${opts.variable} to enable`);
    }
    // One bucket per realm: failed admin logins never throttle an origin's publish hooks.
    const bucket = `${opts.realm}:${opts.clientIp(c) || "unknown"}`;
    const waitMs = opts.limiter.retryAfterMs(bucket);
    if (waitMs > 0) {
      throw new HttpError(429, "too_many_requests", "Too many failed attempts, try again later", {
        headers: { "Retry-After": String(Math.ceil(waitMs / 1000)) },
      });
    }
    const presented = opts.source === "bearer"
      ? BEARER_RE.exec(c.req.header("authorization") ?? "")?.[1]
      : c.req.query("token");
    if (presented === undefined || presented === "") {
      opts.limiter.fail(bucket);
      failures?.inc();
      const where = opts.source === "bearer" ? "Authorization: Bearer header" : "token parameter";
      throw new HttpError(401, "unauthorized", `Missing ${where}`, { headers: challenge });
    }
    if (!(await safeEqual(presented, opts.token))) {
      opts.limiter.fail(bucket);
      failures?.inc();
      throw new HttpError(401, "unauthorized", "Invalid token", { headers: challenge });
    }
    await next();
  };
}
