import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import { ByteReader } from "./bytes.ts";
import {
  AMF0_CLASS_NAME,
  AMF0_ECMA_ARRAY,
  AMF0_MAX_DEPTH,
  AmfError,
  type AmfValue,
  asEcmaArray,
  decodeAmf0,
  decodeAmf0Value,
  encodeAmf0,
  withClassName,
} from "./amf0.ts";

/** Small AMF0 builder for test inputs, written independently of the encoder. */
class Amf {
  readonly out: number[] = [];
  raw(...b: number[]): this {
    this.out.push(...b);
    return this;
  }
  u16(v: number): this {
    return this.raw(v >> 8, v & 0xff);
  }
  u32(v: number): this {
    return this.u16(v >>> 16).u16(v & 0xffff);
  }
  f64(v: number): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v);
    return this.raw(...b);
  }
  num(v: number): this {
    return this.raw(0x00).f64(v);
  }
  bool(v: boolean): this {
    return this.raw(0x01, v ? 1 : 0);
  }
  key(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u16(b.length).raw(...b);
  }
  str(s: string): this {
    return this.raw(0x02).key(s);
  }
  longStr(marker: number, s: string): this {
    const b = new TextEncoder().encode(s);
    return this.raw(marker).u32(b.length).raw(...b);
  }
  end(): this {
    return this.raw(0x00, 0x00, 0x09);
  }
  get bytes(): Uint8Array {
    return new Uint8Array(this.out);
  }
}

const amf = () => new Amf();

const decodeCases: [string, Uint8Array, AmfValue][] = [
  ["number", amf().num(1.5).bytes, 1.5],
  ["number -0", amf().num(-0).bytes, -0],
  ["boolean true", amf().bool(true).bytes, true],
  ["boolean nonzero byte", amf().raw(0x01, 0x7f).bytes, true],
  ["boolean false", amf().bool(false).bytes, false],
  ["string", amf().str("live").bytes, "live"],
  ["string utf-8", amf().str("päivää ✓").bytes, "päivää ✓"],
  ["empty string", amf().str("").bytes, ""],
  ["null", amf().raw(0x05).bytes, null],
  ["undefined", amf().raw(0x06).bytes, undefined],
  ["unsupported", amf().raw(0x0d).bytes, undefined],
  ["long string", amf().longStr(0x0c, "long").bytes, "long"],
  ["xml document", amf().longStr(0x0f, "<a/>").bytes, "<a/>"],
  [
    "object",
    amf().raw(0x03).key("app").str("live").key("fpad").bool(false).end().bytes,
    { app: "live", fpad: false },
  ],
  ["empty object", amf().raw(0x03).end().bytes, {}],
  ["object with empty key", amf().raw(0x03).key("").num(1).end().bytes, { "": 1 }],
  [
    "ecma array (count ignored)",
    amf().raw(0x08, 0, 0, 0, 7).key("width").num(640).key("height").num(360).end().bytes,
    { width: 640, height: 360 },
  ],
  [
    "strict array",
    amf().raw(0x0a, 0, 0, 0, 3).num(1).str("a").raw(0x05).bytes,
    [1, "a", null],
  ],
  ["empty strict array", amf().raw(0x0a, 0, 0, 0, 0).bytes, []],
  ["date", dateBytes(0, 0), new Date(0)],
  [
    "typed object",
    amf().raw(0x10).key("flex.Foo").key("x").num(2).end().bytes,
    { x: 2 },
  ],
  [
    "nested object",
    amf().raw(0x03).key("a").raw(0x03).key("b").raw(0x0a, 0, 0, 0, 1).num(3).end().end().bytes,
    { a: { b: [3] } },
  ],
];

Deno.test("decodeAmf0() decodes each marker", async (t) => {
  for (const [name, bytes, expected] of decodeCases) {
    await t.step(name, () => assert.deepEqual(decodeAmf0(bytes), [expected]));
  }
});

