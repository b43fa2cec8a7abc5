import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import { forEachNalu, NAL_TYPE, parseAvcConfig, parseSpsSize, unescapeRbsp } from "./avc.ts";
import { flvFileTags } from "./flv.ts";

/** Bit writer for building SPS payloads (RBSP) in tests. */
class Bits {
  readonly out: number[] = [];
  #n = 0;
  bit(b: number | boolean): this {
    if (this.#n % 8 === 0) this.out.push(0);
    if (b) this.out[this.out.length - 1]! |= 0x80 >> (this.#n % 8);
    this.#n++;
    return this;
  }
  bits(n: number, v: number): this {
    for (let i = n - 1; i >= 0; i--) this.bit(Math.floor(v / 2 ** i) % 2);
    return this;
  }
  ue(v: number): this {
    const len = Math.floor(Math.log2(v + 1));
    return this.bits(len, 0).bits(len + 1, v + 1);
  }
  se(v: number): this {
    return this.ue(v > 0 ? 2 * v - 1 : -2 * v);
  }
  /** rbsp_trailing_bits, then emulation prevention and the NAL header for an SPS. */
  sps(): Uint8Array {
    this.bit(1);
    const escaped = [0x67]; // forbidden_zero_bit 0, nal_ref_idc 3, nal_unit_type 7
    let zeros = 0;
    for (const byte of this.out) {
      if (zeros >= 2 && byte <= 3) {
        escaped.push(3);
        zeros = 0;
      }
      escaped.push(byte);
      zeros = byte === 0 ? zeros + 1 : 0;
    }
    return new Uint8Array(escaped);
  }
}

interface SpsParams {
  profile: number;
  constraints: number;
  level: number;
  chroma: number;
  separatePlanes: boolean;
  scalingLists: (readonly number[] | null)[];
  pocType: number;
  pocCycle: number[];
  widthMbs: number;
  heightMapUnits: number;
  frameMbsOnly: boolean;
  crop: [number, number, number, number] | null;
}

function buildSps(p: SpsParams): Uint8Array {
  const b = new Bits().bits(8, p.profile).bits(8, p.constraints).bits(8, p.level).ue(0);
  if (p.profile >= 100) {
    b.ue(p.chroma);
    if (p.chroma === 3) b.bit(p.separatePlanes);
    b.ue(0).ue(0).bit(0); // bit depths 8, no transform bypass
    b.bit(p.scalingLists.length > 0);
    for (const [i, list] of p.scalingLists.entries()) {
      b.bit(list !== null);
      if (list === null) continue;
      // A list ends early once a delta brings nextScale to 0 (7.3.2.1.1.1).
      let last = 8, next = 8;
      for (let j = 0; j < (i < 6 ? 16 : 64) && next !== 0; j++) {
        const delta = list[j] ?? 0;
        b.se(delta);
        next = (last + delta + 256) % 256;
        if (next !== 0) last = next;
      }
    }
  }
  b.ue(0).ue(p.pocType); // log2_max_frame_num_minus4, pic_order_cnt_type
  if (p.pocType === 0) b.ue(2);
  if (p.pocType === 1) {
    b.bit(0).se(-1).se(2).ue(p.pocCycle.length);
    for (const o of p.pocCycle) b.se(o);
  }
  b.ue(4).bit(0).ue(p.widthMbs - 1).ue(p.heightMapUnits - 1).bit(p.frameMbsOnly);
  if (!p.frameMbsOnly) b.bit(1);
  b.bit(1).bit(p.crop !== null);
  for (const c of p.crop ?? []) b.ue(c);
  b.bit(0); // vui_parameters_present_flag
  return b.sps();
}

function cropUnits(p: SpsParams): [number, number] {
  const chroma = p.profile >= 100 ? p.chroma : 1;
  const fieldFactor = p.frameMbsOnly ? 1 : 2;
  if (chroma === 0 || p.separatePlanes) return [1, fieldFactor];
  return [chroma === 3 ? 1 : 2, (chroma === 1 ? 2 : 1) * fieldFactor];
}

function buildRecord(sps: Uint8Array[], pps: Uint8Array[], lengthSizeMinusOne = 3): Uint8Array {
  const out = [1, sps[0]?.[1] ?? 66, sps[0]?.[2] ?? 0, sps[0]?.[3] ?? 30];
  out.push(0xfc | lengthSizeMinusOne, 0xe0 | sps.length);
  for (const s of sps) out.push(s.length >> 8, s.length & 0xff, ...s);
  out.push(pps.length);
  for (const p of pps) out.push(p.length >> 8, p.length & 0xff, ...p);
  return new Uint8Array(out);
}

const baseline: SpsParams = {
  profile: 66,
  constraints: 0xc0,
  level: 30,
  chroma: 1,
  separatePlanes: false,
  scalingLists: [],
  pocType: 2,
  pocCycle: [],
  widthMbs: 40,
  heightMapUnits: 23,
  frameMbsOnly: true,
  crop: [0, 0, 0, 4],
};
const PPS = new Uint8Array([0x68, 0xce, 0x38, 0x80]);

Deno.test("parseAvcConfig() reads the record's fields and keeps views", () => {
  const sps = buildSps(baseline);
  const record = buildRecord([sps], [PPS], 3);
  const config = parseAvcConfig(record);
  assert.equal(config.profile, 66);
  assert.equal(config.compatibility, 0xc0);
  assert.equal(config.level, 30);
  assert.equal(config.nalLengthSize, 4);
  assert.deepEqual(config.sps, [sps]);
  assert.deepEqual(config.pps, [PPS]);
  assert.equal(config.record, record);
  assert.equal(config.sps[0]!.buffer, record.buffer);
  assert.equal(config.width, 640);
  assert.equal(config.height, 360);
});

Deno.test("parseAvcConfig() maps lengthSizeMinusOne to nalLengthSize", () => {
  const sps = buildSps(baseline);
  assert.equal(parseAvcConfig(buildRecord([sps], [PPS], 0)).nalLengthSize, 1);
  assert.equal(parseAvcConfig(buildRecord([sps], [PPS], 1)).nalLengthSize, 2);
  assert.throws(() => parseAvcConfig(buildRecord([sps], [PPS], 2)), /NAL length size 3/);
});

Deno.test("parseAvcConfig() accepts several parameter sets and one with none", () => {
  const sps = buildSps(baseline);
  const config = parseAvcConfig(buildRecord([sps, sps], [PPS, PPS, PPS]));
  assert.equal(config.sps.length, 2);
  assert.equal(config.pps.length, 3);
  const empty = parseAvcConfig(buildRecord([], []));
  assert.deepEqual([empty.sps, empty.pps, empty.width, empty.height], [
    [],
    [],
    undefined,
    undefined,
  ]);
});

Deno.test("parseAvcConfig() rejects malformed records with SyntaxError", async (t) => {
  const sps = buildSps(baseline);
  const good = buildRecord([sps], [PPS]);
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty", new Uint8Array(0), /need at least 7 bytes/],
    ["wrong version", Uint8Array.of(0, ...good.subarray(1)), /configurationVersion 0/],
    ["truncated SPS", good.subarray(0, 10), /SPS 0 of \d+ bytes runs past the end/],
    ["missing PPS count", good.subarray(0, 8 + sps.length), /numOfPictureParameterSets missing/],
    ["truncated PPS", good.subarray(0, good.length - 1), /PPS 0 of 4 bytes/],
    ["PPS as SPS", buildRecord([PPS], [PPS]), /NAL unit type 8, expected 7/],
    ["SPS cut short", buildRecord([sps.subarray(0, 6)], [PPS]), /Cannot parse SPS: ends early/],
  ];
  for (const [name, bytes, message] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => parseAvcConfig(bytes),
        (e) => e instanceof SyntaxError && message.test(e.message),
      );
    });
  }
});

