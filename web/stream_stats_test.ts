import assert from "node:assert/strict";
import { configureLogging } from "@cascade/common/log";
import { StreamHub } from "@cascade/stream/hub";
import { hubStreamStats } from "./stream_stats.ts";

configureLogging({ level: "error" });

Deno.test("hubStreamStats() measures the ingest bit rate between calls and forgets ended streams", () => {
  const hub = new StreamHub();
  let clock = 0;
  const stats = hubStreamStats(hub, () => clock);
  assert.equal(stats("alpha"), undefined);

  const stream = hub.open("alpha", "127.0.0.1");
  clock = stream.info.startedAt.getTime() + 2000;
  stream.info.bytes = 250_000; // 1 Mb/s over the first 2 s
  assert.equal(stats("alpha")?.bitrate, 1_000_000);

  clock += 500;
  stream.info.bytes += 1_000_000;
  assert.equal(stats("alpha")?.bitrate, 1_000_000, "a window under 1 s keeps the last rate");

  clock += 500;
  assert.equal(stats("alpha")?.bitrate, 8_000_000, "1 MB in the last second");

  hub.close(stream, "test");
  assert.equal(stats("alpha"), undefined);
});

Deno.test("hubStreamStats() reports the keyframe interval and frame rate the hub measures", () => {
  const hub = new StreamHub();
  const stream = hub.open("alpha", "127.0.0.1");
  const stats = hubStreamStats(hub);
  assert.equal(stats("alpha")?.keyframeInterval, undefined, "nothing measured yet");
  // 30 fps with a keyframe every 4 s, for 8 s.
  for (let i = 0; i <= 240; i++) {
    const dts = Math.round((i * 1000) / 30);
    const data = new Uint8Array(10);
    stream.frame({ kind: "video", codec: "h264", dts, pts: dts, keyframe: i % 120 === 0, data });
  }
  assert.equal(stats("alpha")?.keyframeInterval, 4);
  assert.equal(stats("alpha")?.frameRate, 30);
  hub.close(stream, "test");
});
