/**
 * Segment availability latency from what the RTMP tap and the playlist watchers saw, and the
 * small statistics the report needs.
 *
 * A live packager cuts a segment at a video keyframe, so segment k ends where the keyframe
 * that starts segment k+1 begins. Adding up the `#EXTINF` durations from the first keyframe
 * the publisher sent gives that keyframe's timestamp; snapping the sum to the nearest keyframe
 * the tap saw (and continuing from there) keeps rounding from accumulating. The segment's
 * last frame is the video frame sent just before that keyframe, and its latency is the time
 * from that frame leaving the publisher to the first sighting of a playlist that lists the
 * segment. It includes one frame interval (33 ms at 30 fps) that no keyframe-cutting
 * packager can avoid, since it must see the next keyframe to know the segment ended; the
 * time after that keyframe left (`afterCutMs`) is the server's own part.
 */
import type { Listing } from "./listings.ts";
import type { FrameDeparture } from "./rtmp_tap.ts";

export interface SegmentLatency {
  sequence: number;
  /** From the segment's last video frame leaving the publisher to the listing, ms. */
  afterLastFrameMs: number;
  /** From the keyframe that ended the segment leaving the publisher to the listing, ms. */
  afterCutMs: number;
}

/** A computed segment end within this distance of a keyframe is taken to be that keyframe. */
const SNAP_MS = 50;

/** Latency of every listed segment whose end the tap saw; `listings` in sequence order. */
export function segmentLatencies(frames: FrameDeparture[], listings: Listing[]): SegmentLatency[] {
  const keyIndexes: number[] = [];
  frames.forEach((f, i) => f.keyframe && keyIndexes.push(i));
  if (keyIndexes.length === 0) return [];
  const out: SegmentLatency[] = [];
  let end = frames[keyIndexes[0]!]!.dts;
  let searchFrom = 1;
  let previous: number | undefined;
  for (const listing of listings) {
    // A gap in the sequence means a segment was never seen: the sum no longer holds.
    if (previous !== undefined && listing.sequence !== previous + 1) break;
    previous = listing.sequence;
    end += Math.round(listing.duration * 1000);
    let k = searchFrom;
    while (k < keyIndexes.length && frames[keyIndexes[k]!]!.dts < end - SNAP_MS) k++;
    // The last segment of a broadcast ends without a keyframe after it: nothing to measure.
    if (k >= keyIndexes.length || Math.abs(frames[keyIndexes[k]!]!.dts - end) > SNAP_MS) continue;
    searchFrom = k + 1;
    const cutIndex = keyIndexes[k]!;
    const cut = frames[cutIndex]!;
    end = cut.dts;
    let lastIndex = cutIndex - 1;
    while (lastIndex >= 0 && frames[lastIndex]!.dts >= cut.dts) lastIndex--;
    if (lastIndex < 0) continue;
    out.push({
      sequence: listing.sequence,
      afterLastFrameMs: listing.at - frames[lastIndex]!.at,
      afterCutMs: listing.at - cut.at,
    });
  }
  return out;
}

/** Nearest-rank percentile `p` (0–100) of `values`; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  return {
    count: values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.length === 0 ? NaN : Math.max(...values),
  };
}
