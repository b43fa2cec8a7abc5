/**
 * What real encoders do besides sending steady audio and video, against an in-process
 * origin, with real ffmpeg output and ffprobe judging every segment, while a player's view
 * of the playlist checks its rules on every reload: audio-only and video-only streams, a
 * resolution change mid-stream (a new AVC sequence header, sent by a publisher played by
 * hand, since ffmpeg cannot be made to send one), an encoder that dies without a word and
 * comes back within the republish grace, and one whose network is lost (the socket stays
 * open, silent) and that may come back only once the idle timeout has dropped it.
 *
 * What the origin does when a publisher vanishes (its connection dies or times out without
 * an unpublish): the broadcast ends at once and the open segment is listed, but the playlist
 * stays open (no `#EXT-X-ENDLIST`, which RFC 8216 never lets a server take back) until
 * `REPUBLISH_GRACE_SECONDS` run out; a publisher on the same key within the grace continues
 * the same playlist, its first segment after one `#EXT-X-DISCONTINUITY`, so players wait
 * through the reconnect instead of ending.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type FlvFileTag, flvFileTags } from "@cascade/media/flv";
import type { LivePlaylist } from "@cascade/media/hls/playlist";
import { MemoryRegistry } from "@cascade/registry/memory";
import { RtmpTestPublisher } from "../lib/media/rtmp/testing/publisher.ts";
import { startTestOrigin, type TestOrigin } from "./helpers/origin.ts";
import { FFMPEG, makeClip, publish } from "./helpers/media.ts";
import { decodeErrors, probeJson } from "./helpers/decode.ts";
import { PlaylistWatch } from "./helpers/playlist_watch.ts";
import { runChecked } from "./helpers/process.ts";
import { waitFor } from "./helpers/wait.ts";

const KEY = "test_key_1234";
const NAME = "alpha";

function watchPlaylist(origin: TestOrigin): PlaylistWatch {
  return new PlaylistWatch(`${origin.httpUrl}/live/${NAME}/index.m3u8`);
}

/** The codec types (`audio`, `video`) of the streams ffprobe finds in `url`. */
async function streamTypes(url: string): Promise<string[]> {
  const info = await probeJson(url, "-show_entries", "stream=codec_type") as {
    streams: { codec_type: string }[];
  };
  return info.streams.map((s) => s.codec_type).sort();
}

/** The distinct `WxH` of every video frame ffmpeg decodes from `url`. */
async function frameSizes(url: string): Promise<string[]> {
  const info = await probeJson(
    url,
    ...["-select_streams", "v:0", "-show_entries", "frame=width,height"],
  ) as { frames: { width: number; height: number }[] };
  return [...new Set(info.frames.map((f) => `${f.width}x${f.height}`))];
}

/** Every segment ever listed decodes without a complaint and holds exactly `types`. */
async function assertSegmentsDecode(watch: PlaylistWatch, types: string[]): Promise<void> {
  for (const seg of watch.allSegments()) {
    assert.equal(await decodeErrors(seg.url), "", `${seg.uri} decodes cleanly`);
    assert.deepEqual(await streamTypes(seg.url), types, `${seg.uri} holds ${types}`);
  }
}

/** Every closed segment but the last lasts `seconds`, give or take a frame. */
function assertCutEvery(p: LivePlaylist, seconds: number): void {
  for (const seg of p.segments.slice(0, -1)) {
    assert.ok(Math.abs(seg.duration - seconds) < 0.05, `${seg.uri} lasts ${seg.duration} s`);
  }
}

for (
  const [label, clipOptions, types] of [
    ["an audio-only", { video: false }, ["audio"]],
    ["a video-only", { audio: false }, ["video"]],
  ] as const
) {
  Deno.test(`${label} stream is announced and cut every 2 s into segments holding only its track`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "cascade-clip-" });
    const registry = new MemoryRegistry();
    try {
      const clip = join(dir, "clip.flv");
      await makeClip(clip, { seconds: 4, ...clipOptions });
      await using origin = await startTestOrigin({ HLS_LIST_SIZE: "20" }, { registry });
      await using watch = watchPlaylist(origin);
      await using ff = publish(origin.rtmpUrl(KEY), { clip, seconds: 7 });

      const first = await watch.until("a first segment", (p) => p.segments.length > 0);
      const claim = await registry.getStream(NAME);
      assert.equal(claim?.originId, "test-origin", "the origin claimed the stream");
      assert.equal(claim.mediaSequence, first.mediaSequence);

      assert.equal((await ff.status).code, 0, ff.output);
      const ended = await watch.until("the playlist to end", (p) => p.ended);
      assert.ok(ended.segments.length >= 3, `segments: ${ended.segments.length}`);
      assertCutEvery(ended, 2);
      assert.ok(ended.segments.every((s) => !s.discontinuity), "one timeline");
      watch.assertClean();
      await assertSegmentsDecode(watch, [...types]);
    } finally {
      await registry.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

/**
 * An H.264 + AAC FLV clip of `size` with a keyframe every second and the SPS/PPS only in
 * its sequence header (x264 `repeat-headers=0`), so a segment after a switch decodes only
 * if the packager applied the new sequence header.
 */
async function makeSizedClip(path: string, size: string, seconds: number): Promise<FlvFileTag[]> {
  await runChecked(FFMPEG, [
    ...["-hide_banner", "-loglevel", "error", "-y"],
    ...["-f", "lavfi", "-i", `testsrc2=size=${size}:rate=30`],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", String(seconds)],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"],
    ...["-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-x264-params", "repeat-headers=0"],
    ...["-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-ac", "2", "-f", "flv", path],
  ], { timeoutMs: 60_000 });
  return [...flvFileTags(await Deno.readFile(path))];
}

