import assert from "node:assert/strict";
import type { AacConfig, AvcConfig, MediaFrame } from "../frame.ts";
import { aacTrack, avcTrack } from "../testing/tracks.ts";
import { Fmp4Fragmenter, initSegment } from "./fmp4.ts";
import { boxes, type BoxHeader, findBox, findBoxes } from "./reader.ts";

const avc = (avcTrack(0x1f) as { avc: AvcConfig }).avc;
const aac = (aacTrack as { aac: AacConfig }).aac;

function video(dts: number, keyframe: boolean, size = 10, cto = 0): MediaFrame {
  return {
    kind: "video",
    codec: "h264",
    dts,
    pts: dts + cto,
    keyframe,
    data: new Uint8Array(size).fill(keyframe ? 0xaa : 0xbb),
  };
}

function audio(dts: number, size = 4): MediaFrame {
  return {
    kind: "audio",
    codec: "aac",
    dts,
    pts: dts,
    keyframe: true,
    data: new Uint8Array(size).fill(0xcc),
  };
}

function view(bytes: Uint8Array, b: BoxHeader): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset + b.payload, b.end - b.payload);
}

interface Trun {
  trackId: number;
  base: number;
  tfhdFlags: number;
  dataOffset: number;
  samples: { duration: number; size: number; flags: number; cto: number }[];
}

/** The `traf`s of one fragment, as a player reads them. */
function readFragment(bytes: Uint8Array): { sequence: number; trafs: Trun[]; moof: BoxHeader } {
  const moof = findBox(bytes, ["moof"])!;
  const sequence = view(bytes, findBox(bytes, ["moof", "mfhd"])!).getUint32(4);
  const trafs = findBoxes(bytes, "traf", moof).map((traf) => {
    const inner = (type: string) =>
      [...boxes(bytes, traf.payload, traf.end)].find((b) => b.type === type)!;
    const tfhd = view(bytes, inner("tfhd"));
    const tfdt = view(bytes, inner("tfdt"));
    const trun = view(bytes, inner("trun"));
    assert.equal(tfdt.getUint8(0), 1, "tfdt version 1");
    assert.equal(trun.getUint8(0), 1, "trun version 1");
    const flags = trun.getUint32(0) & 0xffffff;
    const hasCto = (flags & 0x800) !== 0;
    const count = trun.getUint32(4);
    const samples = [];
    let at = 12;
    for (let i = 0; i < count; i++) {
      samples.push({
        duration: trun.getUint32(at),
        size: trun.getUint32(at + 4),
        flags: trun.getUint32(at + 8),
        cto: hasCto ? trun.getInt32(at + 12) : 0,
      });
      at += hasCto ? 16 : 12;
    }
    return {
      trackId: tfhd.getUint32(4),
      tfhdFlags: tfhd.getUint32(0) & 0xffffff,
      base: tfdt.getUint32(4) * 0x100000000 + tfdt.getUint32(8),
      dataOffset: trun.getInt32(8),
      samples,
    };
  });
  return { sequence, trafs, moof };
}

Deno.test("initSegment() writes ftyp and a moov with empty sample tables and one trex per track", () => {
  const init = initSegment({ video: avc, audio: aac });
  const top = [...boxes(init)].map((b) => b.type);
  assert.deepEqual(top, ["ftyp", "moov"]);
  const moov = findBox(init, ["moov"])!;
  const traks = findBoxes(init, "trak", moov);
  assert.equal(traks.length, 2);
  const trexes = findBoxes(init, "trex", findBox(init, ["moov", "mvex"])!);
  assert.deepEqual(trexes.map((t) => view(init, t).getUint32(4)), [1, 2]);
  assert.ok(findBox(init, ["moov", "trak", "mdia", "minf", "stbl", "stsd"]));
  const stsd = findBox(init, ["moov", "trak", "mdia", "minf", "stbl", "stsd"])!;
  assert.equal(String.fromCharCode(...init.subarray(stsd.payload + 12, stsd.payload + 16)), "avc1");
  const mdhd = findBox(init, ["moov", "trak", "mdia", "mdhd"])!;
  assert.equal(view(init, mdhd).getUint32(12), 90000, "video timescale");
  const audioMdhd = [...boxes(init, traks[1]!.payload, traks[1]!.end)].find((b) =>
    b.type === "mdia"
  )!;
  const amdhd = [...boxes(init, audioMdhd.payload, audioMdhd.end)].find((b) => b.type === "mdhd")!;
  assert.equal(view(init, amdhd).getUint32(12), 44100, "audio timescale is the sample rate");
  const stts = findBox(init, ["moov", "trak", "mdia", "minf", "stbl", "stts"])!;
  assert.equal(view(init, stts).getUint32(4), 0, "no samples in the init segment");
});

