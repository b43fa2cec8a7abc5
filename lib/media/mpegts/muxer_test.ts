import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import type { AacConfig, AvcConfig, MediaFrame } from "../frame.ts";
import { crc32Mpeg } from "./crc32.ts";
import { PCR_DELAY_90K, TIMESTAMP_OFFSET_90K, TS_PID, TsMuxer } from "./muxer.ts";

// --- builders -----------------------------------------------------------------------------

const SPS = Uint8Array.of(0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80);
const PPS = Uint8Array.of(0x68, 0xce, 0x3c, 0x80);
const START = [0, 0, 0, 1];
const AUD = [0, 0, 0, 1, 0x09, 0xf0];

const AVC: AvcConfig = {
  profile: 66,
  compatibility: 0xc0,
  level: 30,
  nalLengthSize: 4,
  sps: [SPS],
  pps: [PPS],
  record: new Uint8Array(0),
};

const AAC: AacConfig = {
  objectType: 2,
  sampleRateIndex: 4,
  sampleRate: 44100,
  channelConfig: 2,
  record: Uint8Array.of(0x12, 0x10),
};

/** An AVCC frame with 4-byte lengths. */
function avcc(...nalus: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(nalus.reduce((sum, n) => sum + 4 + n.length, 0));
  const view = new DataView(out.buffer);
  let at = 0;
  for (const n of nalus) {
    view.setUint32(at, n.length);
    out.set(n, at + 4);
    at += 4 + n.length;
  }
  return out;
}

/** A NAL unit of `type` with `size` bytes in all, filled with a pattern. */
function nalu(type: number, size: number, seed = 0): Uint8Array {
  const n = new Uint8Array(size);
  n[0] = 0x60 | type;
  for (let i = 1; i < size; i++) n[i] = (i * 7 + seed) & 0xff;
  return n;
}

function video(dts: number, pts: number, keyframe: boolean, data: Uint8Array): MediaFrame {
  return { kind: "video", codec: "h264", dts, pts, keyframe, data };
}

function audio(ms: number, data: Uint8Array): MediaFrame {
  return { kind: "audio", codec: "aac", dts: ms, pts: ms, keyframe: true, data };
}

// --- a small transport stream reader ------------------------------------------------------

interface Packet {
  pid: number;
  pusi: boolean;
  afc: number;
  cc: number;
  /** adaptation_field_length + 1, or 0 without adaptation field. */
  adaptationSize: number;
  randomAccess: boolean;
  pcr: number | null;
  payload: Uint8Array;
  raw: Uint8Array;
}

function readPackets(ts: Uint8Array): Packet[] {
  assert.equal(ts.length % 188, 0, "whole 188-byte packets");
  const packets: Packet[] = [];
  for (let at = 0; at < ts.length; at += 188) {
    const raw = ts.subarray(at, at + 188);
    assert.equal(raw[0], 0x47, `sync_byte of packet ${at / 188}`);
    const afc = (raw[3]! >> 4) & 3;
    assert.ok(afc === 1 || afc === 3, `adaptation_field_control ${afc}`);
    let adaptationSize = 0;
    let randomAccess = false;
    let pcr: number | null = null;
    if (afc === 3) {
      adaptationSize = raw[4]! + 1;
      assert.ok(adaptationSize <= 184);
      if (adaptationSize > 1) {
        const flags = raw[5]!;
        randomAccess = (flags & 0x40) !== 0;
        let p = 6;
        if (flags & 0x10) {
          pcr = raw[6]! * 2 ** 25 + (raw[7]! << 17) + (raw[8]! << 9) + (raw[9]! << 1) +
            (raw[10]! >> 7);
          assert.equal(raw[10]! & 0x7e, 0x7e, "PCR reserved bits");
          p += 6;
        }
        assert.ok(
          raw.subarray(p, 4 + adaptationSize).every((b) => b === 0xff),
          "stuffing_byte 0xFF",
        );
      }
    }
    packets.push({
      pid: ((raw[1]! & 0x1f) << 8) | raw[2]!,
      pusi: (raw[1]! & 0x40) !== 0,
      afc,
      cc: raw[3]! & 0x0f,
      adaptationSize,
      randomAccess,
      pcr,
      payload: raw.subarray(4 + adaptationSize),
      raw,
    });
  }
  return packets;
}

interface Pes {
  pid: number;
  streamId: number;
  packetLength: number;
  pts: number;
  dts: number | null;
  data: Uint8Array;
  first: Packet;
}