Deno.test("a resolution change mid-stream starts a new timeline at one discontinuity, never a mixed segment", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-clip-" });
  try {
    const small = await makeSizedClip(join(dir, "small.flv"), "320x180", 3);
    const large = await makeSizedClip(join(dir, "large.flv"), "640x360", 4);
    await using origin = await startTestOrigin({ HLS_LIST_SIZE: "20" });
    await using watch = watchPlaylist(origin);
    await using publisher = await RtmpTestPublisher.publish({
      hostname: "127.0.0.1",
      port: origin.rtmpPort,
      app: origin.config.RTMP_APP,
      key: KEY,
    });
    // 3 s, so the switch falls inside the second 2 s segment.
    await publisher.sendTags(small, { speed: 2 });
    // The second clip, its new sequence headers first, continues the timeline a frame later.
    const offsetMs = Math.max(...small.map((t) => t.timestamp)) + 33;
    await publisher.sendTags(large, { speed: 2, offsetMs });
    await publisher.unpublish();

    const ended = await watch.until("the playlist to end", (p) => p.ended);
    watch.assertClean();
    const segments = watch.allSegments();
    const sizes: string[] = [];
    for (const seg of segments) {
      assert.equal(await decodeErrors(seg.url), "", `${seg.uri} decodes cleanly`);
      assert.deepEqual(await streamTypes(seg.url), ["audio", "video"], `${seg.uri} has both`);
      const inSegment = await frameSizes(seg.url);
      assert.equal(inSegment.length, 1, `${seg.uri} has one resolution: ${inSegment}`);
      sizes.push(inSegment[0]!);
    }
    const switchAt = sizes.indexOf("640x360");
    assert.ok(switchAt > 0, `both sizes appear: ${sizes}`);
    assert.deepEqual(
      sizes,
      sizes.map((_, i) => i < switchAt ? "320x180" : "640x360"),
      "every segment before the switch is small, every one after it large",
    );
    assert.deepEqual(
      segments.filter((s) => s.discontinuity).map((s) => s.sequence),
      [segments[switchAt]!.sequence],
      "exactly one discontinuity, before the first large segment",
    );
    const total = ended.segments.reduce((sum, s) => sum + s.duration, 0);
    assert.ok(Math.abs(total - 7) < 0.2, `the playlist lists both clips: ${total} s`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an encoder killed mid-stream that reconnects within the grace continues the playlist after one discontinuity", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-clip-" });
  try {
    const clip = join(dir, "clip.flv");
    await makeClip(clip, { seconds: 4 });
    await using origin = await startTestOrigin({
      HLS_LIST_SIZE: "20",
      REPUBLISH_GRACE_SECONDS: "10",
    });
    await using watch = watchPlaylist(origin);
    await using first = publish(origin.rtmpUrl(KEY), { clip, seconds: 60 });
    await watch.until("two segments from the first encoder", (p) => p.segments.length >= 2);
    // SIGKILL: no FCUnpublish, no deleteStream; the kernel just closes the socket.
    await first.stop("SIGKILL");

    // The origin ends the broadcast when the connection drops and lists the segment that was
    // open, but leaves the playlist open for the grace period.
    await waitFor("the broadcast to end", () => origin.hub.get(NAME) === undefined);
    const listed = watch.latest!.segments.length;

    await using second = publish(origin.rtmpUrl(KEY), { clip, seconds: 5 });
    // The new encoder's segments list in the same playlist, after one discontinuity.
    await watch.until(
      "the second encoder's first segment",
      (p) => p.segments.some((s, i) => i >= listed - 1 && s.discontinuity),
    );
    assert.equal(
      (await second.status).code,
      0,
      `the origin accepted the reconnect: ${second.output}`,
    );
    const after = await watch.until("the second broadcast to end", (p) => p.ended);

    watch.assertClean();
    assert.deepEqual(
      watch.versions.map((p) => p.ended),
      [...watch.versions.slice(1).map(() => false), true],
      "no ENDLIST until the second encoder stopped",
    );
    assert.equal(after.mediaSequence, watch.versions[0]!.mediaSequence, "the window only grew");
    const seqs = after.segments.map((s) => s.sequence);
    seqs.forEach((s, i) => i > 0 && assert.equal(s, seqs[i - 1]! + 1, "consecutive sequences"));
    assert.equal(
      after.segments.filter((s) => s.discontinuity).length,
      1,
      "one discontinuity, where the second encoder starts",
    );
    await assertSegmentsDecode(watch, ["audio", "video"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an encoder whose connection goes silent holds its key until the idle timeout; the reconnect then continues the playlist after one discontinuity", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-clip-" });
  try {
    const tags = await makeSizedClip(join(dir, "clip.flv"), "320x180", 4);
    await using origin = await startTestOrigin({
      HLS_LIST_SIZE: "20",
      RTMP_IDLE_TIMEOUT_SECONDS: "4",
      REPUBLISH_GRACE_SECONDS: "10",
    });
    await using watch = watchPlaylist(origin);
    const target = {
      hostname: "127.0.0.1",
      port: origin.rtmpPort,
      app: origin.config.RTMP_APP,
      key: KEY,
    };
    // A lost network: the media stops, the socket stays open, no FIN ever arrives.
    await using silent = await RtmpTestPublisher.publish(target);
    await silent.sendTags(tags, { speed: 2 });
    const held = origin.hub.get(NAME);
    assert.ok(held, "the silent encoder still holds the stream");
    await assert.rejects(
      RtmpTestPublisher.publish(target),
      /NetStream\.Publish\.BadName/,
      "a reconnect is refused while the silent connection holds the key",
    );
    assert.equal(origin.hub.get(NAME), held, "the refusal left the silent encoder in place");

    await waitFor("the silent connection closed by the origin", () => silent.serverClosed, {
      timeoutMs: 15_000,
    });
    await waitFor("the broadcast to end", () => origin.hub.get(NAME) === undefined);
    const dropped = watch.latest!;
    await using back = await RtmpTestPublisher.publish(target);
    await back.sendTags(tags, { speed: 2 });
    await back.unpublish();
    const after = await watch.until(
      "the reconnect's segments to end",
      (p) => p.ended && p.segments.length > dropped.segments.length,
    );

    watch.assertClean();
    assert.deepEqual(
      watch.versions.map((p) => p.ended),
      [...watch.versions.slice(1).map(() => false), true],
      "no ENDLIST until the reconnect unpublished",
    );
    assert.equal(after.mediaSequence, dropped.mediaSequence, "the window only grew");
    assert.equal(
      after.segments.filter((s) => s.discontinuity).length,
      1,
      "one discontinuity, where the reconnect starts",
    );
    await assertSegmentsDecode(watch, ["audio", "video"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a reconnect takes the stream over from a publisher silent for RTMP_TAKEOVER_IDLE_SECONDS, long before the idle timeout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-clip-" });
  try {
    const tags = await makeSizedClip(join(dir, "clip.flv"), "320x180", 4);
    await using origin = await startTestOrigin({
      HLS_LIST_SIZE: "20",
      RTMP_IDLE_TIMEOUT_SECONDS: "60",
      RTMP_TAKEOVER_IDLE_SECONDS: "2",
    });
    await using watch = watchPlaylist(origin);
    const target = {
      hostname: "127.0.0.1",
      port: origin.rtmpPort,
      app: origin.config.RTMP_APP,
      key: KEY,
    };
    await using silent = await RtmpTestPublisher.publish(target);
    await silent.sendTags(tags, { speed: 2 });
    const sentAt = performance.now();
    // Silent for less than the takeover time: still the stream's publisher.
    await assert.rejects(RtmpTestPublisher.publish(target), /NetStream\.Publish\.BadName/);
    await watch.until("the first publisher's segments", (p) => p.segments.length >= 1);
    const back = await waitFor(
      "a reconnect to be accepted",
      () => RtmpTestPublisher.publish(target).catch(() => undefined),
      { timeoutMs: 10_000, intervalMs: 250 },
    );
    await using _back = back;
    const waitedMs = performance.now() - sentAt;
    assert.ok(waitedMs >= 2000 && waitedMs < 10_000, `taken over after ${waitedMs} ms`);
    await waitFor("the silent connection closed by the origin", () => silent.serverClosed);
    await back.sendTags(tags, { speed: 2 });
    await back.unpublish();
    const after = await watch.until(
      "the reconnect's segments to end",
      (p) => p.ended && p.segments.some((s) => s.discontinuity),
    );

    watch.assertClean();
    assert.deepEqual(
      watch.versions.map((p) => p.ended),
      [...watch.versions.slice(1).map(() => false), true],
      "no ENDLIST until the reconnect unpublished",
    );
    assert.equal(
      after.segments.filter((s) => s.discontinuity).length,
      1,
      "one discontinuity, where the reconnect starts",
    );
    await assertSegmentsDecode(watch, ["audio", "video"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
