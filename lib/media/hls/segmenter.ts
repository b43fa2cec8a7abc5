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
 * once `segmentSeconds` have passed since its start, measured on that track's dts. The
 * target duration is fixed up front (default `ceil(segmentSeconds) + 1`, 3 s for 2 s
 * segments) because RFC 8216 §6.2.1 forbids changing it, and §4.3.3.1 requires every
 * duration, rounded to the nearest second, to be at most the target. Waiting for
 * `segmentSeconds` alone cannot promise that: with a 1.9 s GOP the second keyframe comes
 * at 3.8 s. So a keyframe also cuts early when waiting one more keyframe interval (the
 * longest of the last few) would take the segment past the target duration, though never
 * before half of `segmentSeconds`, so a scene-cut keyframe just after a cut leaves no
 * sliver. With any steady GOP up to the target that keeps every segment within it (the
 * half-segment floor never blocks a needed early cut, as the target is at least
 * `segmentSeconds`), and the extra second absorbs keyframe jitter and an occasional
 * missing keyframe. Video is never cut between keyframes, since every segment must start
 * decodable (`#EXT-X-INDEPENDENT-SEGMENTS`); when an encoder's GOP is longer than the
 * target the segment is still written with its true duration and flagged `overlong`, for
 * the origin to warn about the encoder.
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
  /** `#EXT-X-TARGETDURATION`, whole seconds, at least `ceil(segmentSeconds)`. */
  targetDuration?: number;
}

/** A segment that has begun: the caller opens `uri` and writes frames into it. */
export interface OpenSegment {
  sequence: number;
  /** `{sequence}.ts`, relative to the playlist. */
  uri: string;
  programDateTime: Date;
  /** Starts a new timeline: listed after `#EXT-X-DISCONTINUITY`. */
  discontinuity: boolean;
}

/** A complete segment, as the playlist lists it. */
export interface SegmentInfo extends OpenSegment {
  /** Seconds, whole milliseconds. */
  duration: number;
  /** Rounds above the target duration: the encoder's keyframes are too far apart. */
  overlong: boolean;
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
/** Duration given to a segment's last frame when no frame interval is known yet. */
const FALLBACK_FRAME_MS = 1000 / 30;

interface Open {
  segment: OpenSegment;
  /** Milliseconds of cutting-track media from the segment's first frame to the latest. */
  elapsedMs: number;
  /** Cutting-track frames in the segment. */
  frames: number;
}

export class HlsSegmenter {
  readonly segmentSeconds: number;
  readonly listSize: number;
  readonly targetDuration: number;
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
  #frameMs: number | undefined;
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
    const targetDuration = options.targetDuration ?? Math.ceil(segmentSeconds) + 1;
    if (!Number.isSafeInteger(targetDuration) || targetDuration < Math.ceil(segmentSeconds)) {
      throw new RangeError(
        `Invalid targetDuration: ${targetDuration} (a whole number of seconds, at least ${
          Math.ceil(segmentSeconds)
        })`,
      );
    }
    if (typeof options.hasVideo !== "boolean") {
      throw new TypeError("Invalid hasVideo: expected a boolean");
    }
    this.segmentSeconds = segmentSeconds;
    this.listSize = listSize;
    this.targetDuration = targetDuration;
    this.#hasVideo = options.hasVideo;
    this.#nextSequence = options.firstSequence;
    this.#mediaSequence = options.firstSequence;
  }

  get hasVideo(): boolean {
    return this.#hasVideo;
  }