Deno.test("parseSpsSize() applies crop units for each chroma format and field coding", async (t) => {
  const cases: [string, Partial<SpsParams>, number, number][] = [
    ["baseline 4:2:0 frame", {}, 640, 360],
    ["no cropping", { crop: null }, 640, 368],
    ["4:2:0 interlaced", { frameMbsOnly: false, heightMapUnits: 12, crop: [0, 0, 0, 6] }, 640, 360],
    ["high 4:0:0", { profile: 100, chroma: 0, crop: [1, 2, 3, 4] }, 637, 361],
    ["high 4:2:2", { profile: 122, chroma: 2, crop: [1, 0, 0, 5] }, 638, 363],
    ["high 4:4:4", { profile: 244, chroma: 3, crop: [0, 1, 0, 7] }, 639, 361],
    [
      "high 4:4:4 separate planes",
      { profile: 244, chroma: 3, separatePlanes: true, frameMbsOnly: false, crop: [0, 0, 0, 1] },
      640,
      734,
    ],
    ["poc type 0", { pocType: 0 }, 640, 360],
    ["poc type 1", { pocType: 1, pocCycle: [1, -2, 300] }, 640, 360],
    [
      "scaling lists",
      {
        profile: 100,
        scalingLists: [[-8], null, [1, 2, -3, ...Array(13).fill(0)], ...Array(5).fill(null)],
      },
      640,
      360,
    ],
  ];
  for (const [name, overrides, width, height] of cases) {
    await t.step(name, () => {
      assert.deepEqual(parseSpsSize(buildSps({ ...baseline, ...overrides })), { width, height });
    });
  }
});

