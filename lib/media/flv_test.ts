import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import { FlvDemuxer, flvFileTags, UnsupportedCodecError } from "./flv.ts";
import type { HubMessage, MediaFrame } from "./frame.ts";

/** The AVCDecoderConfigurationRecord ffmpeg/libx264 writes for baseline 320x240. */
// deno-fmt-ignore
const AVC_RECORD = Uint8Array.of(
  0x01, 0x42, 0xc0, 0x0d, 0xff, 0xe1, 0x00, 0x18, 0x67, 0x42, 0xc0, 0x0d, 0xd9, 0x01,
  0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0,
  0xf1, 0x42, 0xa4, 0x80, 0x01, 0x00, 0x05, 0x68, 0xcb, 0x83, 0xcb, 0x20,
);
/** AudioSpecificConfig: AAC LC, 44100 Hz, stereo. */
const ASC = Uint8Array.of(0x12, 0x10);
/** An AVCC frame: one 3-byte IDR slice NAL unit. */
const NALUS = Uint8Array.of(0, 0, 0, 3, 0x65, 0x88, 0x84);

interface VideoTag {
  frameType?: number;
  codecId?: number;
  packetType?: number;
  cts?: number;
  data?: Uint8Array;
}

/** A legacy FLV video tag body: FrameType|CodecID, AVCPacketType, CompositionTime, data. */
function videoBody(
  { frameType = 1, codecId = 7, packetType = 1, cts = 0, data = NALUS }: VideoTag,
) {
  const out = new Uint8Array(5 + data.length);
  out[0] = (frameType << 4) | codecId;
  out[1] = packetType;
  out[2] = (cts >> 16) & 0xff;
  out[3] = (cts >> 8) & 0xff;
  out[4] = cts & 0xff;
  out.set(data, 5);
  return out;
}

/** A legacy FLV audio tag body: SoundFormat|SoundRate|SoundSize|SoundType, AACPacketType, data. */
function audioBody(packetType: number, data: Uint8Array, soundFormat = 10): Uint8Array {
  return Uint8Array.of((soundFormat << 4) | 0x0f, packetType, ...data); // 44 kHz, 16-bit, stereo
}

/** An Enhanced RTMP tag body: IsExHeader|FrameType|PacketType, then the FourCC. */
function exVideoBody(fourcc: string, frameType = 1, packetType = 0): Uint8Array {
  return Uint8Array.of(0x80 | (frameType << 4) | packetType, ...new TextEncoder().encode(fourcc));
}

function configured(): FlvDemuxer {
  const d = new FlvDemuxer();
  d.video(0, videoBody({ packetType: 0, data: AVC_RECORD }));
  d.audio(0, audioBody(0, ASC));
  return d;
}

function frameOf(m: HubMessage | null): MediaFrame {
  assert.equal(m?.type, "frame");
  return (m as { frame: MediaFrame }).frame;
}

Deno.test("FlvDemuxer.video() turns an AVC sequence header into a video config", () => {
  const body = videoBody({ packetType: 0, data: AVC_RECORD });
  const m = new FlvDemuxer().video(0, body);
  assert.ok(m?.type === "config" && m.track.kind === "video");
  assert.equal(m.track.codec, "h264");
  const { avc } = m.track;
  assert.deepEqual([avc.profile, avc.level, avc.nalLengthSize, avc.width, avc.height], [
    66,
    13,
    4,
    320,
    240,
  ]);
  assert.deepEqual(avc.record, AVC_RECORD);
  assert.equal(avc.record.buffer, body.buffer);
});

Deno.test("FlvDemuxer.audio() turns an AAC sequence header into an audio config", () => {
  const m = new FlvDemuxer().audio(0, audioBody(0, ASC));
  assert.ok(m?.type === "config" && m.track.kind === "audio");
  assert.equal(m.track.codec, "aac");
  assert.deepEqual(
    [m.track.aac.objectType, m.track.aac.sampleRate, m.track.aac.channelConfig],
    [2, 44100, 2],
  );
});

