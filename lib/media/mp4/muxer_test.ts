import assert from "node:assert/strict";
import type { AacConfig, AvcConfig, MediaFrame } from "../frame.ts";
import { ctts, mdatHeader, stsc, stsz, stts } from "./boxes.ts";
import { fileHead, Mp4Muxer, placeMoov } from "./muxer.ts";
import { boxes, findBox, findBoxes, readMovieHeader } from "./reader.ts";

const AVC: AvcConfig = {
  profile: 0x64,
  compatibility: 0,
  level: 0x1f,
  nalLengthSize: 4,
  sps: [],
  pps: [],
  record: new Uint8Array([1, 0x64, 0, 0x1f, 0xff, 0xe0, 0]),
  width: 320,
  height: 240,
};
const AAC: AacConfig = {
  objectType: 2,
  sampleRateIndex: 4,
  sampleRate: 44100,
  channelConfig: 2,
  record: new Uint8Array([0x12, 0x10]),
};

function video(dts: number, keyframe: boolean, cts = 0, size = 100): MediaFrame {
  return {
    kind: "video",
    codec: "h264",
    dts,
    pts: dts + cts,
    keyframe,
    data: new Uint8Array(size),
  };
}

function audio(dts: number, size = 20): MediaFrame {
  return { kind: "audio", codec: "aac", dts, pts: dts, keyframe: true, data: new Uint8Array(size) };
}

function u32s(bytes: Uint8Array, from: number, count: number): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  return Array.from({ length: count }, (_, i) => view.getUint32(from + i * 4));
}

/** Payload of a full box after version/flags. */
function fields(bytes: Uint8Array, box: Uint8Array): number[] {
  return u32s(bytes, 12, (box.length - 12) / 4);
}

Deno.test("stts() run-length encodes equal durations", () => {
  const b = stts([3000, 3000, 3000, 1500, 3000], 5);
  assert.deepEqual(fields(b, b), [3, 3, 3000, 1, 1500, 1, 3000]);
});

Deno.test("ctts() writes version 0 for non-negative offsets and version 1 for negative", () => {
  const pos = ctts([6000, 0, 0, 3000], 4);
  assert.equal(pos[8], 0);
  assert.deepEqual(fields(pos, pos), [3, 1, 6000, 2, 0, 1, 3000]);
  const neg = ctts([-3000, 0], 2);
  assert.equal(neg[8], 1);
  assert.equal(new DataView(neg.buffer).getInt32(20), -3000);
});

Deno.test("stsc() keeps one entry per change of samples per chunk", () => {
  const b = stsc([5, 5, 7, 7, 5], 5);
  assert.deepEqual(fields(b, b), [3, 1, 5, 1, 3, 7, 1, 5, 5, 1]);
});

Deno.test("stsz() uses the common size when all samples share it", () => {
  const same = stsz([10, 10, 10], 3);
  assert.deepEqual(fields(same, same), [10, 3]);
  const mixed = stsz([10, 11], 2);
  assert.deepEqual(fields(mixed, mixed), [0, 2, 10, 11]);
});

Deno.test("mdatHeader() writes the 64-bit form with the box size", () => {
  const h = mdatHeader(1000);
  assert.equal(h.length, 16);
  assert.deepEqual(u32s(h, 0, 1), [1]);
  assert.equal(new TextDecoder().decode(h.subarray(4, 8)), "mdat");
  assert.deepEqual(u32s(h, 8, 2), [0, 1016]);
});

Deno.test("placeMoov() fills the reserve, pads with free, or shifts the mdat", () => {
  assert.deepEqual(placeMoov(100, 100), { moovAt: 32, shift: 0, freeSize: 0 });
  assert.deepEqual(placeMoov(100, 200), { moovAt: 32, shift: 0, freeSize: 100 });
  assert.deepEqual(placeMoov(100, 104), { moovAt: 32, shift: 4, freeSize: 8 });
  assert.deepEqual(placeMoov(300, 200), { moovAt: 32, shift: 108, freeSize: 8 });
});

/** Muxes frames into an in-memory file laid out as the recorder does. */
function muxFile(frames: MediaFrame[], endDts?: number, reserve = 4096) {
  const mux = new Mp4Muxer({ video: AVC, audio: AAC, created: new Date(1_800_000_000_000) });
  const head = fileHead(reserve);
  const data: Uint8Array[] = [];
  for (const f of frames) {
    mux.add(f);
    if (mux.shouldFlush()) data.push(...mux.take());
  }
  data.push(...mux.take());
  mux.finish(endDts);
  const moov = mux.moov(head.dataStart);
  const place = placeMoov(moov.length, reserve);
  assert.equal(place.shift, 0, "test moov fits the reserve");
  const file = new Uint8Array(head.dataStart + mux.dataSize);
  file.set(head.bytes);
  file.set(moov, place.moovAt);
  if (place.freeSize > 0) {
    file.set(fileHead(place.freeSize).bytes.subarray(32, 32 + place.freeSize), 32 + moov.length);
  }
  file.set(mdatHeader(mux.dataSize), head.dataStart - 16);
  let at = head.dataStart;
  for (const d of data) {
    file.set(d, at);
    at += d.length;
  }
  return { mux, file };
}

