/**
 * ffmpeg's command line for one rung: FLV of the source on stdin, FLV of the rendition on
 * stdout. Keyframes are forced where the source has them (and nowhere else), so every
 * rendition's segments start and end at the source's and players switch rungs on segment
 * boundaries; timestamps are copied, so a rendition keeps the source's timeline across
 * ffmpeg restarts; audio is passed through untouched.
 */
import type { Rung } from "@cascade/common/renditions";

export function ffmpegArgs(rung: Rung, preset: string): string[] {
  const kbps = rung.videoKbps;
  return [
    "-hide_banner",
    "-loglevel",
    "error",
    "-fflags",
    "nobuffer",
    "-analyzeduration",
    "1000000",
    "-f",
    "flv",
    "-i",
    "pipe:0",
    "-map",
    "0:v:0",
    "-map",
    "0:a:0?",
    "-copyts",
    "-fps_mode",
    "passthrough",
    "-vf",
    `scale=-2:${rung.height}`,
    "-c:v",
    "libx264",
    "-preset",
    preset,
    "-tune",
    "zerolatency",
    "-pix_fmt",
    "yuv420p",
    "-b:v",
    `${kbps}k`,
    "-maxrate",
    `${Math.round(kbps * 1.2)}k`,
    "-bufsize",
    `${kbps * 2}k`,
    // Keyframes only where the source has one: no GOP or scene-cut keyframes of x264's own.
    "-force_key_frames",
    "source",
    "-g",
    "100000",
    "-sc_threshold",
    "0",
    "-c:a",
    "copy",
    "-flush_packets",
    "1",
    "-f",
    "flv",
    "pipe:1",
  ];
}