Deno.test("FlvDemuxer.video() makes frames with pts = dts + CTS and a view of the NAL units", async (t) => {
  const cases: [string, VideoTag, number, number, boolean][] = [
    ["keyframe", { frameType: 1, cts: 0 }, 1000, 1000, true],
    ["inter frame", { frameType: 2, cts: 0 }, 1000, 1000, false],
    ["B-frame reordering CTS", { frameType: 2, cts: 67 }, 1000, 1067, false],
    ["negative CTS", { frameType: 2, cts: -33 & 0xffffff }, 1000, 967, false],
    ["largest CTS", { frameType: 2, cts: 0x7fffff }, 0, 0x7fffff, false],
    ["most negative CTS", { frameType: 2, cts: 0x800000 }, 0x800000, 0, false],
    ["disposable inter frame", { frameType: 3 }, 5, 5, false],
  ];
  for (const [name, tag, dts, pts, keyframe] of cases) {
    await t.step(name, () => {
      const body = videoBody(tag);
      const frame = frameOf(configured().video(dts, body));
      assert.deepEqual(
        { ...frame, data: [...frame.data] },
        { kind: "video", codec: "h264", dts, pts, keyframe, data: [...NALUS] },
      );
      assert.equal(frame.data.buffer, body.buffer);
      assert.equal(frame.data.byteOffset, body.byteOffset + 5);
    });
  }
});

Deno.test("FlvDemuxer.audio() makes keyframes with pts = dts and a view of the raw AAC", () => {
  const body = audioBody(1, Uint8Array.of(0x21, 0x10, 0x04));
  const frame = frameOf(configured().audio(23, body));
  assert.deepEqual(
    { ...frame, data: [...frame.data] },
    { kind: "audio", codec: "aac", dts: 23, pts: 23, keyframe: true, data: [0x21, 0x10, 0x04] },
  );
  assert.equal(frame.data.buffer, body.buffer);
});

Deno.test("FlvDemuxer returns null for what carries nothing to deliver", async (t) => {
  const d = configured();
  const cases: [string, () => HubMessage | null][] = [
    ["empty video body", () => d.video(0, new Uint8Array(0))],
    ["empty audio body", () => d.audio(0, new Uint8Array(0))],
    ["video info/command frame", () => d.video(0, Uint8Array.of(0x57, 0x00))],
    ["command frame of another codec", () => d.video(0, Uint8Array.of(0x52, 0x00))],
    ["enhanced command frame", () => d.video(0, exVideoBody("hvc1", 5))],
    [
      "AVC end of sequence",
      () => d.video(0, videoBody({ packetType: 2, data: new Uint8Array(0) })),
    ],
    ["AVC frame without NAL units", () => d.video(0, videoBody({ data: new Uint8Array(0) }))],
    ["AAC frame without data", () => d.audio(0, audioBody(1, new Uint8Array(0)))],
    [
      "empty AVC sequence header",
      () => d.video(0, videoBody({ packetType: 0, data: new Uint8Array(0) })),
    ],
    ["empty AAC sequence header", () => d.audio(0, audioBody(0, new Uint8Array(0)))],
  ];
  for (const [name, call] of cases) await t.step(name, () => assert.equal(call(), null));
});

Deno.test("FlvDemuxer drops each track's frames until its own config arrives", () => {
  const d = new FlvDemuxer();
  assert.equal(d.video(0, videoBody({})), null);
  assert.equal(d.audio(0, audioBody(1, Uint8Array.of(1))), null);
  assert.equal(d.video(0, videoBody({ packetType: 0, data: AVC_RECORD }))?.type, "config");
  assert.equal(d.video(33, videoBody({}))?.type, "frame");
  assert.equal(d.audio(23, audioBody(1, Uint8Array.of(1))), null);
  assert.equal(d.audio(23, audioBody(0, ASC))?.type, "config");
  assert.equal(d.audio(46, audioBody(1, Uint8Array.of(1)))?.type, "frame");
});

Deno.test("FlvDemuxer unwraps the 32-bit timestamp per track", () => {
  const d = configured();
  const video = (ts: number) => frameOf(d.video(ts, videoBody({ frameType: 2, cts: 40 })));
  const audio = (ts: number) => frameOf(d.audio(ts, audioBody(1, Uint8Array.of(1))));
  assert.equal(video(2 ** 32 - 100).dts, 2 ** 32 - 100);
  assert.equal(video(2 ** 32 - 67).pts, 2 ** 32 - 67 + 40);
  const wrapped = video(50);
  assert.equal(wrapped.dts, 2 ** 32 + 50); // wrapped forward
  assert.equal(wrapped.pts, 2 ** 32 + 90);
  assert.equal(video(40).dts, 2 ** 32 + 40); // a small backward jump stays one
  assert.equal(video(2 ** 32 - 10).dts, 2 ** 32 - 10); // back across the wrap point
  assert.equal(video(2 ** 32 + 1000).dts, 2 ** 32 + 1000); // only the low 32 bits count
  assert.equal(audio(2 ** 32 - 1).dts, 2 ** 32 - 1); // audio has its own history
  assert.equal(audio(0).dts, 2 ** 32);
});

