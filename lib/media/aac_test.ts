import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import {
  AAC_SAMPLE_RATES,
  aacLcConfig,
  ADTS_HEADER_SIZE,
  parseAacConfig,
  writeAdtsHeader,
} from "./aac.ts";
import type { AacConfig } from "./frame.ts";
import { flvFileTags } from "./flv.ts";

/** Packs `[bitCount, value]` fields MSB first into bytes, zero-padding the last byte. */
function pack(...fields: [number, number][]): Uint8Array {
  let bits = "";
  for (const [n, v] of fields) bits += v.toString(2).padStart(n, "0");
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, "0");
  return new Uint8Array(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
}

const parseCases: [string, Uint8Array, Omit<AacConfig, "record">][] = [
  [
    "AAC LC 44100 stereo (0x12 0x10)",
    Uint8Array.of(0x12, 0x10),
    { objectType: 2, sampleRateIndex: 4, sampleRate: 44100, channelConfig: 2 },
  ],
  [
    "AAC LC 48000 stereo (0x11 0x90)",
    Uint8Array.of(0x11, 0x90),
    { objectType: 2, sampleRateIndex: 3, sampleRate: 48000, channelConfig: 2 },
  ],
  [
    "AAC LC 22050 mono (0x13 0x88)",
    Uint8Array.of(0x13, 0x88),
    { objectType: 2, sampleRateIndex: 7, sampleRate: 22050, channelConfig: 1 },
  ],
  [
    "AAC Main 8000 5.1",
    pack([5, 1], [4, 11], [4, 6], [3, 0]),
    { objectType: 1, sampleRateIndex: 11, sampleRate: 8000, channelConfig: 6 },
  ],
  [
    "escaped object type 42 (USAC)",
    pack([5, 31], [6, 10], [4, 3], [4, 2]),
    { objectType: 42, sampleRateIndex: 3, sampleRate: 48000, channelConfig: 2 },
  ],
  [
    "explicit frequency without an index",
    pack([5, 2], [4, 15], [24, 50000], [4, 1]),
    { objectType: 2, sampleRateIndex: 15, sampleRate: 50000, channelConfig: 1 },
  ],
  [
    "explicit frequency that has an index",
    pack([5, 2], [4, 15], [24, 44100], [4, 2]),
    { objectType: 2, sampleRateIndex: 4, sampleRate: 44100, channelConfig: 2 },
  ],
  [
    "explicit HE-AAC (SBR) reports the core (0x2b 0x92 0x08 0x00)",
    Uint8Array.of(0x2b, 0x92, 0x08, 0x00),
    { objectType: 2, sampleRateIndex: 7, sampleRate: 22050, channelConfig: 2 },
  ],
  [
    "explicit HE-AAC v2 (PS)",
    pack([5, 29], [4, 6], [4, 1], [4, 3], [5, 2]),
    { objectType: 2, sampleRateIndex: 6, sampleRate: 24000, channelConfig: 1 },
  ],
  [
    "trailing GASpecificConfig bits are ignored",
    Uint8Array.of(0x12, 0x10, 0x56, 0xe5, 0x00),
    { objectType: 2, sampleRateIndex: 4, sampleRate: 44100, channelConfig: 2 },
  ],
];

Deno.test("parseAacConfig() reads known AudioSpecificConfigs", async (t) => {
  for (const [name, asc, expected] of parseCases) {
    await t.step(name, () => {
      const config = parseAacConfig(asc);
      assert.deepEqual(config, { ...expected, record: asc });
      assert.equal(config.record, asc);
    });
  }
});

Deno.test("parseAacConfig() rejects nonsense", async (t) => {
  const cases: [string, Uint8Array, ErrorConstructor, RegExp][] = [
    ["empty", new Uint8Array(0), SyntaxError, /ends early/],
    ["one byte", Uint8Array.of(0x12), SyntaxError, /ends early/],
    ["cut explicit frequency", pack([5, 2], [4, 15], [8, 0xac]), SyntaxError, /ends early/],
    ["object type 0", pack([5, 0], [4, 4], [4, 2]), RangeError, /audioObjectType 0/],
    ["reserved index 13", pack([5, 2], [4, 13], [4, 2]), RangeError, /Index 13 is reserved/i],
    ["reserved index 14", pack([5, 2], [4, 14], [4, 2]), RangeError, /Index 14 is reserved/i],
    ["zero frequency", pack([5, 2], [4, 15], [24, 0], [4, 2]), RangeError, /samplingFrequency 0/],
    ["channel config 0 (PCE)", pack([5, 2], [4, 4], [4, 0]), RangeError, /channelConfiguration 0/],
    ["channel config 9", pack([5, 2], [4, 4], [4, 9]), RangeError, /channelConfiguration 9/],
  ];
  for (const [name, asc, type, message] of cases) {
    await t.step(name, () => {
      assert.throws(
        () => parseAacConfig(asc),
        (e) =>
          e instanceof type && /^Cannot parse AudioSpecificConfig: /.test(e.message) &&
          message.test(e.message),
      );
    });
  }
});

Deno.test("parseAacConfig() of random bytes throws only SyntaxError or RangeError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8 }), (asc) => {
      try {
        const c = parseAacConfig(asc);
        assert.ok(c.channelConfig >= 1 && c.channelConfig <= 7);
      } catch (e) {
        assert.ok(e instanceof SyntaxError || e instanceof RangeError, `unexpected ${e}`);
      }
    }),
    { numRuns: 3000 },
  );
});

