/**
 * A stream's final playlist after its release. An origin releases `stream:{name}` with the
 * playlist that gets `#EXT-X-ENDLIST`, usually before any edge has fetched that playlist, so
 * the edge would answer a watching player 404 and the player would never learn that the
 * broadcast ended. `Endings` remembers, per name, where the last live playlist a viewer got
 * came from; once the name is no longer live, that origin is asked once more, and a playlist
 * with `#EXT-X-ENDLIST` it answers (or one fetched before the release) is served, with its
 * segments, for `FINAL_TARGETS` target durations. A name nobody watched stays a 404.
 * A name's TS playlist (`index.m3u8`) and LL-HLS playlist (`ll.m3u8`, with its own files)
 * end apart (`endingKey`).
 */
import { LIVE_PLAYLIST, LL_PLAYLIST } from "@cascade/media/hls/layout";
import type { CachedObject } from "./cache.ts";
import type { MediaTarget } from "./paths.ts";
import { type Got, type Source, targetSeconds } from "./source.ts";

/** Target durations a final playlist stays available, and a watched name stays eligible. */
export const FINAL_TARGETS = 3;

/** Names remembered at once, in each map; the oldest go first beyond it. */
const MAX_NAMES = 10_000;

interface Watched {
  source: Source;
  /** Epoch milliseconds until which the name counts as watched. */
  until: number;
}

/** A stream's final playlist and where it came from. */
export interface Final {
  obj: CachedObject;
  source: Source;
  until: number;
}

export class Endings {
  readonly #watched = new Map<string, Watched>();
  readonly #finals = new Map<string, Final>();

  /** A live playlist of `name` was served at `now`; one with `#EXT-X-ENDLIST` is kept. */
  served(name: string, got: Got, now: number): void {
    const obj = got.obj;
    if (obj === null) return;
    const until = now + FINAL_TARGETS * targetSeconds(obj, got.source) * 1000;
    if (obj.ended) bounded(this.#finals, name, { obj, source: got.source, until });
    bounded(this.#watched, name, { source: got.source, until });
  }

  /** The final playlist of `name` still available at `now`, if any. */
  final(name: string, now: number): Final | null {
    const final = this.#finals.get(name);
    if (final === undefined) return null;
    if (final.until > now) return final;
    this.#finals.delete(name);
    return null;
  }

  /** Where `name`'s final playlist may still be found at `now`: the last origin it was served from. */
  watchedSource(name: string, now: number): Source | null {
    const watched = this.#watched.get(name);
    if (watched === undefined) return null;
    if (watched.until > now) return watched.source;
    this.#watched.delete(name);
    return null;
  }

  /** That origin had no final playlist: `name` is not asked about again. */
  forget(name: string): void {
    this.#watched.delete(name);
  }
}

/** A live playlist whose viewers should see its broadcast end. */
export function watched(target: MediaTarget): boolean {
  return target.file === LIVE_PLAYLIST || target.ll?.kind === "playlist";
}

/** The key `target`'s ending is kept under: the name, or the name's LL-HLS playlist. */
export function endingKey(target: MediaTarget): string {
  return target.ll === undefined ? target.name : `${target.name}/${LL_PLAYLIST}`;
}

function bounded<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_NAMES) map.delete(map.keys().next().value!);
}
