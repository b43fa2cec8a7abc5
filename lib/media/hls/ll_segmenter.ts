/**
 * The decisions of the Low-Latency HLS packager, without its bytes: an `HlsSegmenter` makes
 * every segment decision (cuts, learned target duration, forced cuts, window, discontinuities,
 * program date times), so the LL playlist's segments last what the TS playlist's do, and this
 * adds the parts. A part closes on the cutting track's frame timeline (video, or audio for an
 * audio-only stream) just before the frame that would carry it past the part target — the
 * longest of the last few frame steps is what the next frame is expected to add — so parts
 * snap to whole frames: 9 frames (0.300 s) of 30 fps video for the default 0.333 s target,
 * at least 85 % of it for frame rates from 24 up. A segment's last part ends at the cut and
 * may be shorter. A part that starts with a keyframe is independent; so is every part of an
 * audio-only stream. Should a late frame still carry a part past the target, the part's
 * listed duration is held at the target, as the segmenter holds segments at theirs.
 *
 * Use: `push(frame, nowMs)` for every frame in order; `closedPart` says the part being
 * collected is complete (flush the fragmenter up to this frame's dts first), `closedSegment`
 * that its segment is complete too, and `write` whether the frame goes into the next part.
 * `finish()`, `discontinuity()` and `end()` close the open part and segment as the
 * segmenter's do. Each publish (timeline) has its own URI prefix: `setPrefix` before its
 * first frame. `playlist()` is the `LlPlaylist` to render; `position()` what the blocking
 * reloads wait for. Segments that left the window come out of `takeExpired()`. Pure: the
 * clock is passed in.
 */

import type { SegmenterFrame } from "./segmenter.ts";
import { HlsSegmenter, type HlsSegmenterOptions, type SegmentInfo } from "./segmenter.ts";
import type { LlPart, LlPlaylist, LlSegment } from "./ll_playlist.ts";
import { llInitName, llPartName, llSegmentName } from "./layout.ts";
import type { LlPosition } from "./ll_blocking.ts";

export interface LlSegmenterOptions extends HlsSegmenterOptions {
  /** `PART-TARGET`, seconds (`HLS_PART_SECONDS`, 0.2 to 1). */
  partSeconds: number;
}

/** A segment known to the segmenter: listed, being written, or just expired. */
export interface LlSegmentState {
  sequence: number;
  prefix: string;
  programDateTime: Date;
  discontinuity: boolean;
  parts: LlPart[];
  /** Seconds, once complete. */
  duration?: number;
}

/** A part that just closed: part `index` of segment `segment.sequence`. */
export interface ClosedPart {
  segment: LlSegmentState;
  index: number;
  part: LlPart;
}

export interface LlPushResult {
  /** Add the frame to the next part; false while waiting for a first keyframe. */
  write: boolean;
  closedPart?: ClosedPart;
  /** Complete after `closedPart`, which was its last. */
  closedSegment?: LlSegmentState;
}

export interface LlCloseResult {
  closedPart?: ClosedPart;
  closedSegment?: LlSegmentState;
}

/** How many recent frame steps the next-step estimate looks back over. */
const STEP_HISTORY = 8;
/** Duration of a frame when no step is known yet. */
const FALLBACK_FRAME_MS = 1000 / 30;

export class LlSegmenter {
  readonly partTarget: number;
  readonly #segmenter: HlsSegmenter;
  #prefix = "";
  /** Listed segments and the open one, by sequence number. */
  readonly #segments = new Map<number, LlSegmentState>();
  #open: LlSegmentState | undefined;
  /** The open part: dts of its first cutting-track frame; undefined when none is open. */
  #partStart: number | undefined;
  #partIndependent = false;
  #steps: number[] = [];
  #lastDts: number | undefined;
  #nextSequence: number;
  #expired: LlSegmentState[] = [];
  /** As the segmenter's playlist says, kept here so `position()` builds no playlist. */
  #ended = false;

  constructor(options: LlSegmenterOptions) {
    const part = options.partSeconds;
    if (!Number.isFinite(part) || part < 0.1 || part > 10) {
      throw new RangeError(`Invalid partSeconds: ${part}`);
    }
    this.partTarget = part;
    this.#segmenter = new HlsSegmenter(options);
    this.#nextSequence = options.firstSequence;
  }

  get targetDuration(): number {
    return this.#segmenter.targetDuration;
  }

  get hasVideo(): boolean {
    return this.#segmenter.hasVideo;
  }

  /** The publish prefix of the segments that start from now on. */
  setPrefix(prefix: string): void {
    if (!/^[0-9a-z]{1,20}$/.test(prefix)) throw new RangeError(`Invalid prefix: ${prefix}`);
    this.#prefix = prefix;
  }

  get prefix(): string {
    return this.#prefix;
  }

  /** A listed, open or recently expired segment. */
  segment(sequence: number): LlSegmentState | undefined {
    return this.#segments.get(sequence);
  }