Deno.test("Mp4Muxer writes ftyp, moov, free and mdat in that order", () => {
  const frames: MediaFrame[] = [];
  for (let i = 0; i < 60; i++) {
    frames.push(video(i * 33, i % 30 === 0));
    frames.push(audio(Math.round(i * 1024 * 1000 / 44100)));
  }
  const { file, mux } = muxFile(frames, 60 * 33);
  assert.deepEqual([...boxes(file)].map((b) => b.type), ["ftyp", "moov", "free", "mdat"]);
  const mdat = [...boxes(file)].at(-1)!;
  assert.equal(mdat.end, file.length);
  assert.equal(mux.samples.video, 60);
  assert.equal(mux.samples.audio, 60);
  const header = readMovieHeader(file)!;
  assert.equal(header.timescale, 1000);
  assert.equal(header.created.getTime(), 1_800_000_000_000);
  // 60 video frames of 33 ms.
  assert.equal(header.duration, 1980);
});

Deno.test("Mp4Muxer sample tables: durations, sync samples and chunk offsets", () => {
  const frames = [
    video(0, true, 66),
    audio(0),
    video(33, false, 99),
    audio(23),
    video(66, false, 0),
    audio(46),
    video(100, true, 66),
  ];
  const { file } = muxFile(frames, 133);
  const moov = findBox(file, ["moov"])!;
  const [vtrak, atrak] = findBoxes(file, "trak", moov);
  assert.ok(vtrak && atrak);
  const stbl = (trak: typeof vtrak, type: string) =>
    findBox(file, ["mdia", "minf", "stbl", type], trak.payload, trak.end);
  const vstts = stbl(vtrak, "stts")!;
  // 33 ms, 33 ms, 34 ms, then until endDts 133: 33 ms, in 90 kHz ticks.
  assert.deepEqual(u32s(file, vstts.payload + 4, 7), [3, 2, 2970, 1, 3060, 1, 2970]);
  const vstss = stbl(vtrak, "stss")!;
  assert.deepEqual(u32s(file, vstss.payload + 4, 3), [2, 1, 4]);
  const vctts = stbl(vtrak, "ctts")!;
  assert.deepEqual(u32s(file, vctts.payload + 4, 9), [4, 1, 5940, 1, 8910, 1, 0, 1, 5940]);
  // Video is first shown at pts 66 while audio starts at 0: an empty edit of 66 ms, then
  // the media from its first composition time.
  const elst = findBox(file, ["edts", "elst"], vtrak.payload, vtrak.end)!;
  assert.deepEqual(u32s(file, elst.payload + 4, 7), [
    2,
    66,
    0xffffffff,
    0x10000,
    67,
    5940,
    0x10000,
  ]);
  // Audio: no stss (every sample is a sync sample) and 1024-sample durations.
  assert.equal(stbl(atrak, "stss"), undefined);
  const astts = stbl(atrak, "stts")!;
  assert.deepEqual(u32s(file, astts.payload + 4, 3), [1, 3, 1024]);
  // Chunk offsets point at the payload of each run inside mdat.
  const mdat = [...boxes(file)].at(-1)!;
  const vstco = stbl(vtrak, "stco")!;
  const [chunks, first] = u32s(file, vstco.payload + 4, 2);
  assert.equal(chunks, 1);
  assert.equal(first, mdat.payload);
});

Deno.test("Mp4Muxer lengthens the audio sample before a gap in the input", () => {
  const mux = new Mp4Muxer({ audio: AAC, created: new Date() });
  // 10 frames, then a 1 s hole, then 10 more.
  for (let i = 0; i < 10; i++) mux.add(audio(Math.round(i * 1024 * 1000 / 44100)));
  for (let i = 0; i < 10; i++) mux.add(audio(1000 + Math.round((i + 10) * 1024 * 1000 / 44100)));
  mux.take();
  mux.finish();
  // 20 frames plus the 1 s hole (44100 samples, within rounding of the ms timestamps).
  assert.ok(
    Math.abs(mux.durationSeconds - (20 * 1024 / 44100 + 1)) < 0.01,
    `${mux.durationSeconds}`,
  );
});

Deno.test("Mp4Muxer rejects frames of a track it does not have, changing nothing", () => {
  const mux = new Mp4Muxer({ audio: AAC, created: new Date() });
  assert.throws(() => mux.add(video(0, true)), TypeError);
  assert.throws(() => mux.add(audio(NaN)), RangeError);
  assert.equal(mux.samples.audio, 0);
  assert.throws(() => new Mp4Muxer({ created: new Date() }), TypeError);
});
