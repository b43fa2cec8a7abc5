/**
 * Browser ingest over WebSocket with real components: a Deno `WebSocket` publishes real
 * x264 + AAC frames (an ffmpeg clip demuxed to `MediaFrame`s) to a real origin's
 * `/ingest/ws`, and the origin's playlist and segments are judged by ffprobe. Refusals (wrong
 * key, a live name, too large, too fast, too slow to authenticate) and malformed messages
 * close only the offending connection with the protocol's code; the key is in no log line.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { MediaFrame } from "@cascade/media/frame";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { startTestOrigin, type TestOrigin } from "./helpers/origin.ts";
import { clipFrames, opusPackets } from "./helpers/media.ts";
import { probeJson, probeStreams } from "./helpers/decode.ts";
import { captureLog } from "./helpers/log.ts";
import { waitFor } from "./helpers/wait.ts";
import { aacConfig, frameMessage, videoConfig, WsPublisher } from "./helpers/ws_publisher.ts";

const KEY = "test_key_1234"; // alpha
const OTHER_KEY = "test_key_5678"; // beta

const clipDir = await Deno.makeTempDir({ prefix: "cascade-ws-clip-" });
const clip = await clipFrames(join(clipDir, "clip.flv"), { seconds: 4 });
await Deno.remove(clipDir, { recursive: true });

function wsUrl(origin: TestOrigin): string {
  return `ws://127.0.0.1:${origin.httpPort}/ingest/ws`;
}

async function startOrigin(env: Record<string, string> = {}) {
  const log = captureLog();
  const origin = await startTestOrigin({ HLS_SEGMENT_SECONDS: "1", ...env }, { log });
  return Object.assign(origin, { log });
}

/** Packets per codec in a media file, as ffprobe counts them (a codec without packets: NaN). */
async function packetCounts(path: string): Promise<Record<string, number>> {
  const info = await probeJson(
    path,
    "-count_packets",
    "-show_entries",
    "stream=codec_name,nb_read_packets",
  ) as { streams: { codec_name: string; nb_read_packets: string }[] };
  return Object.fromEntries(info.streams.map((s) => [s.codec_name, Number(s.nb_read_packets)]));
}

/** Sends the clip's configs and frames, `speed` times real time (Infinity: all at once). */
async function sendClip(p: WsPublisher, frames: readonly MediaFrame[], speed = Infinity) {
  p.send(videoConfig(clip.video));
  p.send(aacConfig(clip.audio));
  // A browser's timestamps start anywhere: the origin rebases them to near 0.
  const offsetUs = 123_456_789;
  const started = performance.now();
  for (const frame of frames) {
    if (Number.isFinite(speed)) {
      await waitFor("the frame's time", () => performance.now() - started >= frame.dts / speed, {
        intervalMs: 5,
      });
    }
    if (!p.open) return;
    p.sendFrame(frame, offsetUs);
  }
}

Deno.test("a browser publisher's H.264 + AAC becomes an HLS playlist with video and audio", async () => {
  await using origin = await startOrigin();
  const p = await WsPublisher.publish(wsUrl(origin), KEY);
  assert.deepEqual(p.messages[0], { type: "publishing", name: "alpha" });
  await sendClip(p, clip.frames, 4);
  const stats = await p.next((m) => m.type === "stats");
  assert.ok(typeof stats.bitrate === "number" && stats.bitrate > 0, JSON.stringify(stats));
  assert.ok(typeof stats.frames === "number" && stats.frames > 0);
  p.send({ type: "stop" });
  assert.equal((await p.closed).code, 1000);

  const path = join(origin.mediaRoot, "alpha", "index.m3u8");
  const playlist = await waitFor("the playlist to end", async () => {
    const text = await Deno.readTextFile(path).catch(() => undefined);
    const parsed = text === undefined ? undefined : parsePlaylist(text);
    return parsed?.ended ? parsed : undefined;
  });
  assert.ok(playlist.segments.length >= 2, `segments: ${playlist.segments.length}`);
  const first = join(origin.mediaRoot, "alpha", playlist.segments[0]!.uri);
  const { codecs } = await probeStreams(first);
  assert.deepEqual(codecs, ["aac", "h264"]);
  const received = origin.received.get("alpha") ?? [];
  const frames = received.filter((m) => m.type === "frame").map((m) => m.frame);
  assert.equal(frames.length, clip.frames.length, "every frame reached the hub");
  assert.ok(frames[0]!.dts < 100, `rebased near 0: ${frames[0]!.dts}`);
  assert.equal(origin.log.lines.filter((l) => JSON.stringify(l).includes(KEY)).length, 0);
});

