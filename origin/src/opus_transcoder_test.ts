/**
 * `opusTranscoders` with the real ffmpeg: libopus packets in (from an Ogg file ffmpeg made),
 * AAC frames out on the input's timeline with the config of the ADTS headers; a missing
 * ffmpeg is logged once and yields no transcoder; an ffmpeg that dies is reported once.
 */
import assert from "node:assert/strict";
import type { MediaFrame, TrackConfig } from "@cascade/media/frame";
import { captureLog } from "../../tests/helpers/log.ts";
import { opusPackets } from "../../tests/helpers/media.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { opusTranscoders } from "./opus_transcoder.ts";
import type { TranscoderSink } from "./ws_session.ts";

function collect() {
  const configs: TrackConfig[] = [];
  const frames: MediaFrame[] = [];
  const failures: string[] = [];
  const sink: TranscoderSink = {
    config: (t) => configs.push(t),
    frame: (f) => frames.push(f),
    failed: (r) => failures.push(r),
  };
  return { sink, configs, frames, failures };
}

Deno.test("opusTranscoders turns Opus packets into AAC frames on the packets' timeline", async () => {
  const packets = await opusPackets(3);
  const log = captureLog();
  const out = collect();
  const transcoder = opusTranscoders("ffmpeg", log)({ sampleRate: 48000, channels: 2 }, out.sink);
  assert.ok(transcoder);
  try {
    for (const [i, packet] of packets.entries()) transcoder.push(packet, 5000 + i * 20);
    // 3 s at 1024 samples per frame is 140 frames; ffmpeg may hold the last few back.
    await waitFor("AAC frames", () => out.frames.length >= 120, { timeoutMs: 20_000 });
  } finally {
    transcoder.close();
  }
  assert.equal(out.configs.length, 1);
  const config = out.configs[0]!;
  assert.ok(config.kind === "audio");
  assert.equal(config.aac.sampleRate, 48000);
  assert.equal(config.aac.channelConfig, 2);
  assert.equal(config.aac.objectType, 2);
  assert.equal(out.frames[0]!.dts, 5000);
  for (const [i, f] of out.frames.entries()) {
    assert.equal(f.dts, 5000 + Math.round((i * 1024 * 1000) / 48000));
    assert.ok(f.kind === "audio" && f.codec === "aac" && f.data.length > 0);
  }
  assert.deepEqual(out.failures, [], "closing is not a failure");
  assert.equal(log.events("ws_ingest.transcoder_failed").length, 0);
});

Deno.test("opusTranscoders without ffmpeg yields no transcoder and logs that once", () => {
  const log = captureLog();
  const factory = opusTranscoders("/nonexistent/ffmpeg", log);
  assert.equal(factory({ sampleRate: 48000, channels: 2 }, collect().sink), null);
  assert.equal(factory({ sampleRate: 48000, channels: 1 }, collect().sink), null);
  assert.equal(log.events("ws_ingest.ffmpeg_unavailable").length, 1);
});

Deno.test("a transcoder whose ffmpeg dies reports it once and takes nothing more", async () => {
  const log = captureLog();
  const out = collect();
  // `false` starts like ffmpeg would and exits at once with code 1.
  const transcoder = opusTranscoders("false", log)({ sampleRate: 48000, channels: 2 }, out.sink);
  assert.ok(transcoder);
  await waitFor("the failure", () => out.failures.length === 1);
  transcoder.push(new Uint8Array([0xfc, 0, 0]), 0);
  transcoder.close();
  assert.equal(out.failures.length, 1);
  assert.equal(log.events("ws_ingest.transcoder_failed").length, 1);
});
