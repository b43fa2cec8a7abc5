import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import { crc32Mpeg } from "./crc32.ts";
import { buildPat, buildPmt, buildSectionPacket, STREAM_TYPE } from "./psi.ts";

const hex = (s: string) => Uint8Array.from(s.match(/[0-9a-f]{2}/gi)!, (b) => parseInt(b, 16));

// Sections as ffmpeg 7 writes them for one program with H.264 on 0x100 and AAC on 0x101.
const FFMPEG_PAT = hex("00 b0 0d 0001 c1 00 00 0001 f000 2ab104b2");
const FFMPEG_PMT = hex("02 b0 17 0001 c1 00 00 e100 f000 1b e100 f000 0f e101 f000 2f44b99b");

Deno.test("buildPat() writes the same section as ffmpeg", () => {
  const pat = buildPat({ transportStreamId: 1, programNumber: 1, pmtPid: 0x1000, version: 0 });
  assert.deepEqual(pat, FFMPEG_PAT);
});

Deno.test("buildPmt() writes the same section as ffmpeg", () => {
  const pmt = buildPmt({
    programNumber: 1,
    pcrPid: 0x100,
    version: 0,
    streams: [
      { streamType: STREAM_TYPE.H264, pid: 0x100 },
      { streamType: STREAM_TYPE.AAC_ADTS, pid: 0x101 },
    ],
  });
  assert.deepEqual(pmt, FFMPEG_PMT);
});

Deno.test("buildPmt() writes version, PCR PID and a single stream", () => {
  const pmt = buildPmt({
    programNumber: 7,
    pcrPid: 0x101,
    version: 5,
    streams: [{ streamType: STREAM_TYPE.AAC_ADTS, pid: 0x101 }],
  });
  assert.deepEqual(
    pmt.subarray(0, -4),
    hex("02 b0 12 0007 cb 00 00 e101 f000 0f e101 f000"),
  );
  assert.equal(crc32Mpeg(pmt), 0);
});

Deno.test("buildPat() and buildPmt() reject reserved PIDs and bad versions", () => {
  assert.throws(
    () => buildPat({ transportStreamId: 1, programNumber: 1, pmtPid: 0x1fff, version: 0 }),
    RangeError,
  );
  assert.throws(
    () => buildPat({ transportStreamId: 1, programNumber: 1, pmtPid: 0x1000, version: 32 }),
    RangeError,
  );
  assert.throws(
    () =>
      buildPmt({
        programNumber: 1,
        pcrPid: 0x100,
        version: 0,
        streams: [{ streamType: 0x1b, pid: 3 }],
      }),
    RangeError,
  );
});

Deno.test("buildPmt() sections always check to CRC 0 and carry their length", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 31 }),
      fc.array(
        fc.record({
          streamType: fc.integer({ min: 0, max: 255 }),
          pid: fc.integer({ min: 0x10, max: 0x1ffe }),
        }),
        { maxLength: 20 },
      ),
      (programNumber, version, streams) => {
        const pmt = buildPmt({ programNumber, pcrPid: 0x100, version, streams });
        assert.equal(crc32Mpeg(pmt), 0);
        assert.equal(((pmt[1]! & 0x0f) << 8 | pmt[2]!) + 3, pmt.length);
        assert.equal((pmt[5]! >> 1) & 0x1f, version);
      },
    ),
  );
});

Deno.test("buildSectionPacket() writes header, pointer_field and 0xFF padding", () => {
  const packet = buildSectionPacket(0x1000, FFMPEG_PMT, 9);
  assert.equal(packet.length, 188);
  assert.deepEqual(packet.subarray(0, 5), hex("47 50 00 19 00"));
  assert.deepEqual(packet.subarray(5, 5 + FFMPEG_PMT.length), FFMPEG_PMT);
  assert.ok(packet.subarray(5 + FFMPEG_PMT.length).every((b) => b === 0xff));
  assert.throws(() => buildSectionPacket(0x1000, new Uint8Array(184)), RangeError);
});