  /** Decides what to do with `frame` before it is written; `nowMs` is wall-clock ms. */
  push(frame: SegmenterFrame, nowMs: number): PushResult {
    if (!Number.isFinite(frame.dts) || !Number.isFinite(nowMs)) {
      throw new RangeError(`Cannot segment frame: dts ${frame.dts} at ${nowMs} is not finite`);
    }
    const cutting = frame.kind === (this.#hasVideo ? "video" : "audio");
    if (!cutting && frame.kind === "video") return { write: false, cut: false };
    if (!cutting) return { write: this.#open !== undefined, cut: false };

    const step = this.#lastDts === undefined ? 0 : Math.max(0, frame.dts - this.#lastDts);
    this.#lastDts = frame.dts;
    if (step > 0) this.#frameMs = step;
    if (this.#open) {
      this.#open.elapsedMs += step;
      this.#open.frames++;
    }
    if (this.#sinceKeyMs !== undefined) this.#sinceKeyMs += step;

    // Audio frames are all independently decodable, whatever the flag says.
    const cutPoint = frame.kind === "audio" || frame.keyframe;
    if (!cutPoint) return { write: this.#open !== undefined, cut: false };

    if (this.#sinceKeyMs !== undefined && this.#sinceKeyMs > 0) {
      this.#keyIntervals.push(this.#sinceKeyMs);
      if (this.#keyIntervals.length > GOP_HISTORY) this.#keyIntervals.shift();
    }
    this.#sinceKeyMs = 0;

    const open = this.#open;
    if (open === undefined) return { write: true, cut: true, started: this.#start(nowMs) };
    if (!this.#shouldCut(open.elapsedMs)) return { write: true, cut: false };
    const closed = this.#close(open.elapsedMs);
    return { write: true, cut: true, started: this.#start(nowMs), closed };
  }

  /** The publisher stopped: closes the open segment; the next one is a new timeline. */
  finish(): CloseResult {
    const open = this.#open;
    let closed: SegmentInfo | undefined;
    if (open) {
      // The last frame lasts as long as the segment's frames did on average.
      const lastFrameMs = open.frames > 1
        ? open.elapsedMs / (open.frames - 1)
        : this.#frameMs ?? FALLBACK_FRAME_MS;
      closed = this.#close(open.elapsedMs + lastFrameMs);
    }
    this.#pendingDiscontinuity = true;
    this.#nextWallMs = undefined;
    this.#lastDts = undefined;
    this.#frameMs = undefined;
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

  /** The stream is over: like `finish()`, and the playlist gets `#EXT-X-ENDLIST`. */
  end(): CloseResult {
    const result = this.finish();
    this.#ended = true;
    return result;
  }

  /** The playlist to publish now: closed segments only. */
  playlist(): LivePlaylist {
    return {
      version: 3,
      targetDuration: this.targetDuration,
      mediaSequence: this.#mediaSequence,
      discontinuitySequence: this.#discontinuitySequence,
      independentSegments: true,
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

  #shouldCut(elapsedMs: number): boolean {
    const segmentMs = this.segmentSeconds * 1000;
    if (elapsedMs >= segmentMs) return true;
    if (elapsedMs < segmentMs / 2) return false;
    const gopMs = Math.max(0, ...this.#keyIntervals);
    return elapsedMs + gopMs > this.targetDuration * 1000;
  }

  #start(nowMs: number): OpenSegment {
    const sequence = this.#nextSequence++;
    const segment: OpenSegment = {
      sequence,
      uri: segmentFileName(sequence),
      programDateTime: new Date(this.#nextWallMs ?? nowMs),
      discontinuity: this.#pendingDiscontinuity && this.#begun,
    };
    this.#begun = true;
    this.#pendingDiscontinuity = false;
    this.#ended = false;
    this.#open = { segment, elapsedMs: 0, frames: 1 };
    return segment;
  }

  #close(elapsedMs: number): SegmentInfo {
    const { segment } = this.#open!;
    this.#open = undefined;
    const ms = Math.round(elapsedMs);
    const info: SegmentInfo = {
      ...segment,
      duration: ms / 1000,
      // EXTINF is written in whole ms, and x.500 rounds up.
      overlong: ms >= this.targetDuration * 1000 + 500,
    };
    this.#nextWallMs = segment.programDateTime.getTime() + ms;
    this.#window.push(info);
    this.#windowMs += ms;
    const minWindowMs = 3 * this.targetDuration * 1000;
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
