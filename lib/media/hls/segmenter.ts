/**
 * The decisions of the live HLS packager, without its bytes: where segments are cut, how
 * long each one is, which sequence number and wall-clock time it carries, which ones the
 * sliding window still lists, and where discontinuities go. The origin feeds it every
 * frame before writing that frame, acts on the answer (open a new `{seq}.ts`, finish the
 * old one, rewrite the playlist, schedule deletions) and owns the MPEG-TS muxer and files.
 *
 * Use: `push(frame, nowMs)` for every frame in order, then `write` says whether the frame
 * goes into the open segment (frames before the first keyframe are dropped), `started`
 * that this frame begins segment `started.sequence` (`cut` is true), and `closed` that the
 * previous segment is complete and now listed, so the playlist should be rewritten.
 * `finish()` closes the open segment when the publisher stops; `discontinuity()` does the
 * same when the codecs or tracks change; either way the next segment is a new timeline and
 * carries `#EXT-X-DISCONTINUITY`. `end()` also adds `#EXT-X-ENDLIST`; a frame pushed after
 * it resumes the playlist with a discontinuity. `takeExpired()` hands out the segments
 * that left the window, to be deleted after a grace period. Clock values come from the
 * caller, so the segmenter stays pure.
 *
 * Cutting: a segment starts at a video keyframe (any audio frame when there is no video)
 * once `segmentSeconds` have passed since its start, measured on that track's dts. RFC 8216
 * §6.2.1 forbids changing `#EXT-X-TARGETDURATION`, and §4.3.3.1 requires every duration,
 * rounded to the nearest second, to be at most it; encoders' keyframe intervals range from
 * 1 s to OBS's default of about 8.3 s. So the target is learned: the configured one
 * (default `ceil(segmentSeconds) + 1`, 3 s for 2 s segments) is a floor, and when the first
 * segment closes — before the first playlist is published — a first GOP longer than the
 * floor (by more than 0.1 s) makes the target that GOP's length rounded up plus a second
 * (`ceil(gop - 0.1 s) + 1`: 6 for a 5 s GOP, 10 for OBS's 8.33 s), never below the first
 * segment's rounded duration and at most `maxTargetDuration`. It never changes afterwards,
 * across republishes too. A GOP that fits the floor keeps it, so 2 s keyframes (2.002 s at
 * 29.97 fps) keep target 3 and the first playlist comes as early as ever.
 *
 * Waiting for `segmentSeconds` alone cannot keep a short GOP within the target either: with
 * a 1.9 s GOP the second keyframe comes at 3.8 s. So a keyframe also cuts early when waiting
 * one more keyframe interval (the longest of the last few) would take the segment past the
 * target duration, though never before half of `segmentSeconds`, so a scene-cut keyframe just
 * after a cut leaves no sliver. When the keyframes are later than the target allows anyway
 * (a GOP longer than the first, a dropped keyframe, a republish with a longer interval, or no
 * keyframe within `maxTargetDuration` for the first segment), a video frame that is no
 * keyframe is cut at as soon as one more frame step (the longest of the last few) would make
 * the segment round above the target. Such a segment does not start decodable on its own: it
 * is marked `independent: false`, and the playlist carries `#EXT-X-INDEPENDENT-SEGMENTS` only
 * while every segment it lists is independent; the next keyframe always cuts, to realign.
 * Should a single frame step still overshoot (timestamps jumping by more than the largest
 * frame step; the origin's `TimestampRebaser` removes those first), it is counted only up to
 * the limit, so no duration ever rounds above the target.
 *
 * Durations come from dts differences on the cutting track, summed frame by frame with
 * backward steps counted as zero, so a timestamp reset never yields a negative duration or
 * a segment that never ends. Program date times start from the caller's clock at the first
 * segment of each timeline and then advance by segment durations, so they agree with the
 * `#EXTINF` values a player adds up.
 */

import type { MediaFrame } from "../frame.ts";
import type { LivePlaylist, PlaylistSegment } from "./playlist.ts";
import { segmentFileName } from "./layout.ts";
import type { Continuation, OpenSegment, Renumbering, SegmentInfo } from "./segment.ts";

export type { Continuation, OpenSegment, Renumbering, SegmentInfo } from "./segment.ts";