Deno.test("parseSpsSize() rejects nonsense", () => {
  assert.throws(
    () => parseSpsSize(buildSps({ ...baseline, crop: [160, 160, 0, 0] })),
    /cropping leaves a 0x368/,
  );
  assert.throws(
    () => parseSpsSize(buildSps({ ...baseline, profile: 100, chroma: 4 })),
    /chroma_format_idc 4 is over 3/,
  );
  // 40 zero bits where an Exp-Golomb code should start.
  assert.throws(
    () => parseSpsSize(Uint8Array.of(0x67, 66, 0, 30, 0, 0, 3, 0, 0, 3, 0, 0)),
    /more than 31 leading zero bits/,
  );
});

Deno.test("unescapeRbsp() drops emulation prevention bytes and copies only then", () => {
  const plain = Uint8Array.of(1, 0, 0, 4, 0, 3);
  assert.equal(unescapeRbsp(plain), plain);
  assert.deepEqual(
    unescapeRbsp(Uint8Array.of(0, 0, 3, 1, 0, 0, 3, 0, 0, 3)),
    Uint8Array.of(0, 0, 1, 0, 0, 0, 0),
  );
  assert.deepEqual(unescapeRbsp(Uint8Array.of(0, 0, 3, 0, 0, 3)), Uint8Array.of(0, 0, 0, 0));
});

Deno.test("parseSpsSize() removes emulation prevention before parsing", () => {
  // profile_idc, constraint flags and level_idc all 0: three zero bytes need escaping.
  const sps = buildSps({ ...baseline, profile: 0, constraints: 0, level: 0 });
  assert.deepEqual([...sps.subarray(0, 5)], [0x67, 0, 0, 3, 0]);
  assert.deepEqual(parseSpsSize(sps), { width: 640, height: 360 });
});

Deno.test("parseSpsSize() reads the size of any SPS (with emulation prevention)", () => {
  const scalingList = fc.option(
    fc.oneof(fc.constant([-8]), fc.array(fc.integer({ min: -128, max: 127 }), { maxLength: 64 })),
    { nil: null },
  );
  const params = fc.record({
    profile: fc.constantFrom(66, 77, 88, 100, 110, 122, 244),
    constraints: fc.integer({ min: 0, max: 255 }),
    level: fc.integer({ min: 0, max: 255 }),
    chroma: fc.integer({ min: 0, max: 3 }),
    separatePlanes: fc.boolean(),
    scalingLists: fc.array(scalingList, { minLength: 12, maxLength: 12 }),
    withScaling: fc.boolean(),
    pocType: fc.integer({ min: 0, max: 2 }),
    pocCycle: fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 5 }),
    widthMbs: fc.integer({ min: 1, max: 300 }),
    heightMapUnits: fc.integer({ min: 1, max: 150 }),
    frameMbsOnly: fc.boolean(),
    crop: fc.option(fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3), fc.nat(3)), { nil: null }),
  });
  fc.assert(
    fc.property(params, ({ withScaling, ...raw }) => {
      const p: SpsParams = {
        ...raw,
        separatePlanes: raw.profile >= 100 && raw.chroma === 3 && raw.separatePlanes,
        scalingLists: withScaling ? raw.scalingLists.slice(0, raw.chroma === 3 ? 12 : 8) : [],
      };
      const [unitX, unitY] = cropUnits(p);
      const [l, r, t, b] = p.crop ?? [0, 0, 0, 0];
      const width = p.widthMbs * 16 - (l + r) * unitX;
      const height = (p.frameMbsOnly ? 1 : 2) * p.heightMapUnits * 16 - (t + b) * unitY;
      fc.pre(width > 0 && height > 0);
      assert.deepEqual(parseSpsSize(buildSps(p)), { width, height });
    }),
    { numRuns: 500 },
  );
});

Deno.test("parseSpsSize() of random bytes only throws SyntaxError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        parseSpsSize(Uint8Array.of(0x67, ...bytes));
      } catch (e) {
        assert.ok(e instanceof SyntaxError, `unexpected ${e}`);
      }
    }),
    { numRuns: 3000 },
  );
});

Deno.test("forEachNalu() walks length-prefixed units without copying", () => {
  const avcc = Uint8Array.of(0, 0, 0, 2, 0x09, 0xf0, 0, 0, 0, 0, 0, 0, 0, 3, 0x65, 0x88, 0x84);
  const seen: [number, number][] = [];
  forEachNalu(avcc, 4, (start, end) => seen.push([start, end]));
  assert.deepEqual(seen, [[4, 6], [14, 17]]); // the zero-length unit is skipped
  const short: [number, number][] = [];
  forEachNalu(Uint8Array.of(1, 0x09, 2, 0x41, 0x9a), 1, (s, e) => short.push([s, e]));
  assert.deepEqual(short, [[1, 2], [3, 5]]);
});

