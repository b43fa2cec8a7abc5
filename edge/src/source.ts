/**
 * Where a media file comes from and how long a copy of it stays good. A `Source` names the
 * origin to fetch from and the broadcast whose cache entries the file belongs to: a live
 * claim (`stream:{name}`) or a finished broadcast kept for VOD (`vod:{name}`). The target
 * duration bounds everything time-based about a live file (playlist freshness, `max-age`,
 * how long a stale playlist may stand in); a finished VOD playlist has a fixed lifetime.
 */
import type { StreamRecord, VodRecord } from "@cascade/registry";
import { broadcastKey, type CachedObject, type CacheResult, vodBroadcastKey } from "./cache.ts";

/** Where a file is fetched from: an origin, and the broadcast that names its cache entries. */
export interface Source {
  originId: string;
  originUrl: string;
  /** `broadcastKey` of a live claim or `vodBroadcastKey` of a VOD record. */
  broadcast: string;
  /** The registry's target duration, seconds: used until a playlist gives one. */
  targetDuration: number;
  /** A live claim, whose segments leave the window as the playlist moves on. */
  live: boolean;
}

/** What a media request was answered from; `obj` is null when the origin has no such file. */
export interface Got {
  obj: CachedObject | null;
  result: CacheResult;
  source: Source;
}

/**
 * Freshness and `max-age` of a finished VOD playlist. Its cache key changes with every write
 * the registry reports; the bound covers a rewrite the edge has not heard of yet.
 */
export const VOD_PLAYLIST_SECONDS = 60;

/** Target duration assumed when neither the playlist nor the registry gives one. */
const FALLBACK_TARGET_SECONDS = 2;

type Origin = Pick<StreamRecord | VodRecord, "originId" | "originUrl" | "targetDuration">;

function sourceOf(record: Origin, broadcast: string, live: boolean): Source {
  return {
    originId: record.originId,
    originUrl: record.originUrl,
    broadcast,
    targetDuration: record.targetDuration,
    live,
  };
}

/** The source of a live stream's files. */
export function liveSource(record: StreamRecord): Source {
  return sourceOf(record, broadcastKey(record), true);
}

/** The source of a finished broadcast's files. */
export function vodSource(record: VodRecord): Source {
  return sourceOf(record, vodBroadcastKey(record), false);
}

/** The target duration that applies to `obj`, seconds: its playlist's, else the registry's. */
export function targetSeconds(obj: CachedObject, source: Source): number {
  const t = obj.targetDuration ?? source.targetDuration;
  return t > 0 ? t : FALLBACK_TARGET_SECONDS;
}
