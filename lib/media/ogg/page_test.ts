import assert from "node:assert/strict";
import { crc32Ogg, MAX_PAGE_PACKET_BYTES, OGG_FLAGS, writeOggPage } from "./page.ts";
import { readOggPackets } from "../testing/ogg_reader.ts";

Deno.test("crc32Ogg is CRC-32/CKSUM without its final XOR", () => {
  // CRC-32/CKSUM of "123456789" is 0x765E7680; Ogg's omits the final XOR (and the length).
  assert.equal(crc32Ogg(new TextEncoder().encode("123456789")), ~0x765e7680 >>> 0);
  assert.equal(crc32Ogg(new Uint8Array(0)), 0);
});

Deno.test("writeOggPage writes the header fields, lacing and a CRC that checks", () => {
  const packets = [new Uint8Array(255).fill(1), new Uint8Array(600).fill(2), new Uint8Array(3)];
  const page = writeOggPage({
    flags: OGG_FLAGS.BOS,
    granulePosition: 0x1_0000_0002n,
    serial: 0xdeadbeef,
    sequence: 7,
    packets,
  });
  const view = new DataView(page.buffer);
  assert.equal(new TextDecoder().decode(page.subarray(0, 4)), "OggS");
  assert.equal(page[4], 0);
  assert.equal(page[5], OGG_FLAGS.BOS);
  assert.equal(view.getBigInt64(6, true), 0x1_0000_0002n);
  assert.equal(view.getUint32(14, true), 0xdeadbeef);
  assert.equal(view.getUint32(18, true), 7);
  // 255 → [255, 0]; 600 → [255, 255, 90]; 3 → [3].
  assert.deepEqual([...page.subarray(26, 27 + 6)], [6, 255, 0, 255, 255, 90, 3]);
  assert.equal(page.length, 27 + 6 + 255 + 600 + 3);
  const crc = view.getUint32(22, true);
  const zeroed = page.slice();
  zeroed.fill(0, 22, 26);
  assert.equal(crc32Ogg(zeroed), crc);
  const read = readOggPackets(page);
  assert.deepEqual(read.map((p) => p.data), packets);
});

Deno.test("writeOggPage refuses packets that need more than 255 segments", () => {
  writeOggPage({
    flags: 0,
    granulePosition: 0n,
    serial: 1,
    sequence: 0,
    packets: [new Uint8Array(MAX_PAGE_PACKET_BYTES)],
  });
  assert.throws(
    () =>
      writeOggPage({
        flags: 0,
        granulePosition: 0n,
        serial: 1,
        sequence: 0,
        packets: [new Uint8Array(MAX_PAGE_PACKET_BYTES + 1)],
      }),
    RangeError,
  );
});