Deno.test("forEachNalu() rejects lengths past the end with SyntaxError", () => {
  const noop = () => {};
  assert.throws(
    () => forEachNalu(Uint8Array.of(0, 0, 0, 5, 1, 2), 4, noop),
    /NAL unit at 0 has length 5, 2 left/,
  );
  assert.throws(() => forEachNalu(Uint8Array.of(0, 1, 9, 0), 2, noop), /1 trailing bytes at 3/);
  assert.throws(() => forEachNalu(Uint8Array.of(0xff, 0xff, 0xff, 0xff), 4, noop), SyntaxError);
  assert.throws(() => forEachNalu(Uint8Array.of(), 3.5, noop), RangeError);
});

Deno.test("forEachNalu() visits exactly the units a random frame was built from", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(1, 2, 3, 4),
      fc.array(fc.uint8Array({ minLength: 1, maxLength: 255 }), { maxLength: 8 }),
      (size, units) => {
        const out: number[] = [];
        for (const u of units) {
          for (let i = size - 1; i >= 0; i--) out.push(Math.floor(u.length / 256 ** i) % 256);
          out.push(...u);
        }
        const avcc = new Uint8Array(out);
        const seen: Uint8Array[] = [];
        forEachNalu(avcc, size, (s, e) => seen.push(avcc.subarray(s, e)));
        assert.deepEqual(seen, units);
      },
    ),
  );
});

/** Encodes one second of `source` (a lavfi graph) with libx264 into FLV; returns the file. */
async function ffmpegFlv(source: string, extra: string[]): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "cascade_avc_" });
  try {
    const out = `${dir}/out.flv`;
    const { code, stderr } = await new Deno.Command("ffmpeg", {
      args: [
        ..."-hide_banner -loglevel error -f lavfi -i".split(" "),
        source,
        ..."-t 1 -c:v libx264".split(" "),
        ...extra,
        ..."-f flv".split(" "),
        out,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    return await Deno.readFile(out);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface FfmpegCase {
  name: string;
  width: number;
  height: number;
  profile: number;
  args?: string[];
  /** lavfi source; testsrc2 rounds odd sizes down to even, so those need a scale filter. */
  source?: string;
}

const ffmpegCases: FfmpegCase[] = [
  { name: "High 4:2:0", width: 640, height: 360, profile: 100 },
  {
    name: "Baseline, zerolatency",
    width: 176,
    height: 144,
    profile: 66,
    args: ["-profile:v", "baseline", "-tune", "zerolatency"],
  },
  { name: "High 4:2:2", width: 320, height: 182, profile: 122, args: ["-pix_fmt", "yuv422p"] },
  {
    name: "High 4:4:4",
    width: 323,
    height: 181,
    profile: 244,
    args: ["-pix_fmt", "yuv444p"],
    source: "testsrc2=size=320x180:rate=30,scale=323:181",
  },
  { name: "High 10", width: 1280, height: 720, profile: 110, args: ["-pix_fmt", "yuv420p10le"] },
  {
    name: "interlaced",
    width: 640,
    height: 360,
    profile: 100,
    args: ["-flags", "+ildct+ilme", "-x264-params", "interlaced=1"],
  },
];

for (const { name, width, height, profile, args = [], source } of ffmpegCases) {
  Deno.test(`parseAvcConfig() reads ffmpeg's ${name} ${width}x${height} sequence header`, async () => {
    const file = await ffmpegFlv(source ?? `testsrc2=size=${width}x${height}:rate=30`, args);
    let config: ReturnType<typeof parseAvcConfig> | undefined;
    let units = 0;
    let idrs = 0;
    for (const tag of flvFileTags(file)) {
      if (tag.type !== 9) continue;
      const avcPacketType = tag.body[1];
      if (avcPacketType === 0) config = parseAvcConfig(tag.body.subarray(5));
      if (avcPacketType !== 1) continue;
      assert.ok(config, "a frame came before the sequence header");
      const frame = tag.body.subarray(5);
      forEachNalu(frame, config.nalLengthSize, (start) => {
        units++;
        if ((frame[start]! & 0x1f) === NAL_TYPE.IDR) idrs++;
      });
    }
    assert.ok(config);
    assert.equal(config.profile, profile);
    assert.equal(config.width, width);
    assert.equal(config.height, height);
    assert.equal(config.sps.length, 1);
    assert.equal(config.pps.length, 1);
    assert.ok(units >= 30, `only ${units} NAL units`);
    assert.ok(idrs >= 1, "no IDR slice");
  });
}
