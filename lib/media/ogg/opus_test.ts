import assert from "node:assert/strict";
import { opusHead, opusPacketSamples, opusTags } from "./opus.ts";

Deno.test("opusPacketSamples reads the duration from the TOC byte", () => {
  const toc = (config: number, code: number) => (config << 3) | code;
  const cases: [number[], number][] = [
    [[toc(0, 0)], 480], // SILK 10 ms
    [[toc(3, 0)], 2880], // SILK 60 ms
    [[toc(13, 0)], 960], // Hybrid 20 ms
    [[toc(16, 0)], 120], // CELT 2.5 ms
    [[toc(31, 0)], 960], // CELT 20 ms
    [[toc(31, 1)], 1920], // two frames, equal sizes
    [[toc(31, 2)], 1920], // two frames, different sizes
    [[toc(16, 3), 0x85], 600], // code 3 with M = 5 (padding/VBR bits set)
  ];
  for (const [packet, samples] of cases) {
    assert.equal(opusPacketSamples(new Uint8Array(packet)), samples, `${packet}`);
  }
  assert.throws(() => opusPacketSamples(new Uint8Array(0)), SyntaxError);
  assert.throws(() => opusPacketSamples(new Uint8Array([toc(16, 3)])), SyntaxError);
});

Deno.test("opusHead and opusTags follow RFC 7845", () => {
  const head = opusHead(2, 48000, 312);
  assert.equal(new TextDecoder().decode(head.subarray(0, 8)), "OpusHead");
  assert.deepEqual([...head.subarray(8)], [1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0]);
  const tags = opusTags("cascade");
  assert.equal(new TextDecoder().decode(tags.subarray(0, 8)), "OpusTags");
  assert.deepEqual([...tags.subarray(8, 12)], [7, 0, 0, 0]);
  assert.equal(new TextDecoder().decode(tags.subarray(12, 19)), "cascade");
  assert.deepEqual([...tags.subarray(19)], [0, 0, 0, 0]);
});
