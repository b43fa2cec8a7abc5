import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import { STREAM_ID, TIMESTAMP_MODULUS, writePesHeader, writeTimestamp } from "./pes.ts";

const hex = (s: string) => Uint8Array.from(s.match(/[0-9a-f]{2}/gi)!, (b) => parseInt(b, 16));

/** Reads back a 33-bit timestamp, checking its marker bits. */
function readTimestamp(b: Uint8Array, at: number): number {
  assert.equal(b[at]! & 1, 1);
  assert.equal(b[at + 2]! & 1, 1);
  assert.equal(b[at + 4]! & 1, 1);
  return ((b[at]! >> 1) & 0x07) * 2 ** 30 + (b[at + 1]! << 22) + ((b[at + 2]! >> 1) << 15) +
    (b[at + 3]! << 7) + (b[at + 4]! >> 1);
}

Deno.test("writeTimestamp() encodes known values with prefix and marker bits", () => {
  const cases: [number, number, string][] = [
    [0b0010, 0, "21 00 01 00 01"],
    [0b0011, 126000, "31 00 07 d8 61"], // 1.4 s
    [0b0001, 2 ** 33 - 1, "1f ff ff ff ff"],
    [0b0010, 2 ** 32, "29 00 01 00 01"],
  ];
  for (const [prefix, ts, expected] of cases) {
    const out = new Uint8Array(5);
    writeTimestamp(out, 0, prefix, ts);
    assert.deepEqual(out, hex(expected), `ts ${ts}`);
  }
});

Deno.test("writeTimestamp() wraps at 2^33", () => {
  const wrapped = new Uint8Array(5);
  const plain = new Uint8Array(5);
  writeTimestamp(wrapped, 0, 0b0010, TIMESTAMP_MODULUS + 90);
  writeTimestamp(plain, 0, 0b0010, 90);
  assert.deepEqual(wrapped, plain);
  writeTimestamp(wrapped, 0, 0b0010, 3 * TIMESTAMP_MODULUS - 1);
  assert.equal(readTimestamp(wrapped, 0), TIMESTAMP_MODULUS - 1);
});

Deno.test("writeTimestamp() round-trips every 33-bit value", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (ts) => {
      const out = new Uint8Array(5);
      writeTimestamp(out, 0, 0b0010, ts);
      assert.equal(readTimestamp(out, 0), ts % TIMESTAMP_MODULUS);
      assert.equal(out[0]! >> 4, 0b0010);
    }),
  );
});

Deno.test("writePesHeader() writes a bounded audio header with PTS only", () => {
  const out = new Uint8Array(20).fill(0xaa);
  const size = writePesHeader(out, 1, STREAM_ID.AUDIO, 126000, 126000, 100);
  assert.equal(size, 14);
  // PES_packet_length = 3 flag bytes + 5 PTS bytes + 100 payload bytes = 108
  assert.deepEqual(
    out.subarray(1, 15),
    hex("000001 c0 006c 84 80 05 21 0007 d8 61"),
  );
  assert.equal(out[0], 0xaa);
  assert.equal(out[15], 0xaa);
});

Deno.test("writePesHeader() writes an unbounded video header with PTS and DTS", () => {
  const out = new Uint8Array(19);
  const size = writePesHeader(out, 0, STREAM_ID.VIDEO, 126000 + 6000, 126000, null);
  assert.equal(size, 19);
  assert.deepEqual(out.subarray(0, 9), hex("000001 e0 0000 84 c0 0a"));
  assert.equal(out[9]! >> 4, 0b0011);
  assert.equal(readTimestamp(out, 9), 132000);
  assert.equal(out[14]! >> 4, 0b0001);
  assert.equal(readTimestamp(out, 14), 126000);
});

Deno.test("writePesHeader() wraps PTS and DTS independently past 2^33", () => {
  const out = new Uint8Array(19);
  writePesHeader(out, 0, STREAM_ID.VIDEO, TIMESTAMP_MODULUS + 3000, TIMESTAMP_MODULUS - 3000, null);
  assert.equal(readTimestamp(out, 9), 3000);
  assert.equal(readTimestamp(out, 14), TIMESTAMP_MODULUS - 3000);
});

Deno.test("writePesHeader() rejects a payload too long for PES_packet_length", () => {
  const out = new Uint8Array(14);
  assert.throws(() => writePesHeader(out, 0, STREAM_ID.AUDIO, 0, 0, 65535 - 8 + 1), RangeError);
  assert.equal(writePesHeader(out, 0, STREAM_ID.AUDIO, 0, 0, 65535 - 8), 14);
  assert.deepEqual(out.subarray(4, 6), hex("ffff"));
});
