/**
 * `ChunkFile` against ffmpeg: real H.264 (with B-frames) and AAC made by ffmpeg as FLV,
 * demuxed by `FlvDemuxer`, written as a recording chunk, then probed and decoded by
 * ffprobe/ffmpeg, which must accept it without a word, with `moov` before `mdat`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { FlvDemuxer, flvFileTags } from "@cascade/media/flv";
import type { AacConfig, AvcConfig, MediaFrame } from "@cascade/media/frame";
import { boxes } from "@cascade/media/mp4/reader";
import { ChunkFile, isDiskFull } from "./chunk_file.ts";

async function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdin: "null" }).output();
  const result = {
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
  assert.equal(out.code, 0, `${cmd} ${args.join(" ")} failed: ${result.stderr}`);
  return result;
}

async function makeFrames(dir: string, seconds: number) {
  const flv = join(dir, "in.flv");
  await run("ffmpeg", [
    ...["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30"],
    ...["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", String(seconds)],
    ...["-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "60", "-c:a", "aac"],
    ...["-f", "flv", flv],
  ]);
  const demuxer = new FlvDemuxer();
  let video: AvcConfig | undefined;
  let audio: AacConfig | undefined;
  const frames: MediaFrame[] = [];
  for (const tag of flvFileTags(await Deno.readFile(flv))) {
    const msg = tag.type === 9
      ? demuxer.video(tag.timestamp, tag.body)
      : tag.type === 8
      ? demuxer.audio(tag.timestamp, tag.body)
      : null;
    if (msg?.type === "config") {
      if (msg.track.kind === "video") video = msg.track.avc;
      else audio = msg.track.aac;
    } else if (msg?.type === "frame") frames.push(msg.frame);
  }
  assert.ok(video && audio);
  return { video, audio, frames };
}

async function probeDuration(path: string): Promise<number> {
  const { stdout } = await run("ffprobe", [
    ...["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
  ]);
  return Number(stdout.trim());
}

for (const [label, reserve] of [["in its reserve", 64 * 1024], ["moving the mdat", 64]] as const) {
  Deno.test(`ChunkFile writes a faststart MP4 that ffmpeg decodes cleanly, moov ${label}`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "cascade_chunk_" });
    try {
      const { video, audio, frames } = await makeFrames(dir, 4);
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
      const decode = await run("ffmpeg", ["-v", "error", "-i", path, "-f", "null", "-"]);
      assert.equal(decode.stderr, "", "ffmpeg -v error prints nothing");
      const streams = await run("ffprobe", [
        ...["-v", "error", "-show_entries", "stream=codec_name,nb_frames", "-of", "csv=p=0", path],
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
