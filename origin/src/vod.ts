/**
 * VOD playlists for `KEEP_HLS=true`: when a broadcast ends, its HLS segments stay on disk and
 * `MEDIA_ROOT/{name}/vod.m3u8` lists all of them (`#EXT-X-PLAYLIST-TYPE:VOD`, every segment
 * from the first, `#EXT-X-ENDLIST`), next to a copy named after the broadcast's first
 * segment, `vod-{sequence}.m3u8`, which a later broadcast on the same name does not replace.
 * Segment URLs never repeat across broadcasts (time-based sequence numbers), so both
 * playlists stay valid side by side and every segment stays cacheable as immutable.
 *
 * The packager owns a `VodLog` per channel: `add()` every segment it publishes, `write()`
 * when the publisher stops (again after a republish within the grace period, which
 * continues the same broadcast after a discontinuity), `reset()` when the broadcast is over.
 * Writing is atomic (temp file, then rename), like the live playlist.
 */

import { join } from "node:path";
import {
  type LivePlaylist,
  type PlaylistSegment,
  renderPlaylist,
} from "@cascade/media/hls/playlist";
import { TEMP_SUFFIX, VOD_PLAYLIST, vodPlaylistName } from "@cascade/media/hls/layout";

/** What a VOD playlist needs of a segment (the segmenter's `SegmentInfo` is one). */
export interface VodSegment extends PlaylistSegment {
  /** Starts with a keyframe (false after a forced cut); omitted → true. */
  independent?: boolean;
}

/**
 * The VOD playlist of `segments` (in order). The target duration is at least
 * `targetDuration` and at least every segment's rounded duration, as RFC 8216 §4.3.3.1
 * requires (the live target already is, so the VOD playlist keeps it);
 * `#EXT-X-INDEPENDENT-SEGMENTS` only when no segment was cut between keyframes. Throws
 * `RangeError` for no segments.
 */
export function vodPlaylist(segments: VodSegment[], targetDuration: number): LivePlaylist {
  if (segments.length === 0) throw new RangeError("Cannot make a VOD playlist: no segments");
  return {
    version: 3,
    targetDuration: vodTargetDuration(segments, targetDuration),
    mediaSequence: segments[0]!.sequence,
    discontinuitySequence: 0,
    independentSegments: segments.every((s) => s.independent !== false),
    playlistType: "VOD",
    segments: segments.map((s, i) => ({
      sequence: s.sequence,
      duration: s.duration,
      uri: s.uri,
      ...(s.programDateTime ? { programDateTime: s.programDateTime } : {}),
      // Nothing precedes the first segment of a VOD playlist to be discontinuous with.
      discontinuity: i > 0 && s.discontinuity,
    })),
    ended: true,
  };
}

/** At least `floor` and at least every segment's rounded duration. */
export function vodTargetDuration(segments: readonly VodSegment[], floor: number): number {
  let target = floor;
  for (const s of segments) target = Math.max(target, Math.round(s.duration));
  return target;
}

/**
 * Writes `vod-{first}.m3u8` and `vod.m3u8` into `dir`, each atomically. Returns the
 * per-broadcast name.
 */
export async function writeVodPlaylist(
  dir: string,
  segments: VodSegment[],
  targetDuration: number,
): Promise<string> {
  const text = renderPlaylist(vodPlaylist(segments, targetDuration));
  const name = vodPlaylistName(segments[0]!.sequence);
  for (const file of [name, VOD_PLAYLIST]) {
    const path = join(dir, file);
    await Deno.writeTextFile(`${path}${TEMP_SUFFIX}`, text);
    await Deno.rename(`${path}${TEMP_SUFFIX}`, path);
  }
  return name;
}

/** Every segment a broadcast published, for its VOD playlist. */
export class VodLog {
  #segments: VodSegment[] = [];

  get segments(): readonly VodSegment[] {
    return this.#segments;
  }

  /** A segment was published (after its file was renamed into place). */
  add(segment: VodSegment): void {
    this.#segments.push({
      sequence: segment.sequence,
      uri: segment.uri,
      duration: segment.duration,
      ...(segment.programDateTime ? { programDateTime: segment.programDateTime } : {}),
      discontinuity: segment.discontinuity,
      independent: segment.independent !== false,
    });
  }

  /** Writes the playlists when there is anything to list; returns the per-broadcast name. */
  async write(dir: string, targetDuration: number): Promise<string | undefined> {
    if (this.#segments.length === 0) return undefined;
    return await writeVodPlaylist(dir, this.#segments, targetDuration);
  }

  /** The broadcast is over; the next one starts a new list. */
  reset(): void {
    this.#segments = [];
  }
}