Deno.test("a browser publisher's Opus audio arrives in the hub and the segments as AAC, from the first segment on a slow-starting ffmpeg", async () => {
  // ffmpeg that starts late, as on a loaded host: its first AAC frame comes after more than a
  // segment of video has arrived.
  const dir = await Deno.makeTempDir({ prefix: "cascade-slow-ffmpeg-" });
  const slowFfmpeg = join(dir, "ffmpeg");
  await Deno.writeTextFile(slowFfmpeg, '#!/bin/sh\nsleep 1.5\nexec ffmpeg "$@"\n');
  await Deno.chmod(slowFfmpeg, 0o755);
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  await using origin = await startOrigin({ WS_INGEST_FFMPEG: slowFfmpeg });
  const packets = await opusPackets(4);
  const p = await WsPublisher.publish(wsUrl(origin), KEY);
  p.send(videoConfig(clip.video));
  p.send({ type: "audio-config", codec: "opus", sampleRate: 48000, channels: 2 });
  const video = clip.frames.filter((f) => f.kind === "video");
  const offsetUs = 9_000_000;
  const started = performance.now();
  let v = 0;
  let a = 0;
  while (v < video.length || a < packets.length) {
    const nextVideoMs = video[v]?.dts ?? Infinity;
    const nextAudioMs = a < packets.length ? a * 20 : Infinity;
    const at = Math.min(nextVideoMs, nextAudioMs);
    await waitFor("the next frame's time", () => performance.now() - started >= at / 4, {
      intervalMs: 5,
    });
    if (nextVideoMs <= nextAudioMs) p.sendFrame(video[v++]!, offsetUs);
    else p.sendBytes(frameMessage("audio", true, offsetUs + a++ * 20_000, packets[a - 1]!));
  }
  const received = origin.received.get("alpha") ?? [];
  await waitFor(
    "AAC frames in the hub",
    () => received.filter((m) => m.type === "frame" && m.frame.kind === "audio").length >= 150,
    {
      timeoutMs: 20_000,
    },
  );
  p.send({ type: "stop" });
  await p.closed;
  const audioConfig = received.find((m) => m.type === "config" && m.track.kind === "audio");
  assert.ok(audioConfig?.type === "config" && audioConfig.track.kind === "audio");
  assert.equal(audioConfig.track.codec, "aac");
  assert.equal(audioConfig.track.aac.sampleRate, 48000);
  assert.ok(!p.messages.some((m) => m.type === "warning"), JSON.stringify(p.messages));
  const path = join(origin.mediaRoot, "alpha", "index.m3u8");
  const playlist = await waitFor("the playlist to end", async () => {
    const text = await Deno.readTextFile(path).catch(() => undefined);
    const parsed = text === undefined ? undefined : parsePlaylist(text);
    return parsed?.ended ? parsed : undefined;
  });
  // The first segment too: video waits for the transcoder's first AAC frame, so hls.js
  // finds both tracks in the segment it starts with.
  for (const segment of [playlist.segments[0]!, playlist.segments.at(-1)!]) {
    const packets = await packetCounts(join(origin.mediaRoot, "alpha", segment.uri));
    assert.ok(packets.aac! > 0 && packets.h264! > 0, `${segment.uri}: ${JSON.stringify(packets)}`);
  }
});

Deno.test("without ffmpeg, Opus gets a warning audio_unavailable and the video goes on", async () => {
  await using origin = await startOrigin({ WS_INGEST_FFMPEG: "/nonexistent/ffmpeg" });
  await using p = await WsPublisher.publish(wsUrl(origin), KEY);
  p.send(videoConfig(clip.video));
  p.send({ type: "audio-config", codec: "opus", sampleRate: 48000, channels: 2 });
  const warning = await p.next((m) => m.type === "warning");
  assert.equal(warning.code, "audio_unavailable");
  const video = clip.frames.filter((f) => f.kind === "video").slice(0, 10);
  for (const [i, frame] of video.entries()) {
    p.sendFrame(frame);
    p.sendBytes(frameMessage("audio", true, i * 20_000, new Uint8Array([0xfc, 0xff, 0xfe])));
  }
  await waitFor("the video frames", () => origin.hub.get("alpha")?.info.frames === video.length);
  assert.ok(p.open);
  assert.equal(origin.log.events("ws_ingest.ffmpeg_unavailable").length, 1);
});