/** Default upper bound of the learned target duration, seconds. */
export const DEFAULT_MAX_TARGET_SECONDS = 12;

export interface HlsSegmenterOptions {
  /** Seconds of media after which the next keyframe cuts; default 2. */
  segmentSeconds?: number;
  /**
   * Closed segments the playlist lists; default 6. The window holds more only while its
   * newest `listSize` segments span less than three target durations, since RFC 8216
   * §6.2.2 forbids removing a segment when that would leave less (short segments around
   * republishes, or a `listSize * segmentSeconds` below `3 * targetDuration`).
   */
  listSize?: number;
  /** Sequence number of the first segment; later segments count up from it. */
  firstSequence: number;
  /** Whether the stream has a video track, which then decides every cut. */
  hasVideo: boolean;
  /**
   * Lowest `#EXT-X-TARGETDURATION`, whole seconds, at least `ceil(segmentSeconds)`; default
   * `ceil(segmentSeconds) + 1`. The first segment may raise it (see above).
   */
  targetDuration?: number;
  /**
   * Highest target duration the first segment may set, whole seconds; default
   * `DEFAULT_MAX_TARGET_SECONDS`, and never below `targetDuration`.
   */
  maxTargetDuration?: number;
}

/** What the segmenter reads of a frame. */
export type SegmenterFrame = Pick<MediaFrame, "kind" | "dts" | "keyframe">;

export interface PushResult {
  /** Write the frame into the open segment; false while waiting for a first keyframe. */
  write: boolean;
  /** The frame begins a new segment, `started`; finish `closed` (if any) first. */
  cut: boolean;
  started?: OpenSegment;
  /** The segment this frame ended; it is now in `playlist()`. */
  closed?: SegmentInfo;
}

/** What `finish()`, `discontinuity()` and `end()` return. */
export interface CloseResult {
  closed?: SegmentInfo;
}

/** How many recent keyframe intervals the GOP estimate looks back over. */
const GOP_HISTORY = 4;
/** How many recent frame steps the next-step estimate looks back over. */
const STEP_HISTORY = 8;
/** Duration given to a segment's last frame when no frame interval is known yet. */
const FALLBACK_FRAME_MS = 1000 / 30;
/**
 * A first GOP up to this much longer than the floor leaves the target there, and this much
 * is forgiven when rounding a learned target up: timestamps in whole ms and 1.001 frame
 * rates make a 5 s GOP last 5.005 s.
 */
const GOP_TOLERANCE_MS = 100;

interface Open {
  segment: OpenSegment;
  /** Milliseconds of cutting-track media from the segment's first frame to the latest. */
  elapsedMs: number;
  /** Cutting-track frames in the segment. */
  frames: number;
  /** Longest keyframe interval that ended within the segment, ms. */
  longestGopMs: number;
}

export class HlsSegmenter {
  readonly segmentSeconds: number;
  readonly listSize: number;
  /** The configured target duration: the learned one is never below it. */
  readonly targetFloor: number;
  readonly maxTargetDuration: number;
  #target: number;
  /** Set when the first playlist is due: from then on the target never changes. */
  #targetFixed = false;
  #hasVideo: boolean;

  #nextSequence: number;
  #mediaSequence: number;
  #discontinuitySequence = 0;
  #window: SegmentInfo[] = [];
  /** Sum of the window's durations, ms. */
  #windowMs = 0;
  #expired: SegmentInfo[] = [];
  #ended = false;
  #open: Open | undefined;

  /** Set once any segment began: the very first segment is never a discontinuity. */
  #begun = false;
  #pendingDiscontinuity = false;
  /** Wall clock (ms) for the next segment while the timeline continues. */
  #nextWallMs: number | undefined;

  // Per-timeline state of the cutting track.
  #lastDts: number | undefined;
  /** The last few positive dts steps, newest last. */
  #steps: number[] = [];
  /** Media since the last cut point; undefined before the first one. */
  #sinceKeyMs: number | undefined;
  #keyIntervals: number[] = [];

