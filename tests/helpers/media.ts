/**
 * Test media made by real encoders at test time: an ffmpeg publisher of a generated stream
 * (lavfi `testsrc2` + `sine`, H.264 + AAC, keyframe every 2 s, paced with `-re`), a clip
 * generator for `-c copy` publishers and the frames such a clip demuxes to (for code that
 * takes Cascade's `MediaFrame`s directly), Opus packets as a browser's encoder sends them,
 * and a GStreamer `rtmp2sink` publisher.
 */
import assert from "node:assert/strict";
import { FlvDemuxer, flvFileTags } from "@cascade/media/flv";
import type { AacConfig, AvcConfig, MediaFrame } from "@cascade/media/frame";
import { readOggPackets } from "../../lib/media/testing/ogg_reader.ts";
import { runChecked, runProcess, TestProcess } from "./process.ts";

export interface PublishOptions {
  /** Seconds of media; omitted → until stopped. */
  seconds?: number;
  fps?: number;
  size?: string;
  /** Keyframe interval in frames, steady (default 2 s: `fps * 2`). */
  gop?: number;
  /** Video bitrate, e.g. "800k". */
  bitrate?: string;
  /** x264 B-frames (default 0, the x264 default preset uses 3). */
  bframes?: number;
  /** Publish a pre-made file with `-c copy` instead of encoding. */
  clip?: string;
  audio?: boolean;
  video?: boolean;
}

export const FFMPEG = "ffmpeg";

function encodeArgs(o: PublishOptions): string[] {
  const fps = o.fps ?? 30;
  const args: string[] = [];
  const video = o.video ?? true;
  const audio = o.audio ?? true;
  if (video) {
    args.push("-f", "lavfi", "-i", `testsrc2=size=${o.size ?? "320x240"}:rate=${fps}`);
  }
  if (audio) args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100");
  if (o.seconds !== undefined) args.push("-t", String(o.seconds));
  if (video) {
    args.push(
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-tune",
      "zerolatency",
      "-pix_fmt",
      "yuv420p",
      "-g",
      String(o.gop ?? fps * 2),
      "-keyint_min",
      String(o.gop ?? fps * 2),
      "-sc_threshold",
      "0",
      "-b:v",
      o.bitrate ?? "500k",
    );
    if (o.bframes !== undefined) {
      // tune zerolatency disables B-frames; re-enable them explicitly for B-frame tests.
      args.push("-bf", String(o.bframes), "-x264-params", `bframes=${o.bframes}`);
    }
  }
  if (audio) args.push("-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-ac", "2");
  return args;
}

/** Starts ffmpeg publishing a generated (or copied) stream to `url`, paced in real time. */
export function publish(url: string, o: PublishOptions = {}): TestProcess {
  return new TestProcess(FFMPEG, { args: publishArgs(url, o) });
}

/** The ffmpeg arguments of `publish`, for a publisher started some other way. */
export function publishArgs(url: string, o: PublishOptions = {}): string[] {
  const args = ["-hide_banner", "-nostats", "-loglevel", "warning", "-re"];
  if (o.clip) {
    args.push("-stream_loop", "-1", "-i", o.clip);
    if (o.seconds !== undefined) args.push("-t", String(o.seconds));
    args.push("-c", "copy");
  } else {
    args.push(...encodeArgs(o));
  }
  args.push("-f", "flv", url);
  return args;
}

/** Encodes a clip file (FLV-compatible H.264/AAC in .flv) for `-c copy` publishers. */
export async function makeClip(path: string, o: PublishOptions = {}): Promise<void> {
  const args = ["-hide_banner", "-loglevel", "error", "-y", ...encodeArgs({ seconds: 4, ...o })];
  args.push("-f", "flv", path);
  const r = await runProcess(FFMPEG, args, { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`ffmpeg could not make ${path}: ${r.stderr}`);
}

/** The track configs and frames of a clip `makeClip` encodes to `path`, as `FlvDemuxer` reads it. */
export async function clipFrames(path: string, o: PublishOptions = {}): Promise<{
  video: AvcConfig;
  audio: AacConfig;
  frames: MediaFrame[];
}> {
  await makeClip(path, o);
  const demuxer = new FlvDemuxer();
  let video: AvcConfig | undefined;
  let audio: AacConfig | undefined;
  const frames: MediaFrame[] = [];
  for (const tag of flvFileTags(await Deno.readFile(path))) {
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
  assert.ok(video && audio, `${path} has both sequence headers`);
  return { video, audio, frames };
}

/** Starts GStreamer's rtmp2sink publishing H.264 + AAC test media to `url`. */
export function publishGst(url: string, buffers = 300): TestProcess {
  const pipeline = [
    `videotestsrc num-buffers=${buffers} is-live=true ! video/x-raw,width=320,height=240,framerate=30/1`,
    "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=500",
    "! video/x-h264,profile=baseline ! queue ! mux.",
    `audiotestsrc num-buffers=${Math.round((buffers / 30) * 44100 / 1024)} is-live=true`,
    "samplesperbuffer=1024 ! audio/x-raw,rate=44100,channels=2 ! audioconvert",
    "! avenc_aac ! aacparse ! queue ! mux.",
    `flvmux name=mux streamable=true ! rtmp2sink location=${url}`,
  ].join(" ");
  return new TestProcess("gst-launch-1.0", { args: ["-e", ...pipeline.split(" ")] });
}

/** Opus packets (libopus, 20 ms each) of `seconds` of a 48 kHz sine with `channels`. */
export async function opusPackets(seconds: number, channels: 1 | 2 = 2): Promise<Uint8Array[]> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-opus-" });
  try {
    const file = `${dir}/audio.ogg`;
    await runChecked(FFMPEG, [
      "-v",
      "error",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:sample_rate=48000",
      "-t",
      String(seconds),
      "-ac",
      String(channels),
      "-c:a",
      "libopus",
      "-frame_duration",
      "20",
      file,
    ]);
    // The first two packets are the file's OpusHead and OpusTags.
    return readOggPackets(await Deno.readFile(file)).slice(2).map((p) => p.data);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
