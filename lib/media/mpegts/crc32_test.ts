import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import { crc32Mpeg } from "./crc32.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

Deno.test("crc32Mpeg() matches the CRC-32/MPEG-2 check value", () => {
  assert.equal(crc32Mpeg(ascii("123456789")), 0x0376e6e7);
});

Deno.test("crc32Mpeg() of no bytes is the initial value", () => {
  assert.equal(crc32Mpeg(new Uint8Array(0)), 0xffffffff);
});

Deno.test("crc32Mpeg() matches known vectors", () => {
  assert.equal(crc32Mpeg(new Uint8Array([0x00])), 0x4e08bfb4);
  assert.equal(crc32Mpeg(new Uint8Array([0xff, 0xff, 0xff, 0xff])), 0x00000000);
  // The PAT section (program 1 on PMT PID 0x1000) that ffmpeg writes, CRC 2AB104B2.
  const pat = new Uint8Array([
    0x00,
    0xb0,
    0x0d,
    0x00,
    0x01,
    0xc1,
    0x00,
    0x00,
    0x00,
    0x01,
    0xf0,
    0x00,
  ]);
  assert.equal(crc32Mpeg(pat), 0x2ab104b2);
});

Deno.test("crc32Mpeg() honours start and end", () => {
  const bytes = ascii("xx123456789yy");
  assert.equal(crc32Mpeg(bytes, 2, 11), 0x0376e6e7);
  assert.throws(() => crc32Mpeg(bytes, 5, 20), RangeError);
  assert.throws(() => crc32Mpeg(bytes, 6, 5), RangeError);
});

Deno.test("crc32Mpeg() of data followed by its big-endian CRC is 0", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
      const withCrc = new Uint8Array(data.length + 4);
      withCrc.set(data);
      new DataView(withCrc.buffer).setUint32(data.length, crc32Mpeg(data));
      assert.equal(crc32Mpeg(withCrc), 0);
    }),
  );
});