  constructor(options: HlsSegmenterOptions) {
    const segmentSeconds = options.segmentSeconds ?? 2;
    if (!Number.isFinite(segmentSeconds) || segmentSeconds <= 0) {
      throw new RangeError(`Invalid segmentSeconds: ${segmentSeconds}`);
    }
    const listSize = options.listSize ?? 6;
    if (!Number.isSafeInteger(listSize) || listSize < 1) {
      throw new RangeError(`Invalid listSize: ${listSize}`);
    }
    if (!Number.isSafeInteger(options.firstSequence) || options.firstSequence < 0) {
      throw new RangeError(`Invalid firstSequence: ${options.firstSequence}`);
    }
    const floor = options.targetDuration ?? Math.ceil(segmentSeconds) + 1;
    if (!Number.isSafeInteger(floor) || floor < Math.ceil(segmentSeconds)) {
      throw new RangeError(
        `Invalid targetDuration: ${floor} (a whole number of seconds, at least ${
          Math.ceil(segmentSeconds)
        })`,
      );
    }
    const max = options.maxTargetDuration ?? Math.max(DEFAULT_MAX_TARGET_SECONDS, floor);
    if (!Number.isSafeInteger(max) || max < floor) {
      throw new RangeError(
        `Invalid maxTargetDuration: ${max} (a whole number of seconds, at least ${floor})`,
      );
    }
    if (typeof options.hasVideo !== "boolean") {
      throw new TypeError("Invalid hasVideo: expected a boolean");
    }
    this.segmentSeconds = segmentSeconds;
    this.listSize = listSize;
    this.targetFloor = floor;
    this.maxTargetDuration = max;
    this.#target = floor;
    this.#hasVideo = options.hasVideo;
    this.#nextSequence = options.firstSequence;
    this.#mediaSequence = options.firstSequence;
  }

  get hasVideo(): boolean {
    return this.#hasVideo;
  }

  /** `#EXT-X-TARGETDURATION`: the floor until the first segment closes, then fixed. */
  get targetDuration(): number {
    return this.#target;
  }

