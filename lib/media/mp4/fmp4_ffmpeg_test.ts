/**
 * End-to-end check of `initSegment` and `Fmp4Fragmenter` against ffmpeg: real H.264 (with
 * B-frames) and AAC made by ffmpeg at test time as FLV, demuxed by `FlvDemuxer`
 * (`clipFrames`), cut into fragments of about a third of a second as LL-HLS parts are, and
 * the init segment plus every fragment, concatenated, probed and decoded by ffprobe/ffmpeg,
 * which must accept them without a word and count every frame.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { MediaFrame } from "../frame.ts";
import { Fmp4Fragmenter, type Fmp4Tracks } from "./fmp4.ts";
import { decodeErrors, probe, probeJson } from "../../../tests/helpers/decode.ts";
import { clipFrames } from "../../../tests/helpers/media.ts";

const DURATION_S = 4;
const FPS = 30;

/** Init segment, then a fragment before every 10th video frame (every 15th audio frame alone). */
async function fragment(path: string, tracks: Fmp4Tracks, frames: MediaFrame[]): Promise<number> {
  const f = new Fmp4Fragmenter(tracks);
  const out = [f.init];
  let cutting = 0;
  const cutKind = tracks.video ? "video" : "audio";
  const every = tracks.video ? 10 : 15;
  for (const frame of frames) {
    if (frame.kind === cutKind && cutting++ % every === 0 && f.pendingSamples > 0) {
      out.push(f.flush(frame.dts)!);
    }
    f.add(frame);
  }
  out.push(f.flush()!);
  await Deno.writeFile(path, new Uint8Array(out.flatMap((b) => [...b])));
  return out.length - 1;
}

Deno.test("Fmp4Fragmenter output of ffmpeg's H.264 + AAC passes ffprobe and decodes cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade_fmp4_" });
  try {
    const { video, audio, frames } = await clipFrames(join(dir, "in.flv"), {
      seconds: DURATION_S,
      fps: FPS,
      bframes: 2,
    });
    assert.ok(frames.some((f) => f.kind === "video" && f.pts !== f.dts), "source has B-frames");
    const out = join(dir, "out.mp4");
    const fragments = await fragment(out, { video, audio }, frames);
    assert.ok(fragments >= 12, `${fragments} fragments`);

    assert.equal((await probe(out)).stderr, "");
    const { streams, format } = await probeJson(out, "-show_streams", "-show_format") as {
      streams: Record<string, unknown>[];
      format: { duration: string };
    };
    assert.deepEqual(streams.map((s) => s.codec_name).sort(), ["aac", "h264"]);
    const duration = Number(format.duration);
    assert.ok(Math.abs(duration - DURATION_S) <= DURATION_S * 0.05, `duration ${duration}`);
    assert.equal(await decodeErrors(out), "");

    const { frames: decoded } = await probeJson(
      out,
      "-select_streams",
      "v",
      "-show_entries",
      "frame=pts",
    ) as { frames: unknown[] };
    assert.equal(decoded.length, DURATION_S * FPS);
    const { packets } = await probeJson(
      out,
      "-select_streams",
      "v",
      "-show_entries",
      "packet=pts,dts,flags",
    ) as { packets: { pts: number; dts: number; flags: string }[] };
    for (let i = 1; i < packets.length; i++) {
      assert.ok(packets[i]!.dts > packets[i - 1]!.dts, `DTS rises at packet ${i}`);
    }
    assert.ok(packets.some((p) => p.pts !== p.dts), "B-frames keep pts != dts");
    assert.equal(packets.filter((p) => p.flags.startsWith("K")).length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Fmp4Fragmenter output of audio alone decodes cleanly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade_fmp4_" });
  try {
    const { audio, frames } = await clipFrames(join(dir, "in.flv"), { seconds: DURATION_S });
    const out = join(dir, "audio.mp4");
    await fragment(out, { audio }, frames.filter((f) => f.kind === "audio"));
    assert.equal((await probe(out)).stderr, "");
    const { format } = await probeJson(out, "-show_format") as { format: { duration: string } };
    const duration = Number(format.duration);
    assert.ok(Math.abs(duration - DURATION_S) <= DURATION_S * 0.05, `duration ${duration}`);
    assert.equal(await decodeErrors(out), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