Deno.test("FlvDemuxer follows any sequence of timestamps with steps under 2^31 ms", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      fc.array(fc.integer({ min: -5000, max: 2 ** 31 - 1 }), { maxLength: 30 }),
      (start, steps) => {
        const d = configured();
        let ext = start;
        assert.equal(frameOf(d.video(start, videoBody({}))).dts, start);
        for (const step of steps) {
          ext += step;
          assert.equal(frameOf(d.video(ext % 2 ** 32, videoBody({}))).dts, ext);
        }
      },
    ),
  );
});

Deno.test("FlvDemuxer throws UnsupportedCodecError naming the codec", async (t) => {
  const d = new FlvDemuxer();
  const cases: [string, () => unknown, string][] = [
    [
      "Sorenson H.263",
      () => d.video(0, Uint8Array.of(0x22, 0)),
      "Unsupported video codec: 2 (Sorenson H.263)",
    ],
    ["VP6", () => d.video(0, Uint8Array.of(0x24, 0)), "Unsupported video codec: 4 (On2 VP6)"],
    [
      "HEVC via codec id 12",
      () => d.video(0, videoBody({ codecId: 12 })),
      "Unsupported video codec: 12 (HEVC via legacy FLV)",
    ],
    ["unknown video codec", () => d.video(0, Uint8Array.of(0x1d)), "Unsupported video codec: 13"],
    [
      "enhanced HEVC",
      () => d.video(0, exVideoBody("hvc1")),
      "Unsupported video codec: hvc1 (Enhanced RTMP)",
    ],
    [
      "enhanced AV1",
      () => d.video(0, exVideoBody("av01", 2, 1)),
      "Unsupported video codec: av01 (Enhanced RTMP)",
    ],
    [
      "enhanced AVC",
      () => d.video(0, exVideoBody("avc1")),
      "Unsupported video codec: avc1 (Enhanced RTMP)",
    ],
    [
      "enhanced binary FourCC",
      () => d.video(0, Uint8Array.of(0x90, 1, 2, 0x41, 0x7f)),
      "Unsupported video codec: \\x01\\x02A\\x7f (Enhanced RTMP)",
    ],
    [
      "MP3",
      () => d.audio(0, audioBody(1, Uint8Array.of(0xff), 2)),
      "Unsupported audio codec: 2 (MP3)",
    ],
    ["Speex", () => d.audio(0, Uint8Array.of(0xb6)), "Unsupported audio codec: 11 (Speex)"],
    [
      "PCM",
      () => d.audio(0, Uint8Array.of(0x3f)),
      "Unsupported audio codec: 3 (Linear PCM, little endian)",
    ],
    ["G.711", () => d.audio(0, Uint8Array.of(0x72)), "Unsupported audio codec: 7 (G.711 A-law)"],
    ["reserved sound format", () => d.audio(0, Uint8Array.of(0xc0)), "Unsupported audio codec: 12"],
    [
      "enhanced Opus",
      () => d.audio(0, Uint8Array.of(0x90, ...new TextEncoder().encode("Opus"))),
      "Unsupported audio codec: Opus (Enhanced RTMP)",
    ],
  ];
  for (const [name, call, message] of cases) {
    await t.step(name, () => {
      assert.throws(call, (e) => e instanceof UnsupportedCodecError && e.message === message);
    });
  }
  assert.throws(
    () => d.audio(0, Uint8Array.of(0x2f, 1)),
    (e) =>
      e instanceof UnsupportedCodecError && e.name === "UnsupportedCodecError" &&
      e.kind === "audio" && e.codec === 2,
  );
});

Deno.test("FlvDemuxer throws SyntaxError on malformed AVC and AAC tags", async (t) => {
  const d = configured();
  const cases: [string, () => unknown, RegExp][] = [
    [
      "short AVC header",
      () => d.video(0, Uint8Array.of(0x17, 1, 0)),
      /AVC header needs 5 bytes, got 3/,
    ],
    [
      "unknown AVCPacketType",
      () => d.video(0, videoBody({ packetType: 3 })),
      /unknown AVCPacketType 3/,
    ],
    [
      "bad AVC record",
      () => d.video(0, videoBody({ packetType: 0, data: Uint8Array.of(2) })),
      /Cannot parse AVC config/,
    ],
    ["short AAC header", () => d.audio(0, Uint8Array.of(0xaf)), /AAC header needs 2 bytes/],
    [
      "unknown AACPacketType",
      () => d.audio(0, audioBody(2, Uint8Array.of(1))),
      /unknown AACPacketType 2/,
    ],
    [
      "short extended header",
      () => d.video(0, Uint8Array.of(0x90, 0x68)),
      /extended header needs 5 bytes/,
    ],
  ];
  for (const [name, call, message] of cases) {
    await t.step(
      name,
      () => assert.throws(call, (e) => e instanceof SyntaxError && message.test(e.message)),
    );
  }
});

