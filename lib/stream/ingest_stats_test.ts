import assert from "node:assert/strict";
import { IngestStats, RATE_WINDOW_MS } from "./ingest_stats.ts";

interface Feed {
  /** Frames per second of video; 0 for audio-only. */
  fps: number;
  /** Video frames from one keyframe to the next. */
  gop: number;
  seconds: number;
  videoBytes?: number;
  /** Audio frames of 1024 samples at 48 kHz when set. */
  audioBytes?: number;
  startDts?: number;
}

/** Feeds synthetic frames in dts order, as an RTMP publisher interleaves them. */
function feed(stats: IngestStats, f: Feed): void {
  const start = f.startDts ?? 0;
  const end = start + f.seconds * 1000;
  const videoStep = 1000 / f.fps;
  const audioStep = 1024_000 / 48_000;
  let v = 0;
  let a = 0;
  while (true) {
    const vd = f.fps > 0 ? start + v * videoStep : Infinity;
    const ad = f.audioBytes === undefined ? Infinity : start + a * audioStep;
    if (vd >= end && ad >= end) return;
    if (vd <= ad) {
      stats.frame("video", Math.round(vd), v % f.gop === 0, f.videoBytes ?? 1000);
      v++;
    } else {
      stats.frame("audio", Math.round(ad), true, f.audioBytes!);
      a++;
    }
  }
}

Deno.test("IngestStats measures keyframe interval, frame rate and bit rate of known frames", () => {
  const stats = new IngestStats();
  assert.equal(stats.keyframeInterval, null);
  assert.equal(stats.frameRate, null);
  assert.equal(stats.bitrate, null);
  // 30 fps, a keyframe every 150 frames (5 s), 5000 B per video frame, 400 B per AAC frame.
  feed(stats, { fps: 30, gop: 150, seconds: 21, videoBytes: 5000, audioBytes: 400 });
  assert.equal(stats.keyframeInterval, 5);
  assert.equal(stats.frameRate, 30);
  const expected = 30 * 5000 * 8 + (48_000 / 1024) * 400 * 8;
  assert.ok(
    Math.abs(stats.bitrate! - expected) / expected < 0.01,
    `bitrate ${stats.bitrate}, expected about ${expected}`,
  );
});

Deno.test("IngestStats gives no figure before two keyframes and a full window", () => {
  const stats = new IngestStats();
  feed(stats, { fps: 25, gop: 250, seconds: (RATE_WINDOW_MS - 100) / 1000 });
  assert.equal(stats.keyframeInterval, null, "one keyframe so far");
  assert.equal(stats.frameRate, null, "the window is not full yet");
  assert.equal(stats.bitrate, null);
});

Deno.test("IngestStats follows a change of keyframe interval over the last few gaps", () => {
  const stats = new IngestStats();
  feed(stats, { fps: 30, gop: 250, seconds: 8.4 * 5 });
  // OBS's automatic interval at 30 fps, on whole-ms timestamps as RTMP carries them.
  const obs = stats.keyframeInterval!;
  assert.ok(Math.abs(obs - 250 / 30) <= 0.001, `keyframeInterval ${obs}`);
  feed(stats, { fps: 30, gop: 60, seconds: 20, startDts: 8.4 * 5 * 1000 });
  assert.equal(stats.keyframeInterval, 2, "the old gaps have left the average");
  assert.equal(stats.frameRate, 30);
});

Deno.test("IngestStats averages irregular keyframes and ignores timestamp jumps", () => {
  const stats = new IngestStats();
  for (const dts of [0, 2000, 4500, 6000, 8000]) stats.frame("video", dts, true, 100);
  assert.equal(stats.keyframeInterval, 2, "(2000 + 2500 + 1500 + 2000) / 4 ms");
  stats.frame("video", 1_000_000, true, 100); // forwards: an encoder restart
  stats.frame("video", 500, true, 100); // backwards
  assert.equal(stats.keyframeInterval, 2, "a jump is not a GOP");
  stats.frame("video", 3500, true, 100);
  assert.equal(stats.keyframeInterval, 2.25, "(2500 + 1500 + 2000 + 3000) / 4 ms");
});

Deno.test("IngestStats times an audio-only stream by its audio and gives no video figures", () => {
  const stats = new IngestStats();
  feed(stats, { fps: 0, gop: 1, seconds: 10, audioBytes: 375 });
  assert.equal(stats.keyframeInterval, null);
  assert.equal(stats.frameRate, null);
  const expected = (48_000 / 1024) * 375 * 8;
  assert.ok(Math.abs(stats.bitrate! - expected) / expected < 0.01, `bitrate ${stats.bitrate}`);
});

Deno.test("IngestStats counts 29.97 fps to the hundredth", () => {
  const stats = new IngestStats();
  feed(stats, { fps: 30000 / 1001, gop: 60, seconds: 12 });
  assert.ok(Math.abs(stats.frameRate! - 29.97) <= 0.02, `frameRate ${stats.frameRate}`);
});