function dateBytes(ms: number, tz: number): Uint8Array {
  return amf().raw(0x0b).f64(ms).u16(tz).bytes;
}

Deno.test("decodeAmf0() decodes a date and ignores its time zone", () => {
  const [d] = decodeAmf0(dateBytes(1_700_000_000_123, 0xffc4));
  assert.ok(d instanceof Date);
  assert.equal(d.getTime(), 1_700_000_000_123);
});

Deno.test("decodeAmf0() keeps a typed object's class name under AMF0_CLASS_NAME", () => {
  const [obj] = decodeAmf0(amf().raw(0x10).key("flex.Foo").key("x").num(2).end().bytes);
  assert.equal((obj as Record<symbol, unknown>)[AMF0_CLASS_NAME], "flex.Foo");
  assert.deepEqual(Object.keys(obj as object), ["x"]);
});

Deno.test("decodeAmf0() marks ECMA arrays under AMF0_ECMA_ARRAY", () => {
  const [obj] = decodeAmf0(amf().raw(0x08, 0, 0, 0, 0).key("a").num(1).end().bytes);
  assert.equal((obj as Record<symbol, unknown>)[AMF0_ECMA_ARRAY], true);
});

Deno.test("decodeAmf0() decodes an RTMP connect command", () => {
  const body = amf().str("connect").num(1)
    .raw(0x03).key("app").str("live").key("tcUrl").str("rtmp://localhost/live")
    .key("audioCodecs").num(3575).end().bytes;
  assert.deepEqual(decodeAmf0(body), [
    "connect",
    1,
    { app: "live", tcUrl: "rtmp://localhost/live", audioCodecs: 3575 },
  ]);
});

Deno.test("decodeAmf0() resolves references to earlier objects", () => {
  // [ {a:1}, ref 1 ] inside one strict array (index 0 is the array itself).
  const bytes = amf().raw(0x0a, 0, 0, 0, 2).raw(0x03).key("a").num(1).end().raw(0x07, 0, 1).bytes;
  const [arr] = decodeAmf0(bytes) as [AmfValue[]];
  assert.deepEqual(arr, [{ a: 1 }, { a: 1 }]);
  assert.equal(arr[0], arr[1]);
});

Deno.test("decodeAmf0() shares the reference table across a message's values", () => {
  const bytes = amf().raw(0x03).key("a").num(1).end().raw(0x07, 0, 0).bytes;
  assert.deepEqual(decodeAmf0(bytes), [{ a: 1 }, { a: 1 }]);
});

Deno.test("decodeAmf0() rejects dangling and cyclic references", () => {
  assert.throws(() => decodeAmf0(amf().raw(0x07, 0, 0).bytes), /index 0 but only 0 objects/);
  // An object containing a reference to itself.
  const cyclic = amf().raw(0x03).key("self").raw(0x07, 0, 0).end().bytes;
  assert.throws(() => decodeAmf0(cyclic), (e) => e instanceof AmfError && /cycle/.test(e.message));
});

Deno.test("decodeAmf0() stops references from expanding exponentially", () => {
  // Each array holds two references to the previous one: 2^40 values from ~200 bytes.
  const b = amf().raw(0x0a, 0, 0, 0, 0);
  for (let i = 0; i < 40; i++) b.raw(0x0a, 0, 0, 0, 2, 0x07, 0, i, 0x07, 0, i);
  assert.throws(() => decodeAmf0(b.bytes), /expand to more than/);
});

