/**
 * RTMP ingest acceptance: real encoders (ffmpeg, GStreamer's rtmp2sink) publish to an
 * in-process origin and the hub receives clean, timestamped frames; wrong keys and second
 * publishers are refused without disturbing anyone else.
 */
import assert from "node:assert/strict";
import type { HubMessage, MediaFrame } from "@cascade/media/frame";
import { startTestOrigin } from "./helpers/origin.ts";
import { publish, publishGst } from "./helpers/media.ts";
import { waitFor } from "./helpers/wait.ts";

function frames(msgs: HubMessage[], kind: "video" | "audio"): MediaFrame[] {
  return msgs.flatMap((m) => (m.type === "frame" && m.frame.kind === kind ? [m.frame] : []));
}

function assertCleanStream(msgs: HubMessage[], seconds: number, fps: number) {
  const configs = msgs.filter((m) => m.type === "config");
  assert.ok(configs.some((m) => m.track.kind === "video"), "video config received");
  assert.ok(configs.some((m) => m.track.kind === "audio"), "audio config received");
  const video = frames(msgs, "video");
  const audio = frames(msgs, "audio");
  const keyframes = video.filter((f) => f.keyframe).length;
  assert.ok(keyframes >= 5, `at least 5 keyframes, got ${keyframes}`);
  assert.ok(audio.length > seconds * 40, `audio frames flow, got ${audio.length}`);
  for (const list of [video, audio]) {
    for (let i = 1; i < list.length; i++) {
      assert.ok(list[i]!.dts >= list[i - 1]!.dts, `DTS monotonic at frame ${i}`);
    }
  }
  const span = (video.at(-1)!.dts - video[0]!.dts) / 1000;
  const rate = (video.length - 1) / span;
  assert.ok(
    Math.abs(rate - fps) / fps < 0.05,
    `frame rate ${rate.toFixed(2)} within 5 % of ${fps}`,
  );
}

Deno.test("ffmpeg publishes 10 s of H.264 + AAC and the hub gets clean frames", async () => {
  await using origin = await startTestOrigin();
  await using ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 10, fps: 30 });
  const status = await ff.status;
  assert.equal(status.code, 0, `ffmpeg exit 0; output:\n${ff.output}`);
  const msgs = await waitFor("stream end", () => {
    const m = origin.received.get("alpha");
    return m && !origin.hub.get("alpha") ? m : undefined;
  });
  assertCleanStream(msgs, 10, 30);
  const video = frames(msgs, "video");
  const cfg = msgs.find((m) => m.type === "config" && m.track.kind === "video");
  assert.ok(cfg?.type === "config" && cfg.track.kind === "video");
  assert.equal(cfg.track.avc.width, 320);
  assert.equal(cfg.track.avc.height, 240);
  assert.ok(video.length >= 290 && video.length <= 305, `~300 video frames, got ${video.length}`);
});

Deno.test("ffmpeg with a wrong key is refused and nothing is created", async () => {
  await using origin = await startTestOrigin();
  // Publishes until stopped: the only way for it to end on its own is being refused.
  await using ff = publish(origin.rtmpUrl("wrong_key_0000"));
  const status = await waitFor("ffmpeg to be refused", () => ff.exited && ff.status, {
    timeoutMs: 20_000,
  });
  assert.notEqual(status.code, 0, "ffmpeg fails");
  assert.equal(origin.hub.size, 0);
  assert.equal(origin.received.size, 0);
  assert.deepEqual([...Deno.readDirSync(origin.mediaRoot)], [], "nothing written to MEDIA_ROOT");
});

Deno.test("a second publisher on a live key is refused and the first keeps publishing", async () => {
  await using origin = await startTestOrigin();
  await using first = publish(origin.rtmpUrl("test_key_1234"), { seconds: 10 });
  await waitFor("first publisher live", () => origin.hub.get("alpha"));
  await waitFor("first frames", () => (origin.hub.get("alpha")?.info.frames ?? 0) > 30);
  const live = origin.hub.get("alpha")!;
  await using second = publish(origin.rtmpUrl("test_key_1234"), { seconds: 8 });
  const secondStatus = await second.status;
  assert.notEqual(secondStatus.code, 0, "second publisher fails");
  assert.equal(origin.hub.get("alpha"), live, "the live stream is untouched");
  const before = live.info.frames;
  await waitFor("first keeps publishing", () => live.info.frames > before + 30);
  const status = await first.status;
  assert.equal(status.code, 0, `first publisher exits 0:\n${first.output}`);
  const msgs = await waitFor("recording", () => origin.received.get("alpha"));
  await waitFor("stream end", () => !origin.hub.get("alpha"));
  assertCleanStream(msgs, 10, 30);
});

Deno.test("GStreamer rtmp2sink publishes H.264 + AAC", async () => {
  await using origin = await startTestOrigin();
  await using gst = publishGst(origin.rtmpUrl("test_key_5678"), 300);
  const status = await gst.status;
  assert.equal(status.code, 0, `gst-launch exit 0:\n${gst.output}`);
  const msgs = await waitFor("stream end", () => {
    const m = origin.received.get("beta");
    return m && !origin.hub.get("beta") ? m : undefined;
  });
  assertCleanStream(msgs, 10, 30);
});
