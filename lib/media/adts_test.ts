import assert from "node:assert/strict";
import { ADTS_HEADER_SIZE, parseAacConfig, writeAdtsHeader } from "./aac.ts";
import { adtsAudioSpecificConfig, type AdtsFrame, AdtsReader } from "./adts.ts";

/** AAC-LC, 48 kHz, stereo. */
const LC_48K_STEREO = parseAacConfig(new Uint8Array([0x11, 0x90]));

function adts(payloads: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(payloads.reduce((n, p) => n + ADTS_HEADER_SIZE + p.length, 0));
  let at = 0;
  for (const p of payloads) {
    writeAdtsHeader(out, at, LC_48K_STEREO, p.length);
    out.set(p, at + ADTS_HEADER_SIZE);
    at += ADTS_HEADER_SIZE + p.length;
  }
  return out;
}

Deno.test("adtsAudioSpecificConfig is the config the header was written from", () => {
  const header = adts([new Uint8Array(1)]).subarray(0, ADTS_HEADER_SIZE);
  assert.deepEqual(adtsAudioSpecificConfig(header), new Uint8Array([0x11, 0x90]));
});

Deno.test("AdtsReader splits frames arriving in chunks of any size", () => {
  const payloads = Array.from({ length: 20 }, (_, i) => new Uint8Array(10 + i * 13).fill(i));
  const stream = adts(payloads);
  for (const chunkSize of [1, 7, 50, stream.length]) {
    const reader = new AdtsReader();
    const frames: AdtsFrame[] = [];
    for (let at = 0; at < stream.length; at += chunkSize) {
      frames.push(...reader.push(stream.subarray(at, at + chunkSize)));
    }
    assert.deepEqual(frames.map((f) => f.data), payloads, `chunks of ${chunkSize}`);
    assert.equal(frames[0]!.config.sampleRate, 48000);
    assert.equal(frames[0]!.config.channelConfig, 2);
    assert.equal(frames[0]!.config.objectType, 2);
    assert.ok(frames.every((f) => f.config === frames[0]!.config), "one config object");
  }
});

Deno.test("AdtsReader throws where a frame should start and no syncword is", () => {
  const stream = adts([new Uint8Array(5), new Uint8Array(5)]);
  stream[ADTS_HEADER_SIZE + 5] = 0x00;
  assert.throws(() => new AdtsReader().push(stream), SyntaxError);
});