function readTimestamp(b: Uint8Array, at: number): number {
  return ((b[at]! >> 1) & 7) * 2 ** 30 + (b[at + 1]! << 22) + ((b[at + 2]! >> 1) << 15) +
    (b[at + 3]! << 7) + (b[at + 4]! >> 1);
}

/** Reassembles the PES packets of the elementary stream PIDs, in order of their start. */
function readPes(packets: Packet[]): Pes[] {
  const open = new Map<number, { first: Packet; parts: Uint8Array[] }>();
  const done: { first: Packet; parts: Uint8Array[] }[] = [];
  for (const p of packets) {
    if (p.pid !== TS_PID.VIDEO && p.pid !== TS_PID.AUDIO) continue;
    if (p.pusi) {
      const entry = { first: p, parts: [p.payload] };
      open.set(p.pid, entry);
      done.push(entry);
    } else {
      const entry = open.get(p.pid);
      assert.ok(entry, "continuation packet follows a start");
      entry.parts.push(p.payload);
    }
  }
  return done.map(({ first, parts }) => {
    const bytes = Uint8Array.from(parts.flatMap((x) => Array.from(x)));
    assert.deepEqual(Array.from(bytes.subarray(0, 3)), [0, 0, 1], "packet_start_code_prefix");
    const flags = bytes[7]! >> 6;
    const headerEnd = 9 + bytes[8]!;
    const packetLength = (bytes[4]! << 8) | bytes[5]!;
    if (packetLength !== 0) assert.equal(packetLength, bytes.length - 6, "PES_packet_length");
    return {
      pid: first.pid,
      streamId: bytes[3]!,
      packetLength,
      pts: readTimestamp(bytes, 9),
      dts: flags === 3 ? readTimestamp(bytes, 14) : null,
      data: bytes.subarray(headerEnd),
      first,
    };
  });
}

/** Asserts the continuity counters of each PID step by one, mod 16, across `packets`. */
function assertContinuity(
  packets: Packet[],
  start = new Map<number, number>(),
): Map<number, number> {
  for (const p of packets) {
    const last = start.get(p.pid);
    if (last !== undefined) {
      assert.equal(p.cc, (last + 1) & 15, `continuity_counter on PID ${p.pid}`);
    }
    start.set(p.pid, p.cc);
  }
  return start;
}

const ts90k = (ms: number) => (ms * 90 + TIMESTAMP_OFFSET_90K) % 2 ** 33;

// --- tests -----------------------------------------------------------------------------------

Deno.test("TsMuxer.writeTables() writes PAT and PMT with valid CRCs and rising counters", () => {
  const muxer = new TsMuxer({ video: AVC, audio: AAC });
  muxer.writeTables();
  muxer.writeTables();
  const packets = readPackets(muxer.take());
  assert.deepEqual(packets.map((p) => [p.pid, p.cc, p.pusi]), [
    [0x0000, 0, true],
    [0x1000, 0, true],
    [0x0000, 1, true],
    [0x1000, 1, true],
  ]);
  const pat = packets[0]!.raw;
  assert.equal(pat[4], 0, "pointer_field");
  assert.equal(crc32Mpeg(pat, 5, 5 + 3 + 13), 0);
  assert.deepEqual(
    Array.from(pat.subarray(13, 17)),
    [0x00, 0x01, 0xf0, 0x00],
    "program 1 → PID 0x1000",
  );
  const pmt = packets[1]!.raw;
  const pmtSection = pmt.subarray(5, 5 + 3 + (((pmt[6]! & 0x0f) << 8) | pmt[7]!));
  assert.equal(crc32Mpeg(pmtSection), 0);
  assert.deepEqual(
    Array.from(pmtSection.subarray(8, 22)),
    [0xe1, 0x00, 0xf0, 0x00, 0x1b, 0xe1, 0x00, 0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0, 0x00],
    "PCR_PID 0x100, H.264 on 0x100, ADTS AAC on 0x101",
  );
});