Deno.test("FlvDemuxer of random bodies throws only SyntaxError, RangeError or UnsupportedCodecError", () => {
  const d = configured();
  const expected = (e: unknown) =>
    e instanceof SyntaxError || e instanceof RangeError || e instanceof UnsupportedCodecError;
  fc.assert(
    fc.property(fc.nat(), fc.boolean(), fc.uint8Array({ maxLength: 48 }), (ts, isVideo, body) => {
      try {
        if (isVideo) d.video(ts, body);
        else d.audio(ts, body);
      } catch (e) {
        assert.ok(expected(e), `unexpected ${e}`);
      }
    }),
    { numRuns: 5000 },
  );
});

Deno.test("flvFileTags() rejects files that are not FLV or are cut short", () => {
  assert.throws(() => [...flvFileTags(new TextEncoder().encode("not an flv"))], /no FLV signature/);
  const header = Uint8Array.of(0x46, 0x4c, 0x56, 1, 5, 0, 0, 0, 9, 0, 0, 0, 0);
  assert.deepEqual([...flvFileTags(header)], []);
  const tag = Uint8Array.of(9, 0, 0, 2, 0, 0, 1, 2, 0, 0, 0, 0x17, 0x02, 0, 0, 0, 13);
  assert.deepEqual(
    [...flvFileTags(Uint8Array.of(...header, ...tag))].map((t) => ({ ...t, body: [...t.body] })),
    [{ type: 9, timestamp: 0x02000001, body: [0x17, 0x02] }],
  );
  assert.throws(
    () => [...flvFileTags(Uint8Array.of(...header, ...tag.subarray(0, 12)))],
    /runs past the end/,
  );
  assert.throws(() => [...flvFileTags(Uint8Array.of(...header, 9, 0))], /truncated tag header/);
});

Deno.test("FlvDemuxer reads ffmpeg's H.264 (with B-frames) + AAC FLV as configs then frames", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade_flv_" });
  try {
    const out = `${dir}/out.flv`;
    const { code, stderr } = await new Deno.Command("ffmpeg", {
      args: [
        ..."-hide_banner -loglevel error -f lavfi -i testsrc2=size=640x360:rate=30".split(" "),
        ..."-f lavfi -i sine=frequency=440:sample_rate=44100 -t 2".split(" "),
        ..."-c:v libx264 -bf 2 -g 30 -c:a aac -ac 2 -f flv".split(" "),
        out,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const d = new FlvDemuxer();
    const messages: HubMessage[] = [];
    for (const tag of flvFileTags(await Deno.readFile(out))) {
      const m = tag.type === 9
        ? d.video(tag.timestamp, tag.body)
        : tag.type === 8
        ? d.audio(tag.timestamp, tag.body)
        : null;
      if (m) messages.push(m);
    }
    const configs = messages.filter((m) => m.type === "config");
    const frames = messages.flatMap((m) => m.type === "frame" ? [m.frame] : []);
    assert.equal(configs.length, 2);
    const video = frames.filter((f) => f.kind === "video");
    const audio = frames.filter((f) => f.kind === "audio");
    assert.equal(video.length, 60);
    assert.ok(audio.length >= 85, `${audio.length} audio frames`); // 2 s of 1024-sample frames
    assert.ok(video[0]!.keyframe);
    assert.equal(video.filter((f) => f.keyframe).length, 2);
    assert.ok(video.some((f) => f.pts > f.dts), "no reordered (B-frame) pictures");
    assert.ok(video.every((f) => f.pts >= f.dts));
    for (let i = 1; i < video.length; i++) assert.ok(video[i]!.dts >= video[i - 1]!.dts);
    const ptsSorted = video.map((f) => f.pts).sort((a, b) => a - b);
    for (let i = 1; i < ptsSorted.length; i++) {
      assert.ok(Math.abs(ptsSorted[i]! - ptsSorted[i - 1]! - 33.3) < 1.5, "pts not ~33 ms apart");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
