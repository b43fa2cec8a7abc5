/**
 * End-to-end check of `TsMuxer` against ffmpeg: real H.264 (with B-frames) and AAC made by
 * ffmpeg at test time as FLV, demuxed by `FlvDemuxer` (`clipFrames`), muxed to a .ts
 * file, then probed and decoded by ffprobe/ffmpeg, which must accept it without a word.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { AacConfig, AvcConfig, MediaFrame } from "../frame.ts";
import { TsMuxer } from "./muxer.ts";
import { decodeErrors, probe, probeJson } from "../../../tests/helpers/decode.ts";
import { clipFrames } from "../../../tests/helpers/media.ts";

const DURATION_S = 4;
const FPS = 30;

/** A 4 s clip with B-frames, made by ffmpeg and read back through `FlvDemuxer`. */
function makeFlv(dir: string) {
  return clipFrames(join(dir, "in.flv"), { seconds: DURATION_S, fps: FPS, bframes: 2 });
}

/** Muxes like an HLS packager: tables before every keyframe, output taken after each frame. */
async function mux(
  path: string,
  tracks: { video?: AvcConfig; audio?: AacConfig },
  frames: MediaFrame[],
): Promise<void> {
  const muxer = new TsMuxer(tracks);
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  for (const [i, frame] of frames.entries()) {
    if (i === 0 || (frame.kind === "video" && frame.keyframe)) muxer.writeTables();
    muxer.writeFrame(frame);
    const bytes = muxer.take();
    assert.equal(bytes.length % 188, 0);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
  }
}

Deno.test("TsMuxer output of ffmpeg's H.264 + AAC passes ffprobe and decodes cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade_ts_" });
  try {
    const { video, audio, frames } = await makeFlv(dir);
    assert.ok(frames.some((f) => f.kind === "video" && f.pts !== f.dts), "source has B-frames");
    const out = join(dir, "out.ts");
    await mux(out, { video, audio }, frames);

    assert.equal((await probe(out)).stderr, "");

    const { streams, format } = await probeJson(out, "-show_streams", "-show_format") as {
      streams: Record<string, unknown>[];
      format: { duration: string };
    };
    assert.equal(streams.length, 2);
    const v = streams.find((s) => s.codec_type === "video");
    const a = streams.find((s) => s.codec_type === "audio");
    assert.equal(v?.codec_name, "h264");
    assert.equal(v?.width, 320);
    assert.equal(v?.height, 240);
    assert.equal(a?.codec_name, "aac");
    assert.equal(a?.sample_rate, "44100");
    const duration = Number(format.duration);
    assert.ok(Math.abs(duration - DURATION_S) <= DURATION_S * 0.05, `duration ${duration}`);

    assert.equal(await decodeErrors(out), "");

    const { packets } = await probeJson(
      out,
      "-select_streams",
      "v",
      "-show_entries",
      "packet=pts,dts,flags",
    ) as { packets: { pts: number; dts: number; flags: string }[] };
    assert.equal(packets.length, DURATION_S * FPS);
    for (let i = 1; i < packets.length; i++) {
      assert.ok(packets[i]!.dts > packets[i - 1]!.dts, `DTS rises at packet ${i}`);
    }
    assert.ok(packets.some((p) => p.pts !== p.dts), "B-frames keep pts != dts");
    const firstVideo = frames.find((f) => f.kind === "video")!;
    assert.equal(packets[0]!.dts, firstVideo.dts * 90 + 126000, "first DTS is offset by 1.4 s");
    assert.equal(packets.filter((p) => p.flags.startsWith("K")).length, 2);

    const { frames: decoded } = await probeJson(
      out,
      "-select_streams",
      "v",
      "-show_entries",
      "frame=pts",
    ) as { frames: unknown[] };
    assert.equal(decoded.length, DURATION_S * FPS);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TsMuxer output survives the 33-bit PTS wrap and audio-only muxing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade_ts_" });
  try {
    const { video, audio, frames } = await makeFlv(dir);
    // Shift the unwrapped ms timeline past 2^32 ms so that the muxer's 90 kHz clock
    // (ms * 90 + 1.4 s) crosses its 50th multiple of 2^33 two seconds in.
    const shift = Math.round((50 * 2 ** 33 - 126000) / 90) - 2000;
    const shifted = frames.map((f) => ({ ...f, dts: f.dts + shift, pts: f.pts + shift }));
    assert.ok(shifted[0]!.dts > 2 ** 32);

    const both = join(dir, "wrap.ts");
    await mux(both, { video, audio }, shifted);
    assert.equal(await decodeErrors(both), "");
    const { frames: decoded } = await probeJson(
      both,
      "-select_streams",
      "v",
      "-show_entries",
      "frame=pts",
    ) as { frames: unknown[] };
    assert.equal(decoded.length, DURATION_S * FPS);

    const audioOnly = join(dir, "audio.ts");
    await mux(audioOnly, { audio }, frames.filter((f) => f.kind === "audio"));
    assert.equal((await probe(audioOnly)).stderr, "");
    const { streams, format } = await probeJson(audioOnly, "-show_streams", "-show_format") as {
      streams: Record<string, unknown>[];
      format: { duration: string };
    };
    assert.deepEqual(streams.map((s) => s.codec_name), ["aac"]);
    const duration = Number(format.duration);
    assert.ok(Math.abs(duration - DURATION_S) <= DURATION_S * 0.05, `duration ${duration}`);
    assert.equal(await decodeErrors(audioOnly), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