Deno.test("decodeAmf0() rejects malformed input with AmfError", async (t) => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated number", amf().raw(0x00, 1, 2).bytes, /truncated/],
    ["truncated string", amf().raw(0x02, 0, 9, 0x61).bytes, /truncated/],
    ["object without end", amf().raw(0x03).key("a").num(1).bytes, /truncated/],
    ["stray object end", amf().raw(0x09).bytes, /object-end/],
    ["amf3 switch", amf().raw(0x11, 0x01).bytes, /AMF3/],
    ["movieclip", amf().raw(0x04).bytes, /reserved marker 0x04/],
    ["recordset", amf().raw(0x0e).bytes, /reserved marker 0x0e/],
    ["unknown marker", amf().raw(0x42).bytes, /unknown marker 0x42/],
    ["huge strict array", amf().raw(0x0a, 0xff, 0xff, 0xff, 0xff, 0x05).bytes, /items but only/],
    ["huge long string", amf().raw(0x0c, 0xff, 0xff, 0xff, 0xff).bytes, /truncated/],
  ];
  for (const [name, bytes, message] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => decodeAmf0(bytes),
        (e) => e instanceof AmfError && e instanceof SyntaxError && message.test(e.message),
      );
    });
  }
});

Deno.test("decodeAmf0() bounds nesting depth", () => {
  const ok = amf();
  for (let i = 0; i < AMF0_MAX_DEPTH; i++) ok.raw(0x0a, 0, 0, 0, 1);
  ok.raw(0x05);
  assert.equal(decodeAmf0(ok.bytes).length, 1);
  const deep = amf();
  for (let i = 0; i < 100_000; i++) deep.raw(0x0a, 0, 0, 0, 1);
  assert.throws(() => decodeAmf0(deep.bytes), /nested deeper than 64/);
  const deepObjects = amf();
  for (let i = 0; i < 100_000; i++) deepObjects.raw(0x03).key("k");
  assert.throws(() => decodeAmf0(deepObjects.bytes), /nested deeper than 64/);
});

Deno.test("decodeAmf0() keeps a __proto__ key as an own property", () => {
  const [obj] = decodeAmf0(
    amf().raw(0x03).key("__proto__").raw(0x03).key("polluted").bool(true).end().end().bytes,
  ) as [Record<string, unknown>];
  assert.equal(Object.getPrototypeOf(obj), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.keys(obj), ["__proto__"]);
});

Deno.test("decodeAmf0Value() reads one value and advances the reader", () => {
  const r = new ByteReader(amf().str("onStatus").num(0).raw(0x05).bytes);
  assert.equal(decodeAmf0Value(r), "onStatus");
  assert.equal(decodeAmf0Value(r), 0);
  assert.equal(decodeAmf0Value(r), null);
  assert.equal(r.remaining, 0);
  assert.throws(() => decodeAmf0Value(r), AmfError);
});

const encodeCases: [string, AmfValue, Uint8Array][] = [
  ["number", 1.5, amf().num(1.5).bytes],
  ["boolean", true, amf().bool(true).bytes],
  ["string", "live", amf().str("live").bytes],
  ["null", null, amf().raw(0x05).bytes],
  ["undefined", undefined, amf().raw(0x06).bytes],
  ["date", new Date(86_400_000), dateBytes(86_400_000, 0)],
  ["strict array", [1, "a"], amf().raw(0x0a, 0, 0, 0, 2).num(1).str("a").bytes],
  ["object", { level: "status" }, amf().raw(0x03).key("level").str("status").end().bytes],
  [
    "ecma array",
    asEcmaArray({ duration: 0 }),
    amf().raw(0x08, 0, 0, 0, 1).key("duration").num(0).end().bytes,
  ],
  [
    "typed object",
    withClassName({ x: 1 }, "Point"),
    amf().raw(0x10).key("Point").key("x").num(1).end().bytes,
  ],
];

Deno.test("encodeAmf0() writes each type", async (t) => {
  for (const [name, value, expected] of encodeCases) {
    await t.step(name, () => assert.deepEqual(encodeAmf0(value), expected));
  }
});

Deno.test("encodeAmf0() writes several values back to back", () => {
  assert.deepEqual(
    encodeAmf0("_result", 1, null, { code: "NetConnection.Connect.Success" }),
    amf().str("_result").num(1).raw(0x05)
      .raw(0x03).key("code").str("NetConnection.Connect.Success").end().bytes,
  );
});

