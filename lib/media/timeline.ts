/**
 * Keeps a broadcast's output timeline continuous when the encoder's timestamps jump: some
 * encoders restart their clock without republishing, skip ahead after a stall, or step back
 * after a source switch, and a player handed those jumps stalls, skips or refuses the
 * segment. `TimestampRebaser.rebase(frame)` returns the frame to package: the same object
 * while no jump was seen, else a shifted copy (frames are shared with the hub's other
 * consumers, so they are never changed in place).
 *
 * A jump is a dts more than `BACKWARD_TOLERANCE_MS` before, or more than `MAX_FRAME_STEP_MS`
 * after, the previous frame of the same track (on the output timeline). Smaller backward steps
 * are interleaving jitter and pass as they are. On a jump the track's offset changes so that
 * the frame lands one usual frame step after that track's previous frame. Offsets are shared:
 * a track whose frame is continuous under the other track's newer offset takes it over, so
 * when audio and video jump together (the usual case: one encoder clock) both move by the
 * same amount and A/V sync holds; a track that jumps alone gets its own offset instead of
 * dragging the other one along. `reset()` starts a new timeline (republish, codec change),
 * where anything goes.
 */

import type { MediaFrame } from "./frame.ts";

/** Backward dts steps up to this, ms, are jitter rather than a jump. */
export const BACKWARD_TOLERANCE_MS = 100;
/**
 * The longest dts step between two frames of a track, ms, that is media rather than a jump:
 * a 1 fps video. The HLS segmenter relies on it to cut in time.
 */
export const MAX_FRAME_STEP_MS = 1000;
/** Step assumed after a jump when a track has no step yet: a frame at 30 fps. */
const FALLBACK_STEP_MS = 1000 / 30;

/** What `rebase()` returns. */
export interface Rebased {
  /** The frame on the output timeline: `frame` itself when its offset is 0. */
  frame: MediaFrame;
  /** Set when this frame jumped: its dts minus where it would have continued, ms. */
  jumpMs?: number;
}

interface TrackState {
  /** Output dts of the track's last frame. */
  lastDts: number;
  /** Last positive output dts step. */
  stepMs: number | undefined;
  /** Added to every input timestamp of the track. */
  offset: number;
  /** When `offset` was set, in jumps counted across tracks: the newest offset wins. */
  epoch: number;
}

export class TimestampRebaser {
  #video: TrackState | undefined;
  #audio: TrackState | undefined;
  #epoch = 0;

  /** The frame to package in place of `frame`; throws `RangeError` for a non-finite dts. */
  rebase(frame: MediaFrame): Rebased {
    if (!Number.isFinite(frame.dts) || !Number.isFinite(frame.pts)) {
      throw new RangeError(`Cannot rebase frame: dts ${frame.dts}, pts ${frame.pts}`);
    }
    const own = frame.kind === "video" ? this.#video : this.#audio;
    const other = frame.kind === "video" ? this.#audio : this.#video;
    let jumpMs: number | undefined;
    let track: TrackState;
    if (own === undefined) {
      // A track's first frame follows the other track's timeline, as the encoder had it.
      track = { lastDts: 0, stepMs: undefined, offset: other?.offset ?? 0, epoch: 0 };
      if (frame.kind === "video") this.#video = track;
      else this.#audio = track;
    } else {
      track = own;
      if (!continuous(track, frame.dts + track.offset)) {
        if (other && other.epoch > track.epoch && continuous(track, frame.dts + other.offset)) {
          track.offset = other.offset;
          track.epoch = other.epoch;
        } else {
          const expected = track.lastDts + (track.stepMs ?? FALLBACK_STEP_MS);
          jumpMs = frame.dts + track.offset - expected;
          track.offset = expected - frame.dts;
          track.epoch = ++this.#epoch;
        }
      }
    }
    const dts = frame.dts + track.offset;
    if (own !== undefined && dts > track.lastDts) track.stepMs = dts - track.lastDts;
    track.lastDts = dts;
    const out = track.offset === 0 ? frame : { ...frame, dts, pts: frame.pts + track.offset };
    return jumpMs === undefined ? { frame: out } : { frame: out, jumpMs };
  }

  /** A new timeline starts: offsets go back to 0 and nothing before counts as a jump. */
  reset(): void {
    this.#video = undefined;
    this.#audio = undefined;
    this.#epoch = 0;
  }
}

function continuous(track: TrackState, dts: number): boolean {
  const step = dts - track.lastDts;
  return step >= -BACKWARD_TOLERANCE_MS && step <= MAX_FRAME_STEP_MS;
}
