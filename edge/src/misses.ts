/**
 * Origin 404s remembered for a moment. Requests for files an origin does not have (segment
 * numbers that never existed, or left the window long ago) would otherwise each cost an
 * origin request: concurrent ones already share one fetch (`Coalescer`), and the answer is
 * then kept for `missMs` — at most `MAX_MISS_MS`, at most half a target duration, so a file
 * that appears is seen soon — and forgotten as soon as a playlist lists the file.
 */
import { cacheKey } from "./cache.ts";
import type { Source } from "./source.ts";

/** Longest time an origin 404 is remembered. */
export const MAX_MISS_MS = 1000;

/** Misses remembered at once; the oldest go first beyond it. */
const MAX_MISSES = 10_000;

/** How long a 404 from `source` is remembered, milliseconds. */
export function missMs(source: Source): number {
  return source.targetDuration > 0
    ? Math.min(MAX_MISS_MS, (source.targetDuration * 1000) / 2)
    : MAX_MISS_MS;
}

export class Misses {
  /** Cache key → epoch milliseconds until which the origin's 404 stands. */
  readonly #until = new Map<string, number>();

  /** The origin answered 404 for `key` (a `cacheKey`); remembered until `until`. */
  add(key: string, until: number): void {
    this.#until.delete(key);
    this.#until.set(key, until);
    if (this.#until.size > MAX_MISSES) this.#until.delete(this.#until.keys().next().value!);
  }

  /** True while a 404 for `key` stands at `now`. */
  has(key: string, now: number): boolean {
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > now) return true;
    this.#until.delete(key);
    return false;
  }

  /** A playlist of `broadcast` was fetched: the files it lists exist now. */
  listed(broadcast: string, playlist: string): void {
    if (this.#until.size === 0) return;
    for (const line of playlist.split("\n")) {
      const uri = line.trim();
      if (uri !== "" && !uri.startsWith("#")) this.#until.delete(cacheKey(broadcast, uri));
    }
  }

  /** Misses held, for tests and metrics. */
  get size(): number {
    return this.#until.size;
  }
}
