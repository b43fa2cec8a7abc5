/**
 * Viewer-side helpers for tests that run the edge in a real chain (ffmpeg → origin →
 * registry → edge): wait until a playlist served at a URL lists enough segments, and play
 * a URL with ffmpeg the way a player would, requiring a clean decode; tell a hang from a slow
 * answer. Deadlines are generous (a busy machine only makes things slower), never a measure
 * of speed: timing belongs to the bench.
 */
import assert from "node:assert/strict";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import { runProcess } from "./process.ts";
import { waitFor } from "./wait.ts";

/** The playlist at `url` once it answers 200 and lists at least `segments` segments. */
export function livePlaylist(url: string, segments: number): Promise<LivePlaylist> {
  return waitFor(`${url} with ${segments} segments`, async () => {
    const res = await fetch(url);
    const text = await res.text();
    if (res.status !== 200) return undefined;
    const p = parsePlaylist(text);
    return p.segments.length >= segments ? p : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
}

/** Decodes the first `seconds` of the HLS stream at `url` with ffmpeg: no error, no warning. */
export async function assertDecodes(url: string, seconds: number): Promise<void> {
  const decode = await runProcess(
    "ffmpeg",
    ["-v", "error", "-i", url, "-t", String(seconds), "-f", "null", "-"],
    { timeoutMs: 60_000 },
  );
  assert.equal(decode.code, 0, decode.stderr);
  assert.equal(decode.stderr, "");
}

/**
 * `promise`, or a rejection naming `what` if it has not settled within `ms`: the difference
 * between "slow on a busy machine" and "hangs", without measuring speed.
 */
export async function withinDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No answer within ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}
