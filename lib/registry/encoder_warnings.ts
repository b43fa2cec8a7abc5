/**
 * Encoder problems an operator should fix, read from a live stream's record so that the API
 * and the dashboard word them the same way. Today one: a keyframe interval longer than the
 * origin's segment duration (OBS's default "0 = auto" sends one every ~8.3 s at 30 fps).
 * Segments are cut only at keyframes, so every segment then lasts a whole keyframe interval:
 * viewers wait that much longer and the stream's latency grows with it.
 */
import type { StreamMedia } from "./types.ts";

export interface StreamWarning {
  /** Stable identifier for programs: `keyframe_interval`. */
  code: "keyframe_interval";
  /** What is wrong and how to fix it, for people. */
  message: string;
}

/**
 * Keyframes up to this factor above the segment duration are not worth a warning: timestamp
 * jitter or one late keyframe is not a misconfigured encoder.
 */
export const KEYFRAME_TOLERANCE = 1.05;

/** Seconds to one decimal, without a trailing `.0`. */
function seconds(value: number): string {
  return String(Math.round(value * 10) / 10);
}

/** The warnings for a stream measured as `media`; none when nothing is measured. */
export function encoderWarnings(media: StreamMedia | undefined): StreamWarning[] {
  const warnings: StreamWarning[] = [];
  const interval = media?.keyframeInterval ?? null;
  if (media !== undefined && interval !== null) {
    const target = media.segmentSeconds;
    if (interval > target * KEYFRAME_TOLERANCE) {
      const gop = media.frameRate === null
        ? `<${seconds(target)}×fps>`
        : String(Math.round(target * media.frameRate));
      warnings.push({
        code: "keyframe_interval",
        message: `Keyframe interval ${seconds(interval)} s — set ${seconds(target)} s in OBS → ` +
          `Settings → Output (ffmpeg: -g ${gop})`,
      });
    }
  }
  return warnings;
}
