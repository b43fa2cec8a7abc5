import assert from "node:assert/strict";
import {
  checkAvccFrame,
  IngestMessageError,
  parseClientMessage,
  parseFrameMessage,
} from "./ws_messages.ts";
import { base64, frameMessage } from "../../tests/helpers/ws_publisher.ts";
import fc from "../../tests/helpers/fast_check.ts";

/** A minimal avcC: Baseline 3.1, 4-byte lengths, one SPS (320×240) and one PPS. */
const AVCC = new Uint8Array([
  1,
  0x42,
  0xc0,
  0x1f,
  0xff,
  0xe1,
  0x00,
  0x0b,
  0x67,
  0x42,
  0xc0,
  0x1f,
  0xda,
  0x05,
  0x07,
  0xe8,
  0x40,
  0x00,
  0x01,
  0x01,
  0x00,
  0x04,
  0x68,
  0xce,
  0x3c,
  0x80,
]);
/** AudioSpecificConfig: AAC-LC, 48 kHz, stereo. */
const ASC = new Uint8Array([0x11, 0x90]);

Deno.test("parseClientMessage reads each message of the protocol", () => {
  assert.deepEqual(parseClientMessage('{"type":"publish","key":"k"}'), {
    type: "publish",
    key: "k",
  });
  assert.deepEqual(parseClientMessage('{"type":"stop"}'), { type: "stop" });
  const video = parseClientMessage(
    JSON.stringify({ type: "video-config", codec: "avc1.42c01f", description: base64(AVCC) }),
  );
  assert.ok(video.type === "video-config");
  assert.equal(video.avc.nalLengthSize, 4);
  assert.equal(video.avc.sps.length, 1);
  const aac = parseClientMessage(JSON.stringify({
    type: "audio-config",
    codec: "mp4a.40.2",
    sampleRate: 48000,
    channels: 2,
    description: base64(ASC),
  }));
  assert.ok(aac.type === "audio-config" && aac.codec === "aac");
  assert.equal(aac.aac.sampleRate, 48000);
  assert.deepEqual(
    parseClientMessage('{"type":"audio-config","codec":"opus","sampleRate":48000,"channels":1}'),
    { type: "audio-config", codec: "opus", sampleRate: 48000, channels: 1 },
  );
});

Deno.test("parseClientMessage refuses what is not the protocol with IngestMessageError", () => {
  const bad: [string, unknown][] = [
    ["not JSON", "{"],
    ["an array", [1]],
    ["no type", {}],
    ["an unknown type", { type: "play" }],
    ["a key that is not a string", { type: "publish", key: 5 }],
    ["a key too long", { type: "publish", key: "k".repeat(513) }],
    ["a video codec that is not H.264", {
      type: "video-config",
      codec: "vp8",
      description: base64(AVCC),
    }],
    ["an avcC that is not base64", {
      type: "video-config",
      codec: "avc1.42c01f",
      description: "!!",
    }],
    ["a truncated avcC", {
      type: "video-config",
      codec: "avc1.42c01f",
      description: base64(AVCC.subarray(0, 9)),
    }],
    ["an avcC with no SPS", {
      type: "video-config",
      codec: "avc1.42c01f",
      description: base64(new Uint8Array([1, 66, 0, 31, 255, 224, 0])),
    }],
    ["AAC without description", {
      type: "audio-config",
      codec: "mp4a.40.2",
      sampleRate: 48000,
      channels: 2,
    }],
    ["an AAC-LD config (object type 23, not in ADTS)", {
      type: "audio-config",
      codec: "mp4a.40.23",
      description: base64(new Uint8Array([0xb9, 0x90])),
    }],
    ["Opus at 44.1 kHz", { type: "audio-config", codec: "opus", sampleRate: 44100, channels: 2 }],
    ["Opus with 6 channels", {
      type: "audio-config",
      codec: "opus",
      sampleRate: 48000,
      channels: 6,
    }],
    ["an unknown audio codec", { type: "audio-config", codec: "mp3" }],
  ];
  for (const [what, value] of bad) {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    assert.throws(() => parseClientMessage(text), IngestMessageError, what);
  }
});

Deno.test("parseFrameMessage reads track, keyframe flag, timestamp and a view of the data", () => {
  const msg = parseFrameMessage(frameMessage("audio", true, 1_234_567.5, new Uint8Array([9, 8])));
  assert.equal(msg.kind, "audio");
  assert.equal(msg.keyframe, true);
  assert.equal(msg.timestampUs, 1_234_567.5);
  assert.deepEqual([...msg.data], [9, 8]);
  assert.equal(
    parseFrameMessage(frameMessage("video", false, 0, new Uint8Array(1))).keyframe,
    false,
  );
  const bad = frameMessage("video", true, 0, new Uint8Array(1));
  assert.throws(() => parseFrameMessage(bad.subarray(0, 10)), IngestMessageError, "no data");
  assert.throws(() => parseFrameMessage(bad.slice().fill(3, 0, 1)), IngestMessageError, "track 3");
  const nan = bad.slice();
  new DataView(nan.buffer).setFloat64(2, NaN);
  assert.throws(() => parseFrameMessage(nan), IngestMessageError, "NaN timestamp");
});

Deno.test("checkAvccFrame accepts exact runs of length-prefixed NAL units only", () => {
  checkAvccFrame(new Uint8Array([0, 0, 0, 1, 0x65, 0, 0, 0, 2, 0x41, 0]), 4);
  checkAvccFrame(new Uint8Array([0, 1, 0x65]), 2);
  for (const bad of [[0, 0, 0, 5, 0x65], [0, 0, 0, 0], [0, 0, 0, 1, 0x65, 0, 0]]) {
    assert.throws(() => checkAvccFrame(new Uint8Array(bad), 4), IngestMessageError, `${bad}`);
  }
});

Deno.test("random text and bytes never escape as anything but IngestMessageError", () => {
  const onlyIngestErrors = (run: () => unknown) => {
    try {
      run();
    } catch (err) {
      if (!(err instanceof IngestMessageError)) throw err;
    }
  };
  fc.assert(fc.property(fc.string(), (s) => onlyIngestErrors(() => parseClientMessage(s))));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      onlyIngestErrors(() => parseFrameMessage(b));
      onlyIngestErrors(() => checkAvccFrame(b, 4));
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (b) =>
      onlyIngestErrors(() =>
        parseClientMessage(
          JSON.stringify({ type: "video-config", codec: "avc1.42c01f", description: base64(b) }),
        )
      )),
  );
});
