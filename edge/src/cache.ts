/**
 * The edge's memory: a byte-bounded LRU of fetched objects and a map of fetches in flight
 * that concurrent misses share, so N viewers asking for one cold segment or playlist cause
 * one origin request. Keys name the broadcast as well as the file (`cacheKey`): the origin
 * that serves it, that origin's URL and when the broadcast started (for a VOD, when its
 * playlist was written), so two broadcasts of one name, or two origins, never share an entry.
 */
import type { StreamRecord, VodRecord } from "@cascade/registry/types";
import { LL_PLAYLIST, SEGMENT_FILE_RE } from "@cascade/media/hls/layout";

/** How a response was produced, as reported in `X-Cache`. */
export type CacheResult = "HIT" | "MISS" | "COALESCED" | "STALE";

/** Bytes charged per entry on top of its body: key, headers and bookkeeping. */
export const ENTRY_OVERHEAD_BYTES = 256;

/** A fetched object the edge serves from memory. */
export interface CachedObject {
  body: Uint8Array<ArrayBuffer>;
  /** Epoch milliseconds of the origin response. */
  fetchedAt: number;
  /** Strong validator, quoted. */
  etag: string;
  /** The playlist text `body` encodes (playlists only). */
  text?: string;
  /** `#EXT-X-TARGETDURATION` for playlists, an LL-HLS part's `PART-TARGET`, seconds. */
  targetDuration?: number;
  /** A VOD playlist (`vod.m3u8`, `vod-{n}.m3u8`) with `#EXT-X-ENDLIST`: it no longer grows. */
  finished?: boolean;
  /** A live playlist with `#EXT-X-ENDLIST`: its broadcast's last one. */
  ended?: boolean;
  /**
   * A live playlist: the sequence number its first segment's file name carries (`ll.m3u8`:
   * its media sequence, which its part and segment names carry).
   */
  oldestSegment?: number;
  /**
   * An LL-HLS blocking playlist answer: seconds it stays valid from `fetchedAt` (the
   * origin's `max-age`). A given directive URL never names a different answer, so neither
   * freshness rules nor `stream.update` shorten it.
   */
  maxAge?: number;
}

/** The part of a cache key that names one broadcast of one stream on one origin. */
export function broadcastKey(record: StreamRecord): string {
  return `${record.originId}|${record.originUrl}|${record.startedAt}|${record.name}`;
}

/** The part of a cache key that names a finished broadcast kept for VOD on one origin. */
export function vodBroadcastKey(record: VodRecord): string {
  return `vod|${record.originId}|${record.originUrl}|${record.updatedAt}|${record.name}`;
}

/** The cache key of `file` in the broadcast `broadcast` names (`broadcastKey`, `vodBroadcastKey`). */
export function cacheKey(broadcast: string, file: string): string {
  return `${broadcast}/${file}`;
}

/** Cost of an entry against the byte budget. */
export function entrySize(key: string, value: CachedObject): number {
  return value.body.byteLength + key.length * 2 + ENTRY_OVERHEAD_BYTES;
}

/**
 * A least-recently-used map bounded by the total size of its values. `Map` keeps insertion
 * order, so re-inserting on use makes the first key the least recently used one.
 */
export class ByteLru<V> {
  readonly maxBytes: number;
  readonly #sizeOf: (key: string, value: V) => number;
  readonly #entries = new Map<string, { value: V; size: number }>();
  #bytes = 0;
  /** Entries dropped to make room since creation. */
  evictions = 0;

  constructor(maxBytes: number, sizeOf: (key: string, value: V) => number) {
    if (!Number.isFinite(maxBytes) || maxBytes <= 0) {
      throw new RangeError(`Invalid cache size: ${maxBytes} bytes`);
    }
    this.maxBytes = maxBytes;
    this.#sizeOf = sizeOf;
  }

  /** Bytes charged for the entries held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Number of entries held. */
  get size(): number {
    return this.#entries.size;
  }

  /** The value of `key`, marked as most recently used. */
  get(key: string): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** The value of `key` without touching its recency. */
  peek(key: string): V | undefined {
    return this.#entries.get(key)?.value;
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * Stores `value` as the most recently used entry, evicting the least recently used ones
   * until it fits. Returns false (and stores nothing) when it alone exceeds the budget.
   */
  set(key: string, value: V): boolean {
    const size = this.#sizeOf(key, value);
    this.delete(key);
    if (size > this.maxBytes) return false;
    while (this.#bytes + size > this.maxBytes) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.delete(oldest.value);
      this.evictions++;
    }
    this.#entries.set(key, { value, size });
    this.#bytes += size;
    return true;
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    this.#entries.delete(key);
    this.#bytes -= entry.size;
    return true;
  }

  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
  }

  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }
}

