/**
 * `ChunkFile` against ffmpeg: real H.264 (with B-frames) and AAC made by ffmpeg as FLV,
 * demuxed by `FlvDemuxer`, written as a recording chunk, then probed and decoded by
 * ffprobe/ffmpeg, which must accept it without a word, with `moov` before `mdat`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { boxes } from "@cascade/media/mp4/reader";
import { decodeErrors, probe, probeDuration } from "../tests/helpers/decode.ts";
import { clipFrames } from "../tests/helpers/media.ts";
import { ChunkFile, isDiskFull } from "./chunk_file.ts";

for (const [label, reserve] of [["in its reserve", 64 * 1024], ["moving the mdat", 64]] as const) {
  Deno.test(`ChunkFile writes a faststart MP4 that ffmpeg decodes cleanly, moov ${label}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "cascade_chunk_" });
    try {
      const { video, audio, frames } = await clipFrames(join(dir, "in.flv"), {
        seconds: 4,
        bframes: 2,
      });
      assert.ok(frames.some((f) => f.pts > f.dts), "the clip has reordered (B-frame) pictures");
      const path = join(dir, "out.mp4");
      const chunk = await ChunkFile.create(path, {
        video,
        audio,
        created: new Date(),
        reserveBytes: reserve,
      });
      for (const f of frames) await chunk.write(f);
      await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
      const done = await chunk.finish();
      assert.equal(done.shifted, reserve === 64);
      await assert.rejects(Deno.stat(`${path}.part`), Deno.errors.NotFound);
      const bytes = await Deno.readFile(path);
      assert.equal(bytes.length, done.size);
      const top = [...boxes(bytes)].map((b) => b.type);
      assert.deepEqual(top.filter((t) => t !== "free"), ["ftyp", "moov", "mdat"]);
      assert.equal(await decodeErrors(path), "", "ffmpeg -v error prints nothing");
      const streams = await probe(path, [
        ...["-show_entries", "stream=codec_name,nb_frames", "-of", "csv=p=0"],
      ]);
      const counts = (kind: string) => frames.filter((f) => f.kind === kind).length;
      assert.deepEqual(streams.stdout.trim().split("\n").sort(), [
        `aac,${counts("audio")}`,
        `h264,${counts("video")}`,
      ]);
      const seconds = await probeDuration(path);
      assert.ok(Math.abs(seconds - 4) < 0.1, `duration ${seconds}`);
      assert.ok(Math.abs(done.durationSeconds - seconds) < 0.05, `${done.durationSeconds}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("isDiskFull() recognises ENOSPC and quota errors only", () => {
  const enospc = Object.assign(new Error("No space left on device (os error 28)"), {
    code: "ENOSPC",
  });
  assert.equal(isDiskFull(enospc), true);
  assert.equal(isDiskFull(Object.assign(new Error("x"), { code: "EDQUOT" })), true);
  assert.equal(isDiskFull(new Deno.errors.PermissionDenied("nope")), false);
  assert.equal(isDiskFull(undefined), false);
});
