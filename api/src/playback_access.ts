/**
 * Who may be handed signed playback URLs. A playback token protects nothing if the API
 * signs one for whoever asks, so with `PLAYBACK_SIGNING_KEY` set the API signs only for a
 * caller presenting `Authorization: Bearer PLAYBACK_API_TOKEN` (a token that can do nothing
 * else, for the operator's backend) or the admin token; that backend decides who may watch
 * and passes the signed URL on. Anonymous callers still see which streams are live, without
 * URLs. Without a signing key playback is open and nobody needs a token. A wrong token is
 * refused (401) and counted in the `playback` realm of the failure limiter, apart from the
 * admin and hook realms; a missing one is not a guess and is not counted.
 */
import type { Context } from "hono";
import { HttpError } from "@cascade/common/http_errors";
import type { Counter } from "@cascade/common/metrics";
import { safeEqual } from "@cascade/common/secrets";
import type { ClientIpFn } from "./auth.ts";
import type { FailureLimiter } from "./rate_limit.ts";

/**
 * `open`: no signing key, plain URLs for everyone; `signed`: the caller may be given signed
 * URLs; `anonymous`: signing is on and the caller presented no token.
 */
export type PlaybackAccess = "open" | "signed" | "anonymous";

export interface PlaybackAccessOptions {
  signingKey: string | undefined;
  /** `PLAYBACK_API_TOKEN`. */
  playbackToken: string | undefined;
  /** `API_ADMIN_TOKEN`, accepted as well. */
  adminToken: string | undefined;
  limiter: FailureLimiter;
  clientIp: ClientIpFn;
  /** Counts refused tokens, labelled with the realm. */
  failures?: Counter;
}

const REALM = "playback";
const BEARER_RE = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;
const CHALLENGE = { "WWW-Authenticate": `Bearer realm="${REALM}"` };

/** The 401 of a caller that asked for a playback URL without a token while signing is on. */
export function signedLinkRequired(): HttpError {
  return new HttpError(
    401,
    "signed_playback",
    "Playback signing is on: playback URLs are issued only with Authorization: Bearer " +
      "PLAYBACK_API_TOKEN (or API_ADMIN_TOKEN), to the operator's site, which gives its " +
      "viewers signed links",
    { headers: CHALLENGE },
  );
}

/** Builds the check, reading its options once; see the module comment. */
export function playbackAccess(
  opts: PlaybackAccessOptions,
): (c: Context) => Promise<PlaybackAccess> {
  const accepted = [opts.playbackToken, opts.adminToken].filter((t) => t !== undefined);
  const failures = opts.failures?.labels(REALM);
  return async (c) => {
    if (opts.signingKey === undefined) return "open";
    const header = c.req.header("authorization");
    if (header === undefined || header === "") return "anonymous";
    if (accepted.length === 0) {
      throw new HttpError(
        503,
        "not_configured",
        "Refused: set PLAYBACK_API_TOKEN (or API_ADMIN_TOKEN) to issue signed playback URLs",
      );
    }
    const bucket = `${REALM}:${opts.clientIp(c) || "unknown"}`;
    const waitMs = opts.limiter.retryAfterMs(bucket);
    if (waitMs > 0) {
      throw new HttpError(429, "too_many_requests", "Too many failed attempts, try again later", {
        headers: { "Retry-After": String(Math.ceil(waitMs / 1000)) },
      });
    }
    const presented = BEARER_RE.exec(header)?.[1] ?? "";
    // Every accepted token is compared, so the time taken does not say which one matched.
    const matches = await Promise.all(accepted.map((token) => safeEqual(presented, token)));
    if (!matches.includes(true)) {
      opts.limiter.fail(bucket);
      failures?.inc();
      throw new HttpError(
        401,
        "unauthorized",
        "Invalid token: expected PLAYBACK_API_TOKEN or API_ADMIN_TOKEN",
        { headers: CHALLENGE },
      );
    }
    return "signed";
  };
}
