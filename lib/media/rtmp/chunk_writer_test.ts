/**
 * Tests for the chunk writer: exact header bytes for the basic header forms, fmt 3
 * continuations, extended timestamps, chunk size changes, argument checks and a round trip
 * through the chunk reader.
 */

import assert from "node:assert/strict";
import { ChunkReader } from "./chunk_reader.ts";
import { ChunkWriter } from "./chunk_writer.ts";
import { MessageType, type RtmpMessage, setChunkSizePayload } from "./messages.ts";

function bytes(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => i & 0xff);
}

function message(fields: Partial<RtmpMessage>): RtmpMessage {
  return {
    typeId: MessageType.VIDEO,
    streamId: 1,
    timestamp: 0,
    csid: 6,
    payload: new Uint8Array(0),
    ...fields,
  };
}

Deno.test("ChunkWriter.write() emits one fmt 0 chunk for a small message", () => {
  const out = new ChunkWriter().write(
    message({
      csid: 3,
      typeId: MessageType.COMMAND_AMF0,
      streamId: 0x01020304,
      timestamp: 1000,
      payload: new Uint8Array([9, 8, 7]),
    }),
  );
  assert.deepEqual(
    out,
    new Uint8Array([
      0x03, // fmt 0, cs id 3
      0x00, // timestamp 1000
      0x03,
      0xe8,
      0x00, // message length 3
      0x00,
      0x03,
      20, // message type id
      0x04, // message stream id, little-endian
      0x03,
      0x02,
      0x01,
      9, // chunk data
      8,
      7,
    ]),
  );
});

Deno.test("ChunkWriter.write() continues with fmt 3 chunks at the chunk size", () => {
  const payload = bytes(300);
  const out = new ChunkWriter().write(message({ csid: 4, payload }));
  assert.equal(out.length, 12 + 128 + 1 + 128 + 1 + 44);
  assert.equal(out[12 + 128], 0xc4, "fmt 3, cs id 4");
  assert.equal(out[12 + 128 + 1 + 128], 0xc4);
  assert.deepEqual(out.subarray(12, 12 + 128), payload.subarray(0, 128));
  assert.deepEqual(out.subarray(out.length - 44), payload.subarray(256));
});

Deno.test("ChunkWriter.write() emits a header for an empty payload", () => {
  assert.equal(new ChunkWriter().write(message({ csid: 2 })).length, 12);
});

Deno.test("ChunkWriter.write() uses the two- and three-byte basic headers", () => {
  const w = new ChunkWriter();
  assert.deepEqual(w.write(message({ csid: 63 })).subarray(0, 1), new Uint8Array([63]));
  assert.deepEqual(w.write(message({ csid: 64 })).subarray(0, 2), new Uint8Array([0, 0]));
  assert.deepEqual(w.write(message({ csid: 319 })).subarray(0, 2), new Uint8Array([0, 255]));
  assert.deepEqual(w.write(message({ csid: 320 })).subarray(0, 3), new Uint8Array([1, 0, 1]));
  assert.deepEqual(
    w.write(message({ csid: 65599 })).subarray(0, 3),
    new Uint8Array([1, 255, 255]),
  );
  const continued = w.write(message({ csid: 320, payload: bytes(129) }));
  assert.deepEqual(
    continued.subarray(3 + 11 + 128, 3 + 11 + 128 + 3),
    new Uint8Array([0xc1, 0, 1]),
  );
});

Deno.test("ChunkWriter.write() puts large timestamps in the extended field of every chunk", () => {
  const out = new ChunkWriter({ chunkSize: 10 }).write(
    message({ csid: 5, timestamp: 0x12345678, payload: bytes(15) }),
  );
  assert.deepEqual(out.subarray(1, 4), new Uint8Array([0xff, 0xff, 0xff]), "timestamp field");
  assert.deepEqual(out.subarray(12, 16), new Uint8Array([0x12, 0x34, 0x56, 0x78]));
  assert.deepEqual(
    out.subarray(26, 31),
    new Uint8Array([0xc5, 0x12, 0x34, 0x56, 0x78]),
    "fmt 3 repeats the extended timestamp",
  );
  assert.equal(out.length, 16 + 10 + 5 + 5);
});

Deno.test("ChunkWriter.write() uses the extended field from 0xFFFFFF and wraps at 2^32", () => {
  const w = new ChunkWriter();
  assert.equal(w.write(message({ timestamp: 0xfffffe })).length, 12);
  assert.equal(w.write(message({ timestamp: 0xffffff })).length, 16);
  const wrapped = w.write(message({ timestamp: 0x1_0000_0005 }));
  assert.deepEqual(wrapped.subarray(1, 4), new Uint8Array([0, 0, 5]));
});

Deno.test("ChunkWriter.write() of Set Chunk Size switches the writer's chunk size", () => {
  const w = new ChunkWriter();
  const scs = w.write(
    message({
      csid: 2,
      streamId: 0,
      typeId: MessageType.SET_CHUNK_SIZE,
      payload: setChunkSizePayload(4096),
    }),
  );
  assert.equal(scs.length, 16);
  assert.equal(w.chunkSize, 4096);
  assert.equal(w.write(message({ payload: bytes(4096) })).length, 12 + 4096);
});

Deno.test("ChunkWriter rejects values the chunk format cannot carry", () => {
  const w = new ChunkWriter();
  assert.throws(() => w.setChunkSize(0), RangeError);
  assert.throws(() => new ChunkWriter({ chunkSize: 0x80000000 }), RangeError);
  assert.throws(() => w.write(message({ csid: 1 })), RangeError);
  assert.throws(() => w.write(message({ csid: 65600 })), RangeError);
  assert.throws(() => w.write(message({ typeId: 256 })), RangeError);
  assert.throws(() => w.write(message({ streamId: -1 })), RangeError);
  assert.throws(() => w.write(message({ timestamp: -1 })), RangeError);
  assert.throws(() => w.write(message({ payload: new Uint8Array(0x1000000) })), RangeError);
  assert.throws(
    () => w.write(message({ typeId: MessageType.SET_CHUNK_SIZE, payload: new Uint8Array(4) })),
    RangeError,
  );
  assert.equal(w.chunkSize, 128);
});

Deno.test("ChunkWriter output reads back through ChunkReader", () => {
  const w = new ChunkWriter();
  const r = new ChunkReader();
  const sent = [
    message({
      csid: 2,
      streamId: 0,
      typeId: MessageType.SET_CHUNK_SIZE,
      payload: setChunkSizePayload(100),
    }),
    message({ csid: 4, timestamp: 20, payload: bytes(1000) }),
    message({ csid: 700, timestamp: 0xffffffff, payload: bytes(250) }),
  ];
  for (const msg of sent) r.push(w.write(msg));
  assert.deepEqual([...r.drain()], sent);
});
