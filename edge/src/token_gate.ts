/**
 * The playback-token gate: with `PLAYBACK_SIGNING_KEY` set, every media request must carry
 * a `?token=` the API signed for that stream and that has not expired, or it is refused with
 * 403 before the registry or an origin is asked anything. Verified tokens are remembered
 * until they expire (a bounded memo, cleared when full), so steady viewers cost no HMAC per
 * request. A token for a stream also plays its renditions (`{name}_{rung}`, reached from the
 * master playlist). Without a key the gate lets everything through.
 */
import { HttpError } from "@cascade/common/http_errors";
import { verifyPlaybackToken } from "@cascade/common/playback_token";
import { sourceOf } from "@cascade/common/renditions";
import type { MediaTarget } from "./paths.ts";

/** Verified tokens remembered, so steady viewers cost no HMAC per request. */
const TOKEN_MEMO_LIMIT = 10_000;

export class TokenGate {
  readonly #key: string | undefined;
  readonly #now: () => number;
  /** `"{name} {token}"` → the token's expiry, epoch seconds. */
  readonly #verified = new Map<string, number>();

  /** `now` is the wall clock in epoch milliseconds. */
  constructor(signingKey: string | undefined, now: () => number) {
    this.#key = signingKey;
    this.#now = now;
  }

  /** Playback needs a token: playlists are rewritten to carry it on every URI. */
  get signed(): boolean {
    return this.#key !== undefined;
  }

  /** Throws a 403 `HttpError` unless `target` may be played. */
  async authorize(target: MediaTarget): Promise<void> {
    const key = this.#key;
    if (key === undefined) return;
    const token = target.token;
    if (token === null || token === "") {
      throw new HttpError(
        403,
        "token_required",
        "Playback token required: use the API's playback URL",
      );
    }
    const now = this.#now();
    const memoKey = `${target.name} ${token}`;
    const expires = this.#verified.get(memoKey);
    if (expires !== undefined && expires * 1000 + 999 >= now) return;
    // A token for a stream also plays its renditions: the master playlist sends players there.
    const source = sourceOf(target.name)?.source;
    let check = await verifyPlaybackToken(key, target.name, token, now);
    if (!check.valid && check.reason === "signature" && source !== undefined) {
      check = await verifyPlaybackToken(key, source, token, now);
    }
    if (!check.valid) {
      if (check.reason === "expired") {
        throw new HttpError(
          403,
          "token_expired",
          "Playback token expired: ask the API for a new URL",
        );
      }
      throw new HttpError(403, "token_invalid", "Playback token invalid for this stream");
    }
    if (this.#verified.size >= TOKEN_MEMO_LIMIT) this.#verified.clear();
    this.#verified.set(memoKey, check.expiresAt);
  }
}