Deno.test("a wrong key is refused with unauthorized and 4001 and creates nothing", async () => {
  await using origin = await startOrigin();
  await using p = await WsPublisher.connect(wsUrl(origin));
  p.send({ type: "publish", key: "wrong_key_0000" });
  const closed = await p.closed;
  assert.equal(closed.code, 4001);
  assert.equal(p.messages[0]?.type, "error");
  assert.equal(p.messages[0]?.code, "unauthorized");
  assert.equal(origin.hub.size, 0);
  assert.equal(origin.received.size, 0);
  const lines = JSON.stringify(origin.log.lines);
  assert.ok(!lines.includes("wrong_key_0000"), "the key is in no log line");
  assert.ok(origin.log.events("ws_ingest.refused").length === 1);
});

Deno.test("a second publisher of a live name is refused with already_live and 4009", async () => {
  await using origin = await startOrigin();
  await using first = await WsPublisher.publish(wsUrl(origin), KEY);
  first.send(videoConfig(clip.video));
  first.sendFrame(clip.frames.find((f) => f.kind === "video")!);
  await waitFor("the first frame", () => origin.hub.get("alpha")?.info.frames === 1);
  await using second = await WsPublisher.connect(wsUrl(origin));
  second.send({ type: "publish", key: KEY });
  assert.equal((await second.closed).code, 4009);
  assert.equal(second.messages[0]?.code, "already_live");
  assert.ok(first.open, "the first publisher goes on");
  assert.equal(origin.hub.get("alpha")?.info.frames, 1);
});

Deno.test("a message over WS_INGEST_MAX_MESSAGE_BYTES is refused with too_large and 4013", async () => {
  await using origin = await startOrigin({ WS_INGEST_MAX_MESSAGE_BYTES: "65536" });
  await using p = await WsPublisher.publish(wsUrl(origin), KEY);
  p.send(videoConfig(clip.video));
  p.sendBytes(frameMessage("video", true, 0, new Uint8Array(70_000)));
  assert.equal((await p.closed).code, 4013);
  assert.equal(p.messages.find((m) => m.type === "error")?.code, "too_large");
  await waitFor("the broadcast ended", () => origin.hub.size === 0);
});

Deno.test("a publisher over WS_INGEST_MAX_FPS is refused with rate_limited and 4029", async () => {
  await using origin = await startOrigin({ WS_INGEST_MAX_FPS: "5" });
  await using p = await WsPublisher.publish(wsUrl(origin), KEY);
  await sendClip(p, clip.frames);
  assert.equal((await p.closed).code, 4029);
  assert.equal(p.messages.find((m) => m.type === "error")?.code, "rate_limited");
});

Deno.test("no publish message within WS_INGEST_AUTH_TIMEOUT_SECONDS closes with timeout and 4008", async () => {
  await using origin = await startOrigin({ WS_INGEST_AUTH_TIMEOUT_SECONDS: "0.5" });
  await using p = await WsPublisher.connect(wsUrl(origin));
  assert.equal((await p.closed).code, 4008);
  assert.equal(p.messages[0]?.code, "timeout");
});

Deno.test("a socket closed without stop is a vanished publisher; stop is a clean end", async () => {
  await using origin = await startOrigin();
  const stops: boolean[] = [];
  origin.hub.on((e) => {
    if (e.type === "publish.stop") stops.push(e.stream.lost);
  });
  const vanishing = await WsPublisher.publish(wsUrl(origin), KEY);
  vanishing.socket.close();
  await vanishing.closed;
  await waitFor("the first broadcast ended", () => stops.length === 1);
  const stopping = await WsPublisher.publish(wsUrl(origin), KEY);
  stopping.send({ type: "stop" });
  await stopping.closed;
  await waitFor("the second broadcast ended", () => stops.length === 2);
  assert.deepEqual(stops, [true, false]);
});

