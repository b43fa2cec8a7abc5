/**
 * `Recorder` on a real `StreamHub` writing real files, fed generated frames whose timing is
 * known: chunks cut at the first keyframe after `chunkSeconds` and named after the broadcast,
 * a new chunk after a codec change, and streams the recording policy leaves alone.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { MediaFrame } from "@cascade/media/frame";
import { findBox, readMovieHeader } from "@cascade/media/mp4/reader";
import { type LiveStream, StreamHub } from "@cascade/stream/hub";
import { listDir } from "../tests/helpers/files.ts";
import { captureLog } from "../tests/helpers/log.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { fileStamp, parseChunkName, Recorder } from "./recorder.ts";
import { aacTrack, avcTrack } from "../lib/media/testing/tracks.ts";

/** `seconds` of 30 fps video with a keyframe every 2 s, plus AAC, from `fromMs`. */
function* media(fromMs: number, seconds: number): Generator<MediaFrame> {
  let a = 0;
  for (let i = 0; i < seconds * 30; i++) {
    const dts = fromMs + Math.round(i * 1000 / 30);
    while (a * 1024 * 1000 / 44100 <= i * 1000 / 30) {
      const adts = fromMs + Math.round(a * 1024 * 1000 / 44100);
      yield {
        kind: "audio",
        codec: "aac",
        dts: adts,
        pts: adts,
        keyframe: true,
        data: new Uint8Array(8),
      };
      a++;
    }
    yield {
      kind: "video",
      codec: "h264",
      dts,
      pts: dts,
      keyframe: i % 60 === 0,
      data: new Uint8Array(i % 60 === 0 ? 400 : 40),
    };
  }
}

async function setup(shouldRecord: (name: string) => boolean | Promise<boolean> = () => true) {
  const dir = await Deno.makeTempDir({ prefix: "cascade-recorder-" });
  const log = captureLog();
  const hub = new StreamHub(log);
  const chunks: string[] = [];
  const recorder = new Recorder({
    hub,
    dir,
    chunkSeconds: 5,
    shouldRecord,
    log,
    onChunk: (c) => chunks.push(c.file),
  });
  return {
    dir,
    log,
    hub,
    recorder,
    chunks,
    /** Opens "alpha" with H.264 level 3.1 and AAC once the recorder has subscribed. */
    async openAlpha() {
      const stream = hub.open("alpha", "127.0.0.1");
      await waitFor("the recorder to subscribe", () => log.events("record.start").length === 1);
      stream.config(avcTrack(0x1f));
      stream.config(aacTrack);
      return stream;
    },
    /** Ends the broadcast and waits until its last chunk is finished. */
    async end(stream: LiveStream) {
      hub.close(stream, "test");
      await waitFor("the recorder to stop", () => log.events("record.stop").length === 1);
    },
    async [Symbol.asyncDispose]() {
      await recorder.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("Recorder cuts chunks at the first keyframe after chunkSeconds, named by broadcast", async () => {
  await using t = await setup();
  const stream = await t.openAlpha();
  for (const f of media(1000, 15)) stream.frame(f);
  await t.end(stream);
  const stamp = fileStamp(stream.info.startedAt);
  // Keyframes every 2 s: cuts at 6 s and 12 s (the first keyframes at or after 5 s).
  assert.deepEqual(await listDir(join(t.dir, "alpha")), [1, 2, 3].map((n) => `${stamp}-${n}.mp4`));
  assert.deepEqual(t.chunks, [1, 2, 3].map((n) => `${stamp}-${n}.mp4`));
  const seconds = [];
  for (const f of t.chunks) {
    const bytes = await Deno.readFile(join(t.dir, "alpha", f));
    seconds.push(readMovieHeader(bytes)!.durationSeconds);
    assert.ok(findBox(bytes, ["moov", "trak"]));
  }
  assert.deepEqual(seconds.map((s) => Math.round(s * 10) / 10), [6, 6, 3]);
  assert.deepEqual(parseChunkName(t.chunks[1]!), { startedAt: stream.info.startedAt, n: 2 });
});

Deno.test("Recorder starts a new chunk at the next keyframe after a codec change", async () => {
  await using t = await setup();
  const stream = await t.openAlpha();
  for (const f of media(0, 3)) stream.frame(f);
  stream.config(avcTrack(0x28)); // new SPS mid-chunk: cut at the next keyframe (4 s)
  for (const f of media(3000, 3)) stream.frame(f);
  await t.end(stream);
  assert.equal(t.chunks.length, 2);
  const second = await Deno.readFile(join(t.dir, "alpha", t.chunks[1]!));
  const avcC = findBox(second, ["moov", "trak", "mdia", "minf", "stbl", "stsd"])!;
  // The second file's avcC carries the new level.
  assert.ok(second.subarray(avcC.payload, avcC.end).includes(0x28));
});

Deno.test("Recorder leaves unflagged streams alone and survives a failing policy", async () => {
  await using t = await setup((name) => {
    if (name === "beta") throw new Error("registry down");
    return name === "alpha";
  });
  const beta = t.hub.open("beta", "127.0.0.1");
  const gamma = t.hub.open("gamma", "127.0.0.1");
  for (const s of [beta, gamma]) {
    s.config(avcTrack(0x1f));
    for (const f of media(0, 2)) s.frame(f);
    t.hub.close(s, "test");
  }
  await waitFor("the policy failure", () => t.log.events("record.policy_failed").length === 1);
  await t.recorder.close();
  assert.deepEqual(await listDir(t.dir), []);
  assert.equal(t.log.events("record.start").length, 0);
});