Deno.test("initSegment() numbers an audio-only track 1 and refuses no tracks", () => {
  const init = initSegment({ audio: aac });
  const trex = findBox(init, ["moov", "mvex", "trex"])!;
  assert.equal(view(init, trex).getUint32(4), 1);
  assert.throws(() => initSegment({}), TypeError);
});

Deno.test("Fmp4Fragmenter.flush() writes one traf per track with durations from dts steps", () => {
  const f = new Fmp4Fragmenter({ video: avc, audio: aac });
  f.add(video(1000, true, 12, 66));
  f.add(audio(1000));
  f.add(video(1033, false, 8, 33));
  f.add(audio(1023));
  f.add(video(1067, false, 9));
  const bytes = f.flush(1100)!;
  const { sequence, trafs, moof } = readFragment(bytes);
  assert.equal(sequence, 1);
  assert.equal(trafs.length, 2);
  const [v, a] = trafs as [Trun, Trun];
  assert.equal(v.trackId, 1);
  assert.equal(v.tfhdFlags, 0x020000, "default-base-is-moof");
  assert.equal(v.base, 90_000);
  assert.deepEqual(v.samples.map((s) => s.duration), [2970, 3060, 2970]);
  assert.deepEqual(v.samples.map((s) => s.size), [12, 8, 9]);
  assert.deepEqual(v.samples.map((s) => s.flags), [0x02000000, 0x01010000, 0x01010000]);
  assert.deepEqual(v.samples.map((s) => s.cto), [66 * 90, 33 * 90, 0]);
  assert.equal(a.trackId, 2);
  assert.equal(a.base, 44100);
  assert.deepEqual(a.samples.map((s) => s.duration), [1024, 1024]);
  // Data offsets are from the moof's first byte to each run's first sample in the mdat.
  const mdat = findBox(bytes, ["mdat"])!;
  assert.equal(moof.start + v.dataOffset, mdat.payload);
  assert.deepEqual([...bytes.subarray(mdat.payload, mdat.payload + 2)], [0xaa, 0xaa]);
  assert.equal(moof.start + a.dataOffset, mdat.payload + 29);
  assert.deepEqual([...bytes.subarray(mdat.payload + 29, mdat.end)], new Array(8).fill(0xcc));
  assert.equal(f.flush(), undefined, "nothing left");
});

Deno.test("Fmp4Fragmenter: fragments continue the decode timeline and count sequence numbers", () => {
  const f = new Fmp4Fragmenter({ video: avc });
  f.add(video(0, true));
  f.add(video(33, false));
  const first = readFragment(f.flush(67)!);
  f.add(video(67, false));
  const second = readFragment(f.flush()!);
  assert.equal(second.sequence, first.sequence + 1);
  const [a] = first.trafs as [Trun];
  const [b] = second.trafs as [Trun];
  assert.deepEqual(a.samples.map((s) => s.duration), [2970, 3060]);
  assert.equal(b.base, a.base + 2970 + 3060);
  assert.deepEqual(b.samples.map((s) => s.duration), [3060], "the last one repeats the one before");
});

Deno.test("Fmp4Fragmenter: AAC decode times count samples, so rounded ms never drift", () => {
  const f = new Fmp4Fragmenter({ audio: aac });
  // 44.1 kHz frames last 23.22 ms; RTMP rounds each to whole ms.
  const dts = (i: number) => 500 + Math.round(i * 1024 * 1000 / 44100);
  for (let i = 0; i < 100; i++) f.add(audio(dts(i)));
  const first = readFragment(f.flush()!).trafs[0]!;
  for (let i = 100; i < 200; i++) f.add(audio(dts(i)));
  const second = readFragment(f.flush()!).trafs[0]!;
  assert.equal(first.base, Math.round(500 * 44.1));
  assert.ok(first.samples.every((s) => s.duration === 1024 && s.flags === 0x02000000));
  assert.equal(second.base, first.base + 100 * 1024);
});

Deno.test("Fmp4Fragmenter: an AAC gap lengthens the sample before it, or moves the next fragment", () => {
  const f = new Fmp4Fragmenter({ audio: aac });
  f.add(audio(0));
  f.add(audio(23));
  f.add(audio(200)); // ~7 frames missing
  const a = readFragment(f.flush()!).trafs[0]!;
  assert.deepEqual(a.samples.map((s) => s.duration), [1024, Math.round(200 * 44.1) - 1024, 1024]);
  f.add(audio(1000));
  const b = readFragment(f.flush()!).trafs[0]!;
  assert.equal(b.base, Math.round(1000 * 44.1));
});

Deno.test("Fmp4Fragmenter.add() refuses a track it was not given and bad timestamps", () => {
  const f = new Fmp4Fragmenter({ video: avc });
  assert.throws(() => f.add(audio(0)), TypeError);
  assert.throws(() => f.add(video(NaN, true)), RangeError);
  assert.throws(() => f.add(video(-1, true)), RangeError);
  assert.equal(f.pendingSamples, 0);
});