Deno.test("malformed messages close only their own connection while another publisher goes on", async () => {
  await using origin = await startOrigin();
  await using steady = await WsPublisher.publish(wsUrl(origin), OTHER_KEY);
  steady.send(videoConfig(clip.video));
  const videoFrames = clip.frames.filter((f) => f.kind === "video");
  let sent = 0;
  const sendOne = () => steady.sendFrame(videoFrames[sent++ % videoFrames.length]!, sent * 1000);
  const config = videoConfig(clip.video);
  const cases: [string, (p: WsPublisher) => void][] = [
    ["bad JSON", (p) => p.send("{not json")],
    ["an unknown type", (p) => p.send({ type: "dance" })],
    [
      "a frame before its config",
      (p) => p.sendBytes(frameMessage("video", true, 0, clip.frames[0]!.data)),
    ],
    ["a short header", (p) => p.sendBytes(new Uint8Array([1, 1, 0, 0]))],
    [
      "an unknown track",
      (p) => p.sendBytes(frameMessage("video", true, 0, new Uint8Array(8)).fill(7, 0, 1)),
    ],
    ["a config that does not parse", (p) => p.send({ ...config, description: "AAAA" })],
    ["an AVC frame that is not length-prefixed", (p) => {
      p.send(config);
      p.sendBytes(frameMessage("video", true, 0, new Uint8Array([0, 0, 0, 9, 0x65])));
    }],
  ];
  for (const [what, misbehave] of cases) {
    sendOne();
    await using p = await WsPublisher.publish(wsUrl(origin), KEY);
    misbehave(p);
    const closed = await p.closed;
    assert.equal(closed.code, 4000, what);
    assert.equal(p.messages.find((m) => m.type === "error")?.code, "bad_message", what);
    await waitFor(`alpha ended after ${what}`, () => origin.hub.get("alpha") === undefined);
  }
  // A binary message first, before any publish, is as malformed.
  await using early = await WsPublisher.connect(wsUrl(origin));
  early.sendBytes(frameMessage("video", true, 0, new Uint8Array(8)));
  assert.equal((await early.closed).code, 4000);
  sendOne();
  assert.ok(steady.open, "the steady publisher is still connected");
  await waitFor("every steady frame arrived", () => origin.hub.get("beta")?.info.frames === sent);
});

Deno.test("/ingest/ws is served on the all-in-one port too", async () => {
  const { startAllInOne } = await import("../node/all_in_one.ts");
  const dataDir = await Deno.makeTempDir({ prefix: "cascade-aio-" });
  const mediaRoot = await Deno.makeTempDir({ prefix: "cascade-aio-media-" });
  const node = await startAllInOne({
    HOST: "127.0.0.1",
    PORT: "0",
    RTMP_HOST: "127.0.0.1",
    RTMP_PORT: "0",
    CASCADE_DATA_DIR: dataDir,
    MEDIA_ROOT: mediaRoot,
    RECORDINGS_ROOT: join(mediaRoot, "rec"),
    LOG_LEVEL: "warn",
  });
  try {
    const { devKey } = JSON.parse(await Deno.readTextFile(join(dataDir, "secrets.json")));
    const p = await WsPublisher.publish(`ws://127.0.0.1:${node.port}/ingest/ws`, devKey);
    assert.deepEqual(p.messages[0], { type: "publishing", name: "dev" });
    p.send({ type: "stop" });
    assert.equal((await p.closed).code, 1000);
  } finally {
    await node.close();
    await Deno.remove(dataDir, { recursive: true });
    await Deno.remove(mediaRoot, { recursive: true });
  }
});

Deno.test("a browser publisher whose audio starts 2.5 s after its video: the first segment already carries audio samples", async () => {
  await using origin = await startOrigin();
  const p = await WsPublisher.publish(wsUrl(origin), KEY);
  const late = clip.frames.filter((f) => f.kind === "video" || f.dts >= 2500);
  await sendClip(p, late, 4);
  p.send({ type: "stop" });
  await p.closed;
  const playlist = await waitFor("the playlist to end", async () => {
    const path = join(origin.mediaRoot, "alpha", "index.m3u8");
    const text = await Deno.readTextFile(path).catch(() => undefined);
    const parsed = text === undefined ? undefined : parsePlaylist(text);
    return parsed?.ended ? parsed : undefined;
  });
  const first = playlist.segments[0]!;
  const packets = await packetCounts(join(origin.mediaRoot, "alpha", first.uri));
  assert.ok(packets.aac! > 0 && packets.h264! > 0, `${first.uri}: ${JSON.stringify(packets)}`);
});