Deno.test("TsMuxer writes a keyframe as AUD, SPS, PPS and its NAL units with RAI and PCR", () => {
  const muxer = new TsMuxer({ video: AVC, audio: AAC });
  const sei = nalu(6, 20);
  const idr = nalu(5, 500);
  // In-band AUD, SPS and PPS alone are dropped; the config's pair is written once.
  muxer.writeFrame(video(1000, 1066, true, avcc(nalu(9, 2), nalu(7, 9), sei, idr)));
  const packets = readPackets(muxer.take());
  const [pes] = readPes(packets);
  assert.ok(pes);
  assert.equal(pes.streamId, 0xe0);
  assert.equal(pes.packetLength, 0, "unbounded video PES");
  assert.equal(pes.pts, ts90k(1066));
  assert.equal(pes.dts, ts90k(1000));
  assert.deepEqual(
    Array.from(pes.data),
    [...AUD, ...START, ...SPS, ...START, ...PPS, ...START, ...sei, ...START, ...idr],
  );
  const first = packets[0]!;
  assert.equal(first.pid, 0x100);
  assert.ok(first.randomAccess);
  assert.equal(first.pcr, ts90k(1000) - PCR_DELAY_90K);
  assert.ok(packets.slice(1).every((p) => !p.randomAccess && p.pcr === null));
});

Deno.test("TsMuxer keeps a keyframe's own SPS and PPS instead of adding the config's", () => {
  const muxer = new TsMuxer({ video: AVC });
  const sps = nalu(7, 12, 1);
  const pps = nalu(8, 5, 2);
  const idr = nalu(5, 100);
  muxer.writeFrame(video(0, 0, true, avcc(sps, pps, idr)));
  const [pes] = readPes(readPackets(muxer.take()));
  assert.deepEqual(Array.from(pes!.data), [
    ...AUD,
    ...START,
    ...sps,
    ...START,
    ...pps,
    ...START,
    ...idr,
  ]);
  assert.equal(pes!.dts, null, "no DTS when it equals PTS");
});

Deno.test("TsMuxer adds parameter sets to an IDR the frame did not flag as keyframe", () => {
  const muxer = new TsMuxer({ video: AVC });
  const idr = nalu(5, 30);
  muxer.writeFrame(video(0, 0, false, avcc(idr)));
  const packets = readPackets(muxer.take());
  const [pes] = readPes(packets);
  assert.deepEqual(Array.from(pes!.data), [
    ...AUD,
    ...START,
    ...SPS,
    ...START,
    ...PPS,
    ...START,
    ...idr,
  ]);
  assert.equal(packets[0]!.randomAccess, false, "random_access_indicator follows frame.keyframe");
});

Deno.test("TsMuxer writes a non-key frame without parameter sets or RAI but with a PCR", () => {
  const muxer = new TsMuxer({ video: AVC, audio: AAC });
  const slice = nalu(1, 40);
  muxer.writeFrame(video(40, 40, false, avcc(nalu(9, 2), slice)));
  const packets = readPackets(muxer.take());
  assert.equal(packets.length, 1);
  const [pes] = readPes(packets);
  assert.deepEqual(Array.from(pes!.data), [...AUD, ...START, ...slice]);
  assert.equal(packets[0]!.randomAccess, false);
  assert.equal(packets[0]!.pcr, ts90k(40) - PCR_DELAY_90K);
  // 184 - 8 (adaptation field with PCR) - 14 (PES header) - 6 (AUD) - 4 - 40 = 112 stuffed
  assert.equal(packets[0]!.adaptationSize, 8 + 112);
});

Deno.test("TsMuxer writes an AAC frame as one bounded PES with an ADTS header and PTS only", () => {
  const muxer = new TsMuxer({ video: AVC, audio: AAC });
  const raw = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
  muxer.writeFrame(audio(23, raw));
  const packets = readPackets(muxer.take());
  assert.equal(packets.length, 2);
  assert.ok(packets.every((p) => p.pid === 0x101 && p.pcr === null));
  assert.ok(packets[0]!.randomAccess);
  const [pes] = readPes(packets);
  assert.equal(pes!.streamId, 0xc0);
  assert.equal(pes!.packetLength, 3 + 5 + 7 + 300);
  assert.equal(pes!.pts, ts90k(23));
  assert.equal(pes!.dts, null);
  const frameLength = 7 + 300;
  assert.deepEqual(Array.from(pes!.data.subarray(0, 7)), [
    0xff,
    0xf1,
    0x50, // AAC LC, 44.1 kHz, channel_configuration high bit 0
    0x80 | (frameLength >> 11),
    (frameLength >> 3) & 0xff,
    ((frameLength & 7) << 5) | 0x1f,
    0xfc,
  ]);
  assert.deepEqual(pes!.data.subarray(7), raw);
});