Deno.test("encodeAmf0() switches to a long string above 65535 UTF-8 bytes", () => {
  const at = "x".repeat(0xffff);
  assert.equal(encodeAmf0(at)[0], 0x02);
  const over = "é".repeat(0x8000); // 65536 bytes in UTF-8
  const bytes = encodeAmf0(over);
  assert.equal(bytes[0], 0x0c);
  assert.equal(new DataView(bytes.buffer).getUint32(1), 0x10000);
  assert.deepEqual(decodeAmf0(bytes), [over]);
});

Deno.test("encodeAmf0() rejects what AMF0 cannot carry", () => {
  assert.throws(() => encodeAmf0({ ["k".repeat(0x10000)]: 1 }), RangeError);
  const cyclic: Record<string, AmfValue> = {};
  cyclic.self = cyclic;
  assert.throws(() => encodeAmf0(cyclic), RangeError);
  assert.throws(() => encodeAmf0((() => 1) as unknown as AmfValue), TypeError);
  assert.throws(() => encodeAmf0(1n as unknown as AmfValue), TypeError);
});

const amfValue: fc.Arbitrary<AmfValue> = fc.letrec<{ value: AmfValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.double(),
    fc.boolean(),
    fc.string({ unit: "grapheme" }),
    fc.constant(null),
    fc.constant(undefined),
    fc.date(),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.string(), tie("value"), { maxKeys: 5, noNullPrototype: true }),
  ),
})).value;

Deno.test("decodeAmf0(encodeAmf0(v)) round-trips any value", () => {
  fc.assert(
    fc.property(fc.array(amfValue, { maxLength: 4 }), (values) => {
      assert.deepEqual(decodeAmf0(encodeAmf0(...values)), values);
    }),
    { numRuns: 500 },
  );
});

Deno.test("decodeAmf0(encodeAmf0(v)) keeps ECMA arrays and class names", () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string(), fc.double(), { noNullPrototype: true }),
      fc.string(),
      fc.boolean(),
      (dict, className, ecma) => {
        const value = ecma ? asEcmaArray({ ...dict }) : withClassName({ ...dict }, className);
        const bytes = encodeAmf0(value);
        const [back] = decodeAmf0(bytes);
        assert.deepEqual(back, dict);
        const marks = back as Record<symbol, unknown>;
        if (ecma) assert.equal(marks[AMF0_ECMA_ARRAY], true);
        else assert.equal(marks[AMF0_CLASS_NAME], className);
        assert.deepEqual(encodeAmf0(back), bytes);
      },
    ),
  );
});

Deno.test("decodeAmf0() of random bytes only ever throws AmfError", () => {
  const check = (bytes: Uint8Array) => {
    try {
      decodeAmf0(bytes);
    } catch (e) {
      assert.ok(e instanceof AmfError, `unexpected ${e}`);
    }
  };
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), check), { numRuns: 5000 });
  // Mostly-valid input: a valid encoding with a few bytes changed or cut off.
  fc.assert(
    fc.property(
      fc.array(amfValue, { minLength: 1, maxLength: 3 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
      fc.nat(),
      (values, edits, cut) => {
        const bytes = encodeAmf0(...values);
        for (const [at, b] of edits) bytes[at % bytes.length] = b;
        check(bytes.subarray(0, bytes.length - (cut % bytes.length)));
      },
    ),
    { numRuns: 2000 },
  );
});

Deno.test("encodeAmf0() sizes any string as TextEncoder does, lone surrogates included", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 50 }), (s) => {
      const utf8 = new TextEncoder().encode(s);
      const bytes = encodeAmf0(s, { [s]: s });
      assert.equal(bytes.length, 3 + utf8.length + 1 + 2 + utf8.length + 3 + utf8.length + 3);
      const fixed = new TextDecoder().decode(utf8);
      assert.deepEqual(decodeAmf0(bytes), [fixed, { [fixed]: fixed }]);
    }),
  );
});
