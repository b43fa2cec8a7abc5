/**
 * Throttling of repeated authentication failures: after `limit` failures from one key (an
 * address, with a namespace such as `token:` or `key:`) within `windowMs`, that key is
 * refused for `windowMs` whatever it presents, which makes guessing tokens or stream keys
 * hopeless without locking out anyone else. Memory is bounded: beyond `maxEntries` keys
 * the expired ones and then the oldest are forgotten.
 */

export interface FailureLimiterOptions {
  /** Failures allowed within `windowMs` before blocking. */
  limit: number;
  windowMs: number;
  /** Most keys remembered (default 10 000). */
  maxEntries?: number;
  /** Clock in epoch milliseconds (default `Date.now`). */
  now?: () => number;
}

interface Entry {
  /** Failures since `since`. */
  count: number;
  since: number;
  /** Refused until this time; 0 when not blocked. */
  blockedUntil: number;
}

export class FailureLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();

  constructor(opts: FailureLimiterOptions) {
    if (!Number.isInteger(opts.limit) || opts.limit < 1) {
      throw new RangeError(`Invalid failure limit: ${opts.limit}`);
    }
    if (!(opts.windowMs > 0)) throw new RangeError(`Invalid failure window: ${opts.windowMs} ms`);
    this.#limit = opts.limit;
    this.#windowMs = opts.windowMs;
    this.#maxEntries = opts.maxEntries ?? 10_000;
    this.#now = opts.now ?? Date.now;
  }

  /** Milliseconds until `key` may try again; 0 when it may try now. */
  retryAfterMs(key: string): number {
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    return Math.max(0, entry.blockedUntil - this.#now());
  }

  /** Records one failure of `key`. */
  fail(key: string): void {
    const now = this.#now();
    let entry = this.#entries.get(key);
    if (entry === undefined || this.#expired(entry, now)) {
      this.#entries.delete(key);
      entry = { count: 0, since: now, blockedUntil: 0 };
      this.#makeRoom(now);
      this.#entries.set(key, entry);
    }
    entry.count++;
    if (entry.count >= this.#limit && entry.blockedUntil <= now) {
      entry.blockedUntil = now + this.#windowMs;
    }
  }

  /** Keys currently remembered (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  #expired(entry: Entry, now: number): boolean {
    return entry.blockedUntil <= now && entry.since + this.#windowMs <= now;
  }

  #makeRoom(now: number): void {
    if (this.#entries.size < this.#maxEntries) return;
    for (const [key, entry] of this.#entries) {
      if (this.#expired(entry, now)) this.#entries.delete(key);
    }
    // Map order is insertion order: the first keys are the longest remembered.
    for (const key of this.#entries.keys()) {
      if (this.#entries.size < this.#maxEntries) break;
      this.#entries.delete(key);
    }
  }
}