/** One caller's share of a coalesced operation. */
export interface Joined<T> {
  promise: Promise<T>;
  /** This caller started the operation (a miss); otherwise it joined one in flight. */
  leader: boolean;
}

/**
 * Runs at most one operation per key at a time: callers that ask while one is in flight get
 * its promise. The entry is removed once the operation settles, so a failure is shared by
 * the callers that waited for it but never remembered; the operation itself stores its
 * result (e.g. in a `ByteLru`) before settling, so no later caller finds neither.
 */
export class Coalescer<T> {
  readonly #flights = new Map<string, Promise<T>>();

  run(key: string, operation: () => Promise<T>): Joined<T> {
    const current = this.#flights.get(key);
    if (current !== undefined) return { promise: current, leader: false };
    const promise = (async () => await operation())();
    this.#flights.set(key, promise);
    const forget = () => {
      if (this.#flights.get(key) === promise) this.#flights.delete(key);
    };
    promise.then(forget, forget);
    return { promise, leader: true };
  }

  /** Operations in flight. */
  get size(): number {
    return this.#flights.size;
  }
}

/**
 * The live segments the cache holds, per broadcast, so that those which left their
 * playlist's window (plus `graceSegments` for players still on the previous playlist) can
 * be dropped the moment a newer playlist arrives. Without it, segments no viewer will ask
 * for again sit in the cache until the byte budget pushes them out, and the edge's memory
 * follows the cache cap instead of the live windows. The TS files and the LL-HLS parts and
 * segments of a broadcast are numbered apart, so each has its own window, moved by its own
 * playlist (`index.m3u8`, `ll.m3u8`).
 */
/** Windows `LiveWindows` remembers at once. */
const MAX_WINDOWS = 4096;

/** The media sequence number in an LL-HLS part or segment name (`LL_FILE_RE`). */
const LL_MEDIA_RE = /^[0-9a-z]+_(?:p(\d+)\.\d+|s(\d+))\.m4s$/;

export class LiveWindows {
  readonly graceSegments: number;
  /** Window (`#windowOf`) → file name → its media sequence number. */
  readonly #held = new Map<string, Map<string, number>>();

  constructor(graceSegments: number) {
    this.graceSegments = graceSegments;
  }

  /**
   * `obj`, file `file` of the live broadcast `broadcast`, was stored in `cache`: a segment or
   * part is remembered; a playlist drops from `cache` the files it left behind. Returns how
   * many.
   */
  noteStored(
    cache: ByteLru<CachedObject>,
    broadcast: string,
    file: string,
    obj: CachedObject,
  ): number {
    if (SEGMENT_FILE_RE.test(file)) {
      this.#stored(broadcast, file, parseInt(file, 10));
      return 0;
    }
    const ll = LL_MEDIA_RE.exec(file);
    if (ll !== null) {
      this.#stored(`${broadcast} ll`, file, Number(ll[1] ?? ll[2]));
      return 0;
    }
    if (obj.oldestSegment === undefined) return 0;
    const window = file === LL_PLAYLIST ? `${broadcast} ll` : broadcast;
    const gone = this.#expired(window, obj.oldestSegment);
    for (const name of gone) cache.delete(cacheKey(broadcast, name));
    return gone.length;
  }

  /** `file`, of media sequence `sequence`, was stored in `window`. */
  #stored(window: string, file: string, sequence: number): void {
    let held = this.#held.get(window);
    if (held === undefined) {
      // Ended broadcasts leave their last window here; the oldest go first beyond the bound.
      if (this.#held.size >= MAX_WINDOWS) this.#held.delete(this.#held.keys().next().value!);
      this.#held.set(window, held = new Map());
    }
    held.set(file, sequence);
  }

  /**
   * A playlist of `window` whose first segment is `oldest` was stored: returns the held
   * files that left the window, and forgets them.
   */
  #expired(window: string, oldest: number): string[] {
    const held = this.#held.get(window);
    if (held === undefined) return [];
    const below = oldest - this.graceSegments;
    const gone: string[] = [];
    for (const [file, sequence] of held) {
      if (sequence < below) gone.push(file);
    }
    for (const file of gone) held.delete(file);
    if (held.size === 0) this.#held.delete(window);
    return gone;
  }
}
