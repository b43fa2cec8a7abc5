/**
 * What an encoder is sending, measured on ingest so that operators can see a misconfigured
 * encoder (docs/architecture.md, "Registry"): the keyframe interval (mean of the last few
 * keyframe-to-keyframe gaps of video dts), the video frame rate and the bit rate of all
 * frames, both over a window of at least `RATE_WINDOW_MS` of media time. Media time rather
 * than the wall clock measures what the encoder produces, not how the network delivered it
 * (a burst after a stall, an encoder publishing faster than real time). The hub calls
 * `frame()` for every frame, so it does a few number updates and never allocates; the
 * figures are read far less often (once per playlist). Timestamps that jump (backwards, or
 * forwards by more than `MAX_GAP_MS`) restart a measurement rather than skew it.
 */

/** Keyframe gaps averaged: enough to smooth one late keyframe, few enough to follow a change. */
export const KEYFRAME_GAPS = 4;
/** Frame rate and bit rate are averaged over at least this much media time. */
export const RATE_WINDOW_MS = 4000;
/** A larger step in dts is a timestamp jump (encoder restart, wrap), not a long GOP. */
export const MAX_GAP_MS = 60_000;

export class IngestStats {
  readonly #gaps = new Float64Array(KEYFRAME_GAPS);
  #gapCount = 0;
  #gapNext = 0;
  #gapSum = 0;
  #lastKeyDts = NaN;

  /** The window is timed by video dts once video is seen, else by audio dts. */
  #sawVideo = false;
  #windowStart = NaN;
  #windowFrames = 0;
  #windowBytes = 0;
  #frameRate: number | null = null;
  #bitrate: number | null = null;

  /** Accounts one frame; `bytes` is its payload size. */
  frame(kind: "video" | "audio", dts: number, keyframe: boolean, bytes: number): void {
    this.#windowBytes += bytes;
    if (kind === "video") {
      if (!this.#sawVideo) {
        this.#sawVideo = true;
        this.#windowStart = NaN;
      }
      this.#windowFrames++;
      if (keyframe) this.#keyframe(dts);
    } else if (this.#sawVideo) {
      return;
    }
    this.#tick(dts);
  }

  /** Mean seconds between the last few video keyframes, to the ms; null before two keyframes. */
  get keyframeInterval(): number | null {
    return this.#gapCount === 0 ? null : Math.round(this.#gapSum / this.#gapCount) / 1000;
  }

  /** Video frames per second over the last window, to 0.01; null without video. */
  get frameRate(): number | null {
    return this.#frameRate;
  }

  /** Bits per second of all frames' payloads over the last window. */
  get bitrate(): number | null {
    return this.#bitrate;
  }

  #keyframe(dts: number): void {
    const gap = dts - this.#lastKeyDts;
    this.#lastKeyDts = dts;
    if (!(gap > 0 && gap <= MAX_GAP_MS)) return;
    const i = this.#gapNext;
    this.#gapSum += gap - this.#gaps[i]!;
    this.#gaps[i] = gap;
    this.#gapNext = (i + 1) % KEYFRAME_GAPS;
    if (this.#gapCount < KEYFRAME_GAPS) this.#gapCount++;
  }

  /** Closes the window at `dts` once it spans `RATE_WINDOW_MS`; `dts` ends it, inclusive. */
  #tick(dts: number): void {
    const elapsed = dts - this.#windowStart;
    if (!(elapsed >= 0 && elapsed <= MAX_GAP_MS)) {
      // First frame, or a timestamp jump: a new window starts after this frame.
      this.#restart(dts);
      return;
    }
    if (elapsed < RATE_WINDOW_MS) return;
    this.#bitrate = Math.round((this.#windowBytes * 8000) / elapsed);
    this.#frameRate = this.#sawVideo
      ? Math.round((this.#windowFrames * 100_000) / elapsed) / 100
      : null;
    this.#restart(dts);
  }

  #restart(dts: number): void {
    this.#windowStart = dts;
    this.#windowFrames = 0;
    this.#windowBytes = 0;
  }
}
