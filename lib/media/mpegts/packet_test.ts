import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import { writeAdaptationField, writePcr, writeTsHeader } from "./packet.ts";

const hex = (s: string) => Uint8Array.from(s.match(/[0-9a-f]{2}/gi)!, (b) => parseInt(b, 16));

function readPcrBase(b: Uint8Array, at: number): number {
  return b[at]! * 2 ** 25 + (b[at + 1]! << 17) + (b[at + 2]! << 9) + (b[at + 3]! << 1) +
    (b[at + 4]! >> 7);
}

Deno.test("writeTsHeader() packs PID, payload_unit_start, adaptation_field_control and CC", () => {
  const out = new Uint8Array(4);
  writeTsHeader(out, 0, 0x101, true, 0b11, 0x1f);
  assert.deepEqual(out, hex("47 41 01 3f"));
  writeTsHeader(out, 0, 0x1fff, false, 0b01, 2);
  assert.deepEqual(out, hex("47 1f ff 12"));
  assert.throws(() => writeTsHeader(out, 0, 0x2000, false, 1, 0), RangeError);
});

Deno.test("writePcr() encodes the 33-bit base with reserved bits and zero extension", () => {
  const out = new Uint8Array(6);
  writePcr(out, 0, 63000); // 0.7 s
  assert.deepEqual(out, hex("00 00 7b 0c 7e 00"));
  writePcr(out, 0, 2 ** 33 - 1);
  assert.deepEqual(out, hex("ff ff ff ff fe 00"));
  writePcr(out, 0, 2 ** 33 + 1);
  assert.deepEqual(out, hex("00 00 00 00 fe 00"));
});

Deno.test("writePcr() round-trips any base mod 2^33", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (base) => {
      const out = new Uint8Array(6);
      writePcr(out, 0, base);
      assert.equal(readPcrBase(out, 0), base % 2 ** 33);
      assert.equal(out[4]! & 0x7e, 0x7e);
    }),
  );
});

Deno.test("writeAdaptationField() writes flags, PCR and stuffing to the exact size", () => {
  const cases: [number, boolean, number | null, string][] = [
    [1, false, null, "00"],
    [2, false, null, "01 00"],
    [5, false, null, "04 00 ff ff ff"],
    [2, true, null, "01 40"],
    [8, true, 63000, "07 50 00007b0c7e00"],
    [10, false, 0, "09 10 000000007e00 ffff"],
  ];
  for (const [size, randomAccess, pcr, expected] of cases) {
    const out = new Uint8Array(size + 1).fill(0xaa);
    writeAdaptationField(out, 0, size, randomAccess, pcr);
    assert.deepEqual(out.subarray(0, size), hex(expected), `size ${size}`);
    assert.equal(out[size], 0xaa);
  }
});

Deno.test("writeAdaptationField() rejects sizes too small for its fields or over 184", () => {
  const out = new Uint8Array(188);
  assert.throws(() => writeAdaptationField(out, 0, 7, false, 0), RangeError);
  assert.throws(() => writeAdaptationField(out, 0, 1, true, null), RangeError);
  assert.throws(() => writeAdaptationField(out, 0, 0, false, null), RangeError);
  assert.throws(() => writeAdaptationField(out, 0, 185, false, null), RangeError);
});
