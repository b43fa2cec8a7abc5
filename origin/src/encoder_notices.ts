/**
 * What the HLS packager tells operators about an encoder that misbehaves, without flooding
 * the log: timestamp jumps it closed up (`hls.timestamp_jump`, each of the first few of a
 * broadcast, then one in `LOG_EVERY`) and segments it had to cut between keyframes because
 * the encoder's keyframe interval exceeds the target duration (`hls.forced_cut`, with the
 * measured interval and the fix: logged at the keyframe after the first forced cut, when the
 * interval is known, then once per `LOG_EVERY` more). Counters in `/metrics` count every one.
 * One instance per stream; `reset()` when a new broadcast starts.
 */
import type { Logger } from "@cascade/common/log";
import type { Counter, MetricsRegistry } from "@cascade/common/metrics";

/** A broadcast's jumps logged one by one before only one in `LOG_EVERY` is. */
const JUMP_LOG_LIMIT = 10;
const LOG_EVERY = 100;
/** What `hls.forced_cut` tells the operator to change. */
export const KEYFRAME_FIX =
  "set a 2 s keyframe interval in the encoder (OBS → Settings → Output → Keyframe Interval)";

/** What a notice reads of the segmenter when it is logged. */
export interface CutState {
  /** The measured keyframe interval, ms. */
  keyframeIntervalMs: number | undefined;
  targetDuration: number;
}

export class EncoderNotices {
  readonly #log: Logger;
  readonly #forcedCutsTotal: Counter;
  readonly #jumpsTotal: Counter;
  #jumps = 0;
  #forcedCuts = 0;
  /** `#forcedCuts` when `hls.forced_cut` was last logged. */
  #forcedCutsLogged = 0;

  constructor(log: Logger, metrics: MetricsRegistry) {
    this.#log = log;
    this.#forcedCutsTotal = metrics.counter(
      "cascade_hls_forced_cuts_total",
      "Segments cut between keyframes: the encoder's keyframe interval exceeds the target",
    );
    this.#jumpsTotal = metrics.counter(
      "cascade_hls_timestamp_jumps_total",
      "Encoder timestamp jumps closed up before packaging",
    );
  }

  /** A new broadcast: its notices start over. */
  reset(): void {
    this.#jumps = 0;
    this.#forcedCuts = 0;
    this.#forcedCutsLogged = 0;
  }

  /** A `track` frame's dts jumped by `ms` and the timeline was closed up. */
  jump(track: "video" | "audio", ms: number): void {
    this.#jumpsTotal.inc();
    const n = ++this.#jumps;
    if (n > JUMP_LOG_LIMIT && n % LOG_EVERY !== 0) return;
    this.#log.warn("hls.timestamp_jump", {
      track,
      ms: Math.round(ms),
      count: n,
      action: "the timeline continues at the usual frame step",
    });
  }

  /** A segment began, at a keyframe (`independent`) or forced between keyframes. */
  segmentStarted(independent: boolean, state: CutState): void {
    if (!independent) {
      this.#forcedCuts++;
      this.#forcedCutsTotal.inc();
      return;
    }
    const n = this.#forcedCuts;
    const logged = this.#forcedCutsLogged;
    if (n > logged && (logged === 0 || n - logged >= LOG_EVERY)) this.#logForcedCuts(state);
  }

  /** The broadcast stopped: a forced cut no keyframe followed is still reported. */
  ended(state: CutState): void {
    if (this.#forcedCuts > 0 && this.#forcedCutsLogged === 0) this.#logForcedCuts(state);
  }

  #logForcedCuts(state: CutState): void {
    this.#forcedCutsLogged = this.#forcedCuts;
    const ms = state.keyframeIntervalMs;
    this.#log.warn("hls.forced_cut", {
      count: this.#forcedCuts,
      keyframeIntervalSeconds: ms === undefined ? null : Math.round(ms) / 1000,
      targetDuration: state.targetDuration,
      fix: KEYFRAME_FIX,
    });
  }
}