  push(frame: SegmenterFrame, nowMs: number): LlPushResult {
    if (this.#prefix === "") throw new TypeError("Cannot segment: setPrefix() first");
    const cutting = frame.kind === (this.hasVideo ? "video" : "audio");
    const step = this.#segmenter.push(frame, nowMs);
    if (!cutting) return { write: step.write };
    const result: LlPushResult = { write: step.write };
    if (step.cut) {
      if (step.closed) {
        result.closedPart = this.#closePart(frame.dts, step.closed);
        result.closedSegment = this.#closeSegment(step.closed);
      }
      const s = step.started!;
      this.#ended = false;
      this.#nextSequence = s.sequence + 1;
      this.#open = {
        sequence: s.sequence,
        prefix: this.#prefix,
        programDateTime: s.programDateTime,
        discontinuity: s.discontinuity,
        parts: [],
      };
      this.#segments.set(s.sequence, this.#open);
      this.#startPart(frame);
    } else if (step.write && this.#partStart !== undefined) {
      const elapsed = frame.dts - this.#partStart;
      if (elapsed + this.#nextStepMs() > this.partTarget * 1000 + 0.5) {
        result.closedPart = this.#closePart(frame.dts);
        this.#startPart(frame);
      }
    }
    this.#noteStep(frame.dts);
    return result;
  }

  #noteStep(dts: number): void {
    if (this.#lastDts !== undefined && dts > this.#lastDts) {
      this.#steps.push(dts - this.#lastDts);
      if (this.#steps.length > STEP_HISTORY) this.#steps.shift();
    }
    this.#lastDts = dts;
  }

  #nextStepMs(): number {
    return this.#steps.length > 0 ? Math.max(...this.#steps) : FALLBACK_FRAME_MS;
  }

  #startPart(frame: SegmenterFrame): void {
    this.#partStart = frame.dts;
    this.#partIndependent = frame.kind === "audio" || frame.keyframe;
  }

  /**
   * Closes the open part at `endDts`; a segment's last part takes what the segment's
   * duration leaves, so the parts add up to it.
   */
  #closePart(endDts: number | undefined, closing?: SegmentInfo): ClosedPart | undefined {
    const open = this.#open;
    const start = this.#partStart;
    if (!open || start === undefined) return undefined;
    this.#partStart = undefined;
    let seconds: number;
    if (closing) {
      let before = 0;
      for (const p of open.parts) before += p.duration;
      seconds = Math.max(0, closing.duration - before);
    } else seconds = Math.max(0, (endDts ?? start) - start) / 1000;
    const part: LlPart = {
      duration: Math.min(this.partTarget, Math.round(seconds * 1000) / 1000),
      uri: llPartName(open.prefix, open.sequence, open.parts.length),
      independent: this.#partIndependent,
    };
    open.parts.push(part);
    return { segment: open, index: open.parts.length - 1, part };
  }

  #closeSegment(info: SegmentInfo): LlSegmentState {
    const open = this.#open!;
    this.#open = undefined;
    open.duration = info.duration;
    for (const gone of this.#segmenter.takeExpired()) {
      const s = this.#segments.get(gone.sequence);
      this.#segments.delete(gone.sequence);
      if (s) this.#expired.push(s);
    }
    return open;
  }

  #closing(result: { closed?: SegmentInfo }): LlCloseResult {
    this.#lastDts = undefined;
    this.#steps = [];
    if (!result.closed) return {};
    const closedPart = this.#closePart(undefined, result.closed);
    return {
      ...(closedPart ? { closedPart } : {}),
      closedSegment: this.#closeSegment(result.closed),
    };
  }

  /** The publisher stopped or vanished: the open part and segment close. */
  finish(): LlCloseResult {
    return this.#closing(this.#segmenter.finish());
  }

  /** Republish, codec or track change: like `finish()`, and the cutting track may change. */
  discontinuity(options: { hasVideo?: boolean } = {}): LlCloseResult {
    return this.#closing(this.#segmenter.discontinuity(options));
  }

  /** The stream is over: like `finish()`, and the playlist ends. */
  end(): LlCloseResult {
    this.#ended = true;
    return this.#closing(this.#segmenter.end());
  }

  /** Segments that left the window since the last call, oldest first. */
  takeExpired(): LlSegmentState[] {
    const expired = this.#expired;
    this.#expired = [];
    return expired;
  }

  /** Where the stream is, for blocking reloads: the next part to come. */
  position(): LlPosition {
    const open = this.#open;
    return {
      sequence: open ? open.sequence : this.#nextSequence,
      part: open ? open.parts.length : 0,
      ended: this.#ended,
      partsOf: (sequence) => {
        const s = this.#segments.get(sequence);
        return s?.duration === undefined ? undefined : s.parts.length;
      },
    };
  }

  /** The playlist to publish now. */
  playlist(): LlPlaylist {
    const ts = this.#segmenter.playlist();
    const segments: LlSegment[] = [];
    for (const listed of ts.segments) {
      const s = this.#segments.get(listed.sequence);
      if (s) segments.push(toLlSegment(s));
    }
    const open = this.#open;
    if (open && open.parts.length > 0) segments.push(toLlSegment(open));
    const hintPrefix = open?.prefix ?? this.#prefix;
    const position = this.position();
    return {
      targetDuration: ts.targetDuration,
      partTarget: this.partTarget,
      mediaSequence: ts.mediaSequence,
      discontinuitySequence: ts.discontinuitySequence,
      segments,
      ...(ts.ended
        ? {}
        : { preloadHint: llPartName(hintPrefix, position.sequence, position.part) }),
      ended: ts.ended,
    };
  }
}

function toLlSegment(s: LlSegmentState): LlSegment {
  return {
    sequence: s.sequence,
    mapUri: llInitName(s.prefix),
    programDateTime: s.programDateTime,
    discontinuity: s.discontinuity,
    parts: s.parts,
    ...(s.duration === undefined
      ? {}
      : { duration: s.duration, uri: llSegmentName(s.prefix, s.sequence) }),
  };
}