Deno.test("TsMuxer puts the PCR on the audio PID when there is no video", () => {
  const muxer = new TsMuxer({ audio: AAC });
  muxer.writeTables();
  muxer.writeFrame(audio(100, new Uint8Array(50)));
  const packets = readPackets(muxer.take());
  const pmt = packets[1]!.raw;
  assert.deepEqual(Array.from(pmt.subarray(13, 15)), [0xe1, 0x01], "PCR_PID 0x101");
  assert.equal(pmt[7], 0x12, "section_length of a one-stream PMT");
  assert.equal(packets[2]!.pcr, ts90k(100) - PCR_DELAY_90K);
});

Deno.test("TsMuxer stuffs the last packet exactly, down to a lone adaptation_field_length", () => {
  // A non-key frame without B-frames: first packet 184 - 8 - 14 = 162 ES bytes, then 184 each.
  // ES = AUD (6) + start code (4) + NAL, so a NAL of 162 + 183 - 10 bytes leaves 183 bytes for
  // the second packet (1 byte of stuffing), 162 + 184 - 10 none, 162 + 182 - 10 two bytes.
  const cases: [number, number, number][] = [[335, 1, 2], [336, 0, 2], [334, 2, 2], [152, 0, 1]];
  for (const [size, stuffing, count] of cases) {
    const muxer = new TsMuxer({ video: AVC });
    const slice = nalu(1, size);
    muxer.writeFrame(video(0, 0, false, avcc(slice)));
    const packets = readPackets(muxer.take());
    assert.equal(packets.length, count, `NAL of ${size}`);
    const last = packets.at(-1)!;
    if (count === 1) {
      assert.equal(last.adaptationSize, 8, `NAL of ${size}`);
    } else {
      assert.equal(last.adaptationSize, stuffing, `NAL of ${size}`);
      assert.equal(last.afc, stuffing === 0 ? 1 : 3);
      if (stuffing === 1) assert.equal(last.raw[4], 0, "adaptation_field_length 0");
      if (stuffing === 2) assert.deepEqual(Array.from(last.raw.subarray(4, 6)), [1, 0]);
    }
    assert.deepEqual(Array.from(readPes(packets)[0]!.data), [...AUD, ...START, ...slice]);
  }
});

Deno.test("TsMuxer wraps PTS, DTS and PCR at 2^33 for timestamps past 2^32 ms", () => {
  const muxer = new TsMuxer({ video: AVC, audio: AAC });
  const ms = 2 ** 32 + 50_000_000; // 90 kHz: 45 * 2^33 + 4_500_000_000, over 2^32 after the wrap
  muxer.writeFrame(video(ms, ms + 66, true, avcc(nalu(5, 10))));
  muxer.writeFrame(audio(ms + 5, new Uint8Array(10)));
  const packets = readPackets(muxer.take());
  const [v, a] = readPes(packets);
  assert.equal(v!.dts, 4_500_126_000);
  assert.equal(v!.pts, 4_500_131_940);
  assert.equal(a!.pts, 4_500_126_450);
  assert.equal(packets[0]!.pcr, 4_500_063_000);
});

Deno.test("TsMuxer.take() returns everything since the last take and grows the buffer", () => {
  const muxer = new TsMuxer({ video: AVC });
  assert.equal(muxer.bytesPending, 0);
  muxer.writeTables();
  assert.equal(muxer.bytesPending, 376);
  const big = nalu(5, 300_000, 3);
  muxer.writeFrame(video(0, 0, true, avcc(big)));
  const pending = muxer.bytesPending;
  const out = muxer.take();
  assert.equal(out.length, pending);
  assert.equal(muxer.bytesPending, 0);
  const packets = readPackets(out);
  const [pes] = readPes(packets);
  assert.deepEqual(pes!.data.subarray(pes!.data.length - big.length), big);
  assert.equal(muxer.take().length, 0);
});

Deno.test("TsMuxer rejects frames without a track and malformed AVCC without writing", () => {
  assert.throws(() => new TsMuxer({}), TypeError);
  const muxer = new TsMuxer({ video: AVC });
  assert.throws(() => muxer.writeFrame(audio(0, new Uint8Array(4))), TypeError);
  assert.throws(
    () => muxer.writeFrame({ ...video(0, 0, false, avcc(nalu(1, 4))), codec: "aac" }),
    TypeError,
  );
  muxer.writeFrame(video(0, 0, false, avcc(nalu(1, 4))));
  const truncated = avcc(nalu(1, 50)).subarray(0, 30);
  assert.throws(() => muxer.writeFrame(video(33, 33, false, truncated)), SyntaxError);
  assert.equal(muxer.bytesPending, 188);
  muxer.writeFrame(video(66, 66, false, avcc(nalu(1, 4))));
  assertContinuity(readPackets(muxer.take()));
  assert.throws(() => muxer.writeFrame(video(NaN, 0, false, avcc(nalu(1, 4)))), RangeError);
  const audioOnly = new TsMuxer({ audio: AAC });
  assert.throws(() => audioOnly.writeFrame(audio(0, new Uint8Array(9000))), RangeError);
  assert.equal(audioOnly.bytesPending, 0);
});

