import assert from "node:assert/strict";
import { concatBytes } from "@cascade/media/bytes";
import type { HubMessage, MediaFrame } from "@cascade/media/frame";
import { aacTrack, avcTrack } from "../media/testing/tracks.ts";
import { flvFeed, FlvHubReader } from "./flv_feed.ts";

function frame(kind: "video" | "audio", dts: number, keyframe = kind === "audio"): HubMessage {
  const f: MediaFrame = kind === "video"
    ? { kind, codec: "h264", dts, pts: dts + 40, keyframe, data: Uint8Array.of(0, 0, 0, 1, dts) }
    : { kind, codec: "aac", dts, pts: dts, keyframe: true, data: Uint8Array.of(dts & 0xff) };
  return { type: "frame", frame: f };
}

async function* from(messages: HubMessage[]): AsyncGenerator<HubMessage> {
  yield* messages;
}

async function collect(messages: HubMessage[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const chunk of flvFeed(from(messages))) out.push(chunk);
  return out;
}

const video = { type: "config", track: avcTrack(0x1f) } as const;
const audio = { type: "config", track: aacTrack } as const;

Deno.test("flvFeed() sends the configs, then frames from the first video keyframe, and FlvHubReader reads them back", async () => {
  const chunks = await collect([
    video,
    audio,
    frame("audio", 10),
    frame("video", 20),
    frame("video", 40, true),
    frame("audio", 45),
    frame("video", 60),
  ]);
  assert.equal(chunks.length, 1 + 2 + 3, "header, 2 configs, 3 frames from the keyframe");
  const read = new FlvHubReader().push(concatBytes(chunks));
  assert.deepEqual(read.map((m) => m.type === "config" ? m.track.kind : m.frame.dts), [
    "video",
    "audio",
    40,
    45,
    60,
  ]);
  const key = read[2]!;
  assert.ok(key.type === "frame" && key.frame.keyframe && key.frame.pts === 80);
  assert.deepEqual(key.type === "frame" && [...key.frame.data], [0, 0, 0, 1, 40]);
});

Deno.test("flvFeed() passes every frame of a stream without video", async () => {
  const chunks = await collect([audio, frame("audio", 0), frame("audio", 21)]);
  const read = new FlvHubReader().push(concatBytes(chunks));
  assert.deepEqual(read.map((m) => m.type), ["config", "frame", "frame"]);
});

Deno.test("FlvHubReader.push() takes FLV split anywhere and refuses bytes that are not FLV", async () => {
  const bytes = concatBytes(await collect([video, frame("video", 0, true), frame("video", 33)]));
  const reader = new FlvHubReader();
  const read: HubMessage[] = [];
  for (let at = 0; at < bytes.length; at += 7) {
    read.push(...reader.push(bytes.subarray(at, at + 7)));
  }
  assert.deepEqual(read.map((m) => m.type), ["config", "frame", "frame"]);
  assert.throws(
    () => new FlvHubReader().push(new TextEncoder().encode("GET / HTTP/1.1\r\n")),
    SyntaxError,
  );
});
