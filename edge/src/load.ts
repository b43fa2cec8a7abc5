/**
 * The load an edge reports in its heartbeat: how many viewers it is serving and its egress
 * bit rate, both over a sliding window of one-second buckets. Viewers are not identified;
 * a live viewer fetches one segment per segment duration, so the media seconds of the
 * segments served in the window, divided by the window, estimate how many are watching.
 */

interface Bucket {
  second: number;
  mediaSeconds: number;
  bytes: number;
}

export class LoadMeter {
  readonly #windowSeconds: number;
  readonly #clock: () => number;
  readonly #buckets: Bucket[];
  readonly #startedAt: number;

  /** `clock` is monotonic milliseconds. */
  constructor(windowSeconds = 10, clock: () => number = () => performance.now()) {
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1) {
      throw new RangeError(`Invalid load window: ${windowSeconds} s`);
    }
    this.#windowSeconds = windowSeconds;
    this.#clock = clock;
    this.#startedAt = clock();
    this.#buckets = Array.from({ length: windowSeconds }, () => ({
      second: -1,
      mediaSeconds: 0,
      bytes: 0,
    }));
  }

  /** Counts `bytes` of response body sent. */
  sent(bytes: number): void {
    this.#bucket().bytes += bytes;
  }

  /** Counts one viewer's fetch of a segment lasting about `seconds`. */
  segment(seconds: number): void {
    this.#bucket().mediaSeconds += seconds;
  }

  /** Estimated concurrent viewers, rounded to two decimals. */
  viewers(): number {
    const { mediaSeconds, span } = this.#sum();
    return Math.round((mediaSeconds / span) * 100) / 100;
  }

  /** Egress over the window, bits per second. */
  egressBitsPerSecond(): number {
    const { bytes, span } = this.#sum();
    return Math.round((bytes * 8) / span);
  }

  #bucket(): Bucket {
    const second = Math.floor(this.#clock() / 1000);
    const bucket = this.#buckets[second % this.#windowSeconds]!;
    if (bucket.second !== second) {
      bucket.second = second;
      bucket.mediaSeconds = 0;
      bucket.bytes = 0;
    }
    return bucket;
  }

  #sum(): { mediaSeconds: number; bytes: number; span: number } {
    const nowMs = this.#clock();
    const now = Math.floor(nowMs / 1000);
    let mediaSeconds = 0;
    let bytes = 0;
    for (const b of this.#buckets) {
      if (b.second > now - this.#windowSeconds && b.second <= now) {
        mediaSeconds += b.mediaSeconds;
        bytes += b.bytes;
      }
    }
    // The window is the last whole seconds plus the part of the current one that has passed;
    // a young meter divides by the time it has been counting instead.
    const window = this.#windowSeconds - 1 + (nowMs % 1000) / 1000;
    const span = Math.max(1, Math.min(window, (nowMs - this.#startedAt) / 1000));
    return { mediaSeconds, bytes, span };
  }
}
