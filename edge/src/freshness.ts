/**
 * How long a cached object may be served without asking the origin again. Segments and
 * LL-HLS init sections, parts and segments never change (their URIs are never reused). A
 * finished VOD playlist lasts `VOD_PLAYLIST_SECONDS`. An LL-HLS blocking answer lasts the
 * `max-age` its origin gave it, since a given directive URL always names the same answer
 * (RFC 8216bis §6.2.5.2), so `stream.update` never discards it; so does a thumbnail (capped at
 * `THUMBNAIL_MAX_AGE_SECONDS`). Any other live playlist
 * (`index.m3u8`) is fresh for `playlistFreshMs` and never longer than half a target duration,
 * and is stale at once when `stream.update` says the origin wrote a newer one. `ll.m3u8`
 * without directives, where players start, is fresh for `LL_START_FRESH_MS` only: less than a
 * part, so a player never starts further behind live than the origin would start it.
 */
import type { CachedObject } from "./cache.ts";
import type { MediaTarget } from "./paths.ts";
import { type Source, targetSeconds, VOD_PLAYLIST_SECONDS } from "./source.ts";

/** Freshness of `ll.m3u8` without directives: below the shortest part target (0.2 s). */
export const LL_START_FRESH_MS = 100;

export class Freshness {
  readonly #playlistFreshMs: number;
  readonly #now: () => number;
  /** When `stream.update` last said a name's playlist changed: older cached copies are stale. */
  readonly #changedAt = new Map<string, number>();

  /** `now` is the wall clock, epoch milliseconds. */
  constructor(playlistFreshMs: number, now: () => number) {
    this.#playlistFreshMs = playlistFreshMs;
    this.#now = now;
  }

  /** `stream.update`: the origin wrote a newer playlist of `name` just now. */
  changed(name: string): void {
    this.#changedAt.set(name, this.#now());
  }

  /** `name` is down or no longer followed: nothing to remember about it. */
  forget(name: string): void {
    this.#changedAt.delete(name);
  }

  /** True while `obj`, cached for `target` from `source`, may be served as it is. */
  fresh(target: MediaTarget, obj: CachedObject, source: Source): boolean {
    const age = this.#now() - obj.fetchedAt;
    if (target.picture) return age < (obj.maxAge ?? 0) * 1000;
    if (target.kind === "segment") return true;
    if (obj.finished) return age < VOD_PLAYLIST_SECONDS * 1000;
    // A player's first `ll.m3u8` (no directives) sets where it starts: a copy older than a
    // part would start it that much further behind live for good (hls.js does not catch up).
    const ll = target.ll;
    if (ll?.kind === "playlist" && !ll.blocking) return age < LL_START_FRESH_MS;
    if (obj.maxAge !== undefined) return age < obj.maxAge * 1000;
    const changedAt = this.#changedAt.get(target.name);
    if (changedAt !== undefined && changedAt >= obj.fetchedAt) return false;
    return age < Math.min(this.#playlistFreshMs, (targetSeconds(obj, source) * 1000) / 2);
  }
}