const lc44100Stereo = parseAacConfig(Uint8Array.of(0x12, 0x10));

Deno.test("writeAdtsHeader() writes the 7 header bytes in place", () => {
  const target = new Uint8Array(12).fill(0xaa);
  writeAdtsHeader(target, 2, lc44100Stereo, 371);
  // FFF1 | profile 1 (LC), index 4, channels 2 | frame length 378 | fullness 7FF | 1 block.
  assert.deepEqual([...target], [
    0xaa,
    0xaa,
    0xff,
    0xf1,
    0x50,
    0x80,
    0x2f,
    0x5f,
    0xfc,
    0xaa,
    0xaa,
    0xaa,
  ]);
  assert.equal(ADTS_HEADER_SIZE, 7);
});

Deno.test("writeAdtsHeader() fields read back for any config and length", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 12 }),
      fc.integer({ min: 1, max: 7 }),
      fc.integer({ min: 0, max: 0x1fff - 7 }),
      (objectType, sampleRateIndex, channelConfig, payloadLength) => {
        const config: AacConfig = {
          objectType,
          sampleRateIndex,
          sampleRate: AAC_SAMPLE_RATES[sampleRateIndex]!,
          channelConfig,
          record: new Uint8Array(0),
        };
        const h = new Uint8Array(7);
        writeAdtsHeader(h, 0, config, payloadLength);
        const bits = [...h].map((b) => b.toString(2).padStart(8, "0")).join("");
        const field = (at: number, n: number) => parseInt(bits.slice(at, at + n), 2);
        assert.equal(field(0, 12), 0xfff); // syncword
        assert.equal(field(12, 4), 0b0001); // ID, layer, protection_absent
        assert.equal(field(16, 2), objectType - 1);
        assert.equal(field(18, 4), sampleRateIndex);
        assert.equal(field(23, 3), channelConfig);
        assert.equal(field(30, 13), payloadLength + 7);
        assert.equal(field(43, 11), 0x7ff);
        assert.equal(field(54, 2), 0);
      },
    ),
  );
});

Deno.test("writeAdtsHeader() refuses what ADTS cannot express", () => {
  const h = new Uint8Array(7);
  assert.throws(() => writeAdtsHeader(h, 1, lc44100Stereo, 10), /no room/);
  assert.throws(() => writeAdtsHeader(h, 0, lc44100Stereo, 8185), /payload of 8185 bytes/);
  assert.throws(
    () => writeAdtsHeader(h, 0, { ...lc44100Stereo, objectType: 42 }, 10),
    /object type 42/,
  );
  assert.throws(
    () => writeAdtsHeader(h, 0, { ...lc44100Stereo, sampleRateIndex: 15 }, 10),
    /sampling index 15/,
  );
  writeAdtsHeader(h, 0, lc44100Stereo, 8184);
});

/** Runs ffmpeg with `args`, failing the test with its stderr if it fails. */
async function ffmpeg(...args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-loglevel", "error", "-y", ...args],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

for (const [rate, channels] of [[44100, 2], [48000, 1], [22050, 6]] as const) {
  Deno.test(`writeAdtsHeader() rebuilds ffmpeg's ADTS stream byte for byte (${rate} Hz, ${channels} ch)`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "cascade_aac_" });
    try {
      // Encode once to ADTS, then copy those same frames into FLV (ASC + raw frames).
      const source = `sine=frequency=440:sample_rate=${rate}:duration=1`;
      await ffmpeg(
        "-f",
        "lavfi",
        "-i",
        source,
        "-ac",
        String(channels),
        "-c:a",
        "aac",
        "-f",
        "adts",
        `${dir}/a.aac`,
      );
      await ffmpeg("-i", `${dir}/a.aac`, "-c", "copy", "-f", "flv", `${dir}/a.flv`);
      const adts = await Deno.readFile(`${dir}/a.aac`);
      let config: AacConfig | undefined;
      const rebuilt: number[] = [];
      for (const tag of flvFileTags(await Deno.readFile(`${dir}/a.flv`))) {
        if (tag.type !== 8) continue;
        // ffmpeg writes an empty sequence header first when copying from ADTS.
        if (tag.body[1] === 0 && tag.body.length > 2) config = parseAacConfig(tag.body.subarray(2));
        if (tag.body[1] !== 1) continue;
        assert.ok(config);
        const raw = tag.body.subarray(2);
        const header = new Uint8Array(ADTS_HEADER_SIZE);
        writeAdtsHeader(header, 0, config, raw.length);
        rebuilt.push(...header, ...raw);
      }
      assert.ok(config);
      assert.equal(config.sampleRate, rate);
      assert.equal(config.channelConfig, channels);
      assert.equal(config.objectType, 2);
      assert.ok(rebuilt.length > 1000);
      assert.deepEqual(new Uint8Array(rebuilt), adts);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("aacLcConfig() declares AAC-LC at a table rate, as an ADTS header of that audio would", () => {
  const c = aacLcConfig(48_000, 2);
  assert.equal(c.objectType, 2);
  assert.equal(c.sampleRate, 48_000);
  assert.equal(c.channelConfig, 2);
  assert.deepEqual([...c.record], [0x11, 0x90]);
  assert.throws(() => aacLcConfig(47_000, 2), RangeError);
});
