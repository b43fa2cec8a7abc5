import assert from "node:assert/strict";
import type { HubMessage, MediaFrame } from "@cascade/media/frame";
import { configureLogging, log } from "@cascade/common/log";
import { aacTrack } from "../media/testing/tracks.ts";
import { MetricsRegistry } from "@cascade/common/metrics";
import { StreamBusyError, StreamHub } from "./hub.ts";

configureLogging({ level: "error" });

function frame(dts: number, keyframe: boolean, kind: "video" | "audio" = "video"): MediaFrame {
  return {
    kind,
    codec: kind === "video" ? "h264" : "aac",
    dts,
    pts: dts,
    keyframe,
    data: new Uint8Array(4),
  };
}

Deno.test("StreamHub.open() refuses a second publisher for a live name", () => {
  const hub = new StreamHub(log);
  const first = hub.open("alpha", "1.2.3.4");
  assert.throws(() => hub.open("alpha", "5.6.7.8"), StreamBusyError);
  assert.equal(hub.get("alpha"), first);
  hub.close(first, "done");
  assert.equal(hub.get("alpha"), undefined);
  hub.open("alpha", "5.6.7.8");
});

Deno.test("Subscription drops frames until the next keyframe when its queue is full", async () => {
  const hub = new StreamHub(log);
  const stream = hub.open("alpha", "127.0.0.1");
  const slow = stream.subscribe("slow", 4);
  const fast = stream.subscribe("fast", 1000);
  // The publisher never waits: 8 frames go out while nobody reads.
  const sent = [
    frame(0, true),
    frame(33, false),
    frame(66, false),
    frame(100, false),
    frame(133, false),
  ];
  sent.push(frame(166, false), frame(200, true), frame(233, false));
  for (const f of sent) stream.frame(f);
  hub.close(stream, "done");
  const read = async (sub: AsyncIterable<HubMessage>) => {
    const out: number[] = [];
    for await (const m of sub) if (m.type === "frame") out.push(m.frame.dts);
    return out;
  };
  const [slowGot, fastGot] = await Promise.all([read(slow), read(fast)]);
  assert.deepEqual(fastGot, sent.map((f) => f.dts), "the fast consumer is untouched");
  // The first 4 fit; from 133 on the queue is full, so frames are dropped until a keyframe
  // finds room (none does here: nobody read while the publisher sent, so the keyframe at 200
  // goes too): 133, 166, 200 and 233.
  assert.deepEqual(slowGot.slice(0, 4), [0, 33, 66, 100]);
  assert.ok(!slowGot.includes(133) && !slowGot.includes(166), "frames after overflow dropped");
  assert.deepEqual(slowGot, [0, 33, 66, 100]);
  assert.equal(slow.dropped, 4);
});

Deno.test("Subscription resumes at a keyframe once the consumer catches up", async () => {
  const hub = new StreamHub(log);
  const stream = hub.open("alpha", "127.0.0.1");
  const sub = stream.subscribe("slow", 2);
  const it = sub[Symbol.asyncIterator]();
  stream.frame(frame(0, true));
  stream.frame(frame(33, false));
  stream.frame(frame(66, false)); // overflow: dropped, now waiting for a keyframe
  assert.equal((await it.next()).value.frame.dts, 0);
  assert.equal((await it.next()).value.frame.dts, 33);
  stream.frame(frame(100, false)); // still waiting for a keyframe: dropped
  stream.frame(frame(110, false, "audio")); // audio is dropped too until video recovers
  stream.frame(frame(133, true)); // keyframe with room: resumes
  stream.frame(frame(166, false));
  assert.equal((await it.next()).value.frame.dts, 133);
  assert.equal((await it.next()).value.frame.dts, 166);
  assert.equal(sub.dropped, 3);
});

Deno.test("StreamHub counts dropped frames per consumer in cascade_hub_dropped_frames_total", () => {
  const metrics = new MetricsRegistry();
  const hub = new StreamHub(log, metrics);
  const stream = hub.open("alpha", "127.0.0.1");
  stream.subscribe("slow", 2);
  stream.subscribe("fast", 1000);
  for (let i = 0; i < 5; i++) stream.frame(frame(i * 33, i === 0));
  const text = metrics.render();
  assert.match(text, /^# TYPE cascade_hub_dropped_frames_total counter$/m);
  assert.match(text, /^cascade_hub_dropped_frames_total\{consumer="slow"\} 3$/m);
  assert.match(text, /^cascade_hub_dropped_frames_total\{consumer="fast"\} 0$/m);
});

Deno.test("A late subscriber first receives the current track configs", async () => {
  const hub = new StreamHub(log);
  const stream = hub.open("alpha", "127.0.0.1");
  stream.config(aacTrack);
  assert.deepEqual(stream.info.codecs, ["mp4a.40.2"]);
  const sub = stream.subscribe("late");
  hub.close(stream, "done");
  const got: HubMessage[] = [];
  for await (const m of sub) got.push(m);
  assert.deepEqual(got, [{ type: "config", track: aacTrack }]);
});

Deno.test("LiveStream.frame() measures the encoder: keyframe interval, frame rate, bit rate", () => {
  const hub = new StreamHub(log);
  const stream = hub.open("alpha", "127.0.0.1");
  assert.equal(stream.info.stats.keyframeInterval, null);
  // 25 fps, a keyframe every 3 s, 4 bytes a frame, for 9 s.
  for (let i = 0; i <= 225; i++) stream.frame(frame(i * 40, i % 75 === 0));
  assert.equal(stream.info.stats.keyframeInterval, 3);
  assert.equal(stream.info.stats.frameRate, 25);
  assert.equal(stream.info.stats.bitrate, 25 * 4 * 8);
  hub.close(stream, "done");
});

Deno.test("StreamHub.open() takes a name over from an evictable publisher silent for the takeover time, and only then", () => {
  const evicted: string[] = [];
  const patient = new StreamHub(log, undefined, 60_000);
  patient.open("cam", "1.1.1.1", { evict: (r) => evicted.push(r) });
  assert.throws(() => patient.open("cam", "2.2.2.2"), StreamBusyError, "not silent long enough");

  const hub = new StreamHub(log, undefined, 0);
  const stops: string[] = [];
  hub.on((e) => e.type === "publish.stop" && stops.push(`${e.stream.info.clientIp} ${e.reason}`));
  const stubborn = hub.open("other", "1.1.1.1");
  assert.throws(() => hub.open("other", "2.2.2.2"), StreamBusyError, "no way to evict it");
  assert.equal(hub.get("other"), stubborn);

  const first = hub.open("cam", "1.1.1.1", { evict: (r) => evicted.push(r) });
  const second = hub.open("cam", "2.2.2.2");
  assert.deepEqual(evicted, ["taken over by a new publisher"]);
  assert.ok(first.ended && first.lost, "the silent one's broadcast counts as lost");
  assert.equal(hub.get("cam"), second);
  assert.deepEqual(stops, ["1.1.1.1 taken over by a new publisher"]);
});

Deno.test("LiveStream.latestKeyframe is the newest video keyframe, by reference", () => {
  const hub = new StreamHub(log);
  const stream = hub.open("cam", "1.1.1.1");
  assert.equal(stream.latestKeyframe, undefined);
  const first = frame(0, true);
  stream.frame(first);
  stream.frame(frame(33, false));
  stream.frame(frame(40, true, "audio"));
  assert.equal(stream.latestKeyframe, first);
  const second = frame(2000, true);
  stream.frame(second);
  assert.equal(stream.latestKeyframe, second);
});