  /**
   * The encoder's keyframe interval as measured on this timeline, ms: the longest of the
   * last few, or the time since the last keyframe when that is longer; undefined before a
   * second keyframe or a forced cut says anything.
   */
  get keyframeIntervalMs(): number | undefined {
    const ms = Math.max(0, ...this.#keyIntervals, this.#sinceKeyMs ?? 0);
    return ms > 0 ? ms : undefined;
  }

  /** Decides what to do with `frame` before it is written; `nowMs` is wall-clock ms. */
  push(frame: SegmenterFrame, nowMs: number): PushResult {
    if (!Number.isFinite(frame.dts) || !Number.isFinite(nowMs)) {
      throw new RangeError(`Cannot segment frame: dts ${frame.dts} at ${nowMs} is not finite`);
    }
    const cutting = frame.kind === (this.#hasVideo ? "video" : "audio");
    if (!cutting && frame.kind === "video") return { write: false, cut: false };
    if (!cutting) return { write: this.#open !== undefined, cut: false };

    let step = this.#lastDts === undefined ? 0 : Math.max(0, frame.dts - this.#lastDts);
    this.#lastDts = frame.dts;
    if (step > 0) {
      this.#steps.push(step);
      if (this.#steps.length > STEP_HISTORY) this.#steps.shift();
    }
    const open = this.#open;
    const limitMs = this.#limitMs();
    // A step that alone would carry the segment past the target counts only up to it.
    const overrun = open !== undefined && open.elapsedMs + step >= limitMs;
    if (overrun) step = Math.max(0, limitMs - 1 - open.elapsedMs);
    if (open) {
      open.elapsedMs += step;
      open.frames++;
    }
    if (this.#sinceKeyMs !== undefined) this.#sinceKeyMs += step;

    // Audio frames are all independently decodable, whatever the flag says.
    const cutPoint = frame.kind === "audio" || frame.keyframe;
    if (!cutPoint) {
      if (open === undefined) return { write: false, cut: false };
      if (!overrun && open.elapsedMs + this.#nextStepMs() < limitMs) {
        return { write: true, cut: false };
      }
      const closed = this.#close(open.elapsedMs);
      return { write: true, cut: true, started: this.#start(nowMs, false), closed };
    }

    if (this.#sinceKeyMs !== undefined && this.#sinceKeyMs > 0) {
      this.#keyIntervals.push(this.#sinceKeyMs);
      if (this.#keyIntervals.length > GOP_HISTORY) this.#keyIntervals.shift();
      if (open) open.longestGopMs = Math.max(open.longestGopMs, this.#sinceKeyMs);
    }
    this.#sinceKeyMs = 0;

    if (open === undefined) return { write: true, cut: true, started: this.#start(nowMs, true) };
    if (!overrun && !this.#shouldCut(open)) return { write: true, cut: false };
    const closed = this.#close(open.elapsedMs);
    return { write: true, cut: true, started: this.#start(nowMs, true), closed };
  }

  /** The publisher stopped: closes the open segment; the next one is a new timeline. */
  finish(): CloseResult {
    const open = this.#open;
    let closed: SegmentInfo | undefined;
    if (open) {
      // The last frame lasts as long as the segment's frames did on average.
      const lastFrameMs = open.frames > 1
        ? open.elapsedMs / (open.frames - 1)
        : this.#steps.at(-1) ?? FALLBACK_FRAME_MS;
      if (this.#sinceKeyMs !== undefined) this.#sinceKeyMs += lastFrameMs;
      closed = this.#close(open.elapsedMs + lastFrameMs);
    }
    this.#pendingDiscontinuity = true;
    this.#nextWallMs = undefined;
    this.#lastDts = undefined;
    this.#steps = [];
    this.#sinceKeyMs = undefined;
    this.#keyIntervals = [];
    return closed ? { closed } : {};
  }

  /**
   * Republish, codec or track change: like `finish()`, and `hasVideo` may change with the
   * new track set.
   */
  discontinuity(options: { hasVideo?: boolean } = {}): CloseResult {
    const result = this.finish();
    if (options.hasVideo !== undefined) this.#hasVideo = options.hasVideo;
    return result;
  }

  /**
   * The stream is over: like `finish()`, and the playlist gets `#EXT-X-ENDLIST`. The target
   * is fixed now even without a segment, since the ended playlist is published.
   */
  end(): CloseResult {
    const result = this.finish();
    this.#targetFixed = true;
    this.#ended = true;
    return result;
  }

  /**
   * A takeover: this playlist continues another origin's (docs/architecture.md, "Failover
   * and standby"), so players never see a sequence go back. The newest closed segment stays
   * listed, renumbered `lastSequence + 1` and marked as a discontinuity, and the open one
   * follows it; older segments leave the playlist. The target duration becomes the other
   * playlist's (RFC 8216 §6.2.1: it never changes) and holds from now on; a kept segment
   * that would round above it is dropped too.
   */
  continueFrom(c: Continuation): Renumbering {
    if (
      ![c.lastSequence, c.discontinuitySequence].every((n) => Number.isSafeInteger(n) && n >= 0)
    ) {
      throw new RangeError(`Invalid continuation: ${JSON.stringify(c)}`);
    }
    if (!Number.isSafeInteger(c.targetDuration) || c.targetDuration < 1) {
      throw new RangeError(`Invalid continuation target duration: ${c.targetDuration}`);
    }
    this.#target = c.targetDuration;
    this.#targetFixed = true;
    const newest = this.#window.at(-1);
    const keep = newest !== undefined && Math.round(newest.duration) <= c.targetDuration
      ? newest
      : undefined;
    const dropped = this.#window.filter((s) => s !== keep);
    const renamed: Renumbering["renamed"] = [];
    let next = c.lastSequence + 1;
    const renumber = (s: OpenSegment, open: boolean, discontinuity: boolean) => {
      const uri = segmentFileName(next);
      renamed.push({ from: s.uri, to: uri, open });
      s.sequence = next++;
      s.uri = uri;
      s.discontinuity = discontinuity;
    };
    if (keep) renumber(keep, false, true);
    if (this.#open) renumber(this.#open.segment, true, !keep);
    else if (!keep) this.#pendingDiscontinuity = this.#begun = true;
    this.#window = keep ? [keep] : [];
    this.#windowMs = keep ? msOf(keep) : 0;
    this.#nextSequence = next;
    this.#mediaSequence = c.lastSequence + 1;
    this.#discontinuitySequence = c.discontinuitySequence;
    this.#ended = false;
    return { renamed, dropped };
  }

  /** The playlist to publish now: closed segments only. */
  playlist(): LivePlaylist {
    return {
      version: 3,
      targetDuration: this.#target,
      mediaSequence: this.#mediaSequence,
      discontinuitySequence: this.#discontinuitySequence,
      independentSegments: this.#window.every((s) => s.independent),
      segments: this.#window.map(toPlaylistSegment),
      ended: this.#ended,
    };
  }

  /**
   * Segments that left the window since the last call, oldest first; they pile up until
   * taken, so take them whenever a segment closes.
   */
  takeExpired(): SegmentInfo[] {
    const expired = this.#expired;
    this.#expired = [];
    return expired;
  }

  /** Segment durations from this many ms on round above the target (x.500 rounds up). */
  #limitMs(): number {
    return (this.#targetFixed ? this.#target : this.maxTargetDuration) * 1000 + 500;
  }

  /** The longest of the last few frame steps: what the next one is expected to be at most. */
  #nextStepMs(): number {
    return this.#steps.length > 0 ? Math.max(...this.#steps) : FALLBACK_FRAME_MS;
  }

  /** At a keyframe: whether it begins a new segment. */
  #shouldCut(open: Open): boolean {
    // A segment that began without a keyframe ends at the first one, to realign.
    if (!open.segment.independent) return true;
    const segmentMs = this.segmentSeconds * 1000;
    if (open.elapsedMs >= segmentMs) return true;
    if (open.elapsedMs < segmentMs / 2) return false;
    const gopMs = Math.max(0, ...this.#keyIntervals);
    return open.elapsedMs + gopMs > this.#target * 1000;
  }

  #start(nowMs: number, independent: boolean): OpenSegment {
    const sequence = this.#nextSequence++;
    const segment: OpenSegment = {
      sequence,
      uri: segmentFileName(sequence),
      programDateTime: new Date(this.#nextWallMs ?? nowMs),
      discontinuity: this.#pendingDiscontinuity && this.#begun,
      independent,
    };
    this.#begun = true;
    this.#pendingDiscontinuity = false;
    this.#ended = false;
    this.#open = { segment, elapsedMs: 0, frames: 1, longestGopMs: 0 };
    return segment;
  }

  #close(elapsedMs: number): SegmentInfo {
    const open = this.#open!;
    this.#open = undefined;
    const ms = Math.min(Math.round(elapsedMs), this.#limitMs() - 1);
    if (!this.#targetFixed) {
      this.#learnTarget(Math.max(open.longestGopMs, this.#sinceKeyMs ?? 0), ms);
    }
    const info: SegmentInfo = { ...open.segment, duration: ms / 1000 };
    this.#nextWallMs = open.segment.programDateTime.getTime() + ms;
    this.#window.push(info);
    this.#windowMs += ms;
    const minWindowMs = 3 * this.#target * 1000;
    while (
      this.#window.length > this.listSize &&
      this.#windowMs - msOf(this.#window[0]!) >= minWindowMs
    ) {
      const gone = this.#window.shift()!;
      this.#windowMs -= msOf(gone);
      if (gone.discontinuity) this.#discontinuitySequence++;
      this.#expired.push(gone);
    }
    this.#mediaSequence = this.#window[0]!.sequence;
    return info;
  }

  /**
   * The first segment closes, `ms` long, its longest keyframe interval (or the time since
   * its last keyframe) `gopMs`: the target it sets holds every later segment of that GOP.
   */
  #learnTarget(gopMs: number, ms: number): void {
    const gopTarget = gopMs > this.targetFloor * 1000 + GOP_TOLERANCE_MS
      ? Math.ceil((gopMs - GOP_TOLERANCE_MS) / 1000) + 1
      : 0;
    const wanted = Math.max(this.targetFloor, gopTarget, Math.round(ms / 1000));
    this.#target = Math.min(this.maxTargetDuration, wanted);
    this.#targetFixed = true;
  }
}

function msOf(s: SegmentInfo): number {
  return Math.round(s.duration * 1000);
}

function toPlaylistSegment(s: SegmentInfo): PlaylistSegment {
  return {
    sequence: s.sequence,
    duration: s.duration,
    uri: s.uri,
    programDateTime: s.programDateTime,
    discontinuity: s.discontinuity,
  };
}
