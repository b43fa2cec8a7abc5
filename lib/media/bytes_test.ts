import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import { ByteReader, ByteWriter } from "./bytes.ts";

Deno.test("ByteWriter grows without losing bytes written across the resize", () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 200 }), (values) => {
      const w = new ByteWriter(1);
      for (const v of values) w.u8(v & 0xff).u16(v & 0xffff).u24(v & 0xffffff).u32(v).f64(v);
      const r = new ByteReader(w.finish());
      for (const v of values) {
        assert.equal(r.u8(), v & 0xff);
        assert.equal(r.u16(), v & 0xffff);
        assert.equal(r.u24(), v & 0xffffff);
        assert.equal(r.u32(), v);
        assert.equal(r.f64(), v);
      }
      assert.equal(r.remaining, 0);
    }),
  );
});

Deno.test("ByteReader throws RangeError past the end and reads signed 24-bit values", () => {
  const r = new ByteReader(new Uint8Array([0xff, 0xff, 0xfe, 0x01]));
  assert.equal(r.i24(), -2);
  assert.throws(() => r.u16(), RangeError);
});