Deno.test("TsMuxer.setTracks() swaps configs and bumps the PMT version only for new streams", () => {
  const pmtVersion = (ts: Uint8Array) => (readPackets(ts)[1]!.raw[10]! >> 1) & 0x1f;
  const muxer = new TsMuxer({ video: AVC });
  muxer.writeTables();
  assert.equal(pmtVersion(muxer.take()), 0);
  const sps2 = nalu(7, 8, 9);
  muxer.setTracks({ video: { ...AVC, sps: [sps2] } });
  muxer.writeTables();
  assert.equal(pmtVersion(muxer.take()), 0);
  const idr = nalu(5, 10);
  muxer.writeFrame(video(0, 0, true, avcc(idr)));
  const [pes] = readPes(readPackets(muxer.take()));
  assert.deepEqual(Array.from(pes!.data), [
    ...AUD,
    ...START,
    ...sps2,
    ...START,
    ...PPS,
    ...START,
    ...idr,
  ]);
  muxer.setTracks({ video: AVC, audio: AAC });
  muxer.writeTables();
  const tables = muxer.take();
  assert.equal(pmtVersion(tables), 1);
  assertContinuity(readPackets(tables), new Map([[0, 1], [0x1000, 1]]));
});

Deno.test("TsMuxer packetizes any frame sequence into whole packets that reassemble exactly", () => {
  const frameArb = fc.oneof(
    fc.record({
      kind: fc.constant("video" as const),
      keyframe: fc.boolean(),
      sizes: fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 4 }),
      cts: fc.integer({ min: 0, max: 100 }),
    }),
    fc.record({ kind: fc.constant("audio" as const), size: fc.integer({ min: 0, max: 800 }) }),
  );
  fc.assert(
    fc.property(fc.array(frameArb, { maxLength: 40 }), fc.boolean(), (specs, withAudio) => {
      const muxer = new TsMuxer(withAudio ? { video: AVC, audio: AAC } : { video: AVC });
      const expected: { pid: number; data: number[]; pts: number; dts: number | null }[] = [];
      let ms = 0;
      muxer.writeTables();
      for (const spec of specs) {
        ms += 10;
        if (spec.kind === "video") {
          const nalus = spec.sizes.map((size, i) =>
            nalu(i === 0 && spec.keyframe ? 5 : 1, size, ms)
          );
          muxer.writeFrame(video(ms, ms + spec.cts, spec.keyframe, avcc(...nalus)));
          const params = spec.keyframe ? [...START, ...SPS, ...START, ...PPS] : [];
          expected.push({
            pid: 0x100,
            data: [...AUD, ...params, ...nalus.flatMap((n) => [...START, ...n])],
            pts: ts90k(ms + spec.cts),
            dts: spec.cts === 0 ? null : ts90k(ms),
          });
        } else if (withAudio) {
          const raw = Uint8Array.from({ length: spec.size }, (_, i) => (i + ms) & 0xff);
          muxer.writeFrame(audio(ms, raw));
          expected.push({ pid: 0x101, data: Array.from(raw), pts: ts90k(ms), dts: null });
        }
        if (spec.kind === "audio" && ms % 30 === 0) muxer.writeTables();
      }
      const packets = readPackets(muxer.take());
      assertContinuity(packets);
      const pes = readPes(packets);
      assert.equal(pes.length, expected.length);
      for (const [i, e] of expected.entries()) {
        const got = pes[i]!;
        assert.equal(got.pid, e.pid);
        assert.equal(got.pts, e.pts);
        assert.equal(got.dts, e.dts);
        assert.deepEqual(Array.from(e.pid === 0x101 ? got.data.subarray(7) : got.data), e.data);
        assert.equal(got.first.pcr !== null, e.pid === 0x100, "PCR on every video PES only");
      }
    }),
    { numRuns: 150 },
  );
});
