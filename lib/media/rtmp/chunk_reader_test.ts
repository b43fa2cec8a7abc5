/**
 * Table-like tests for the chunk reader, built from small chunk builders named after the spec's
 * header fields: every fmt, timestamp deltas and wrap, extended timestamps, interleaving,
 * control messages the reader applies, byte-at-a-time feeding, limits and acknowledgements.
 */

import assert from "node:assert/strict";
import { ChunkReader, type ChunkReaderOptions } from "./chunk_reader.ts";
import {
  abortPayload,
  MessageType,
  type RtmpMessage,
  RtmpProtocolError,
  setChunkSizePayload,
  windowAckSizePayload,
} from "./messages.ts";

// Small chunk builders, named after the spec's header fields.

function basic(fmt: number, csid: number): number[] {
  if (csid < 64) return [(fmt << 6) | csid];
  if (csid < 320) return [fmt << 6, csid - 64];
  return [(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >>> 8];
}

const u24 = (v: number) => [(v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const u32 = (v: number) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const u32le = (v: number) => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, v >>> 24];
const field = (t: number) => u24(Math.min(t, 0xffffff));
const ext = (t: number) => (t >= 0xffffff ? u32(t) : []);

function fmt0(csid: number, time: number, length: number, typeId: number, streamId: number) {
  return [
    ...basic(0, csid),
    ...field(time),
    ...u24(length),
    typeId,
    ...u32le(streamId),
    ...ext(time),
  ];
}

function fmt1(csid: number, delta: number, length: number, typeId: number) {
  return [...basic(1, csid), ...field(delta), ...u24(length), typeId, ...ext(delta)];
}

function fmt2(csid: number, delta: number) {
  return [...basic(2, csid), ...field(delta), ...ext(delta)];
}

/** A fmt 3 header; `extended` is the repeated extended timestamp field, if the stream has one. */
function fmt3(csid: number, extended?: number) {
  return [...basic(3, csid), ...(extended === undefined ? [] : u32(extended))];
}

function data(length: number, seed = 0): number[] {
  return Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);
}

function readAll(bytes: number[] | Uint8Array, options?: ChunkReaderOptions): RtmpMessage[] {
  const r = new ChunkReader(options);
  r.push(Uint8Array.from(bytes));
  return [...r.drain()];
}

function summary(messages: RtmpMessage[]) {
  return messages.map((m) => ({
    csid: m.csid,
    typeId: m.typeId,
    streamId: m.streamId,
    timestamp: m.timestamp,
    length: m.payload.length,
  }));
}

Deno.test("ChunkReader.push() reads a message in one fmt 0 chunk", () => {
  const [msg, ...more] = readAll([...fmt0(3, 1000, 4, 20, 0x01020304), 1, 2, 3, 4]);
  assert.deepEqual(more, []);
  assert.deepEqual(msg, {
    typeId: 20,
    streamId: 0x01020304,
    timestamp: 1000,
    csid: 3,
    payload: new Uint8Array([1, 2, 3, 4]),
  });
});

Deno.test("ChunkReader.push() decodes one-, two- and three-byte basic headers", () => {
  for (const csid of [2, 63, 64, 65, 319, 320, 321, 65599]) {
    const [msg] = readAll([...fmt0(csid, 0, 1, 8, 1), 42]);
    assert.equal(msg?.csid, csid);
  }
});

Deno.test("ChunkReader.push() reassembles a message split across chunks", () => {
  const payload = data(307);
  const msgs = readAll([
    ...fmt0(4, 1000, 307, 9, 12346),
    ...payload.slice(0, 128),
    ...fmt3(4),
    ...payload.slice(128, 256),
    ...fmt3(4),
    ...payload.slice(256),
  ]);
  assert.equal(msgs.length, 1);
  assert.deepEqual(msgs[0]!.payload, Uint8Array.from(payload));
  assert.equal(msgs[0]!.timestamp, 1000);
});

Deno.test("ChunkReader.push() accumulates fmt 2 and fmt 3 deltas (spec example 1)", () => {
  const msgs = readAll([
    ...fmt0(3, 1000, 32, 8, 12345),
    ...data(32),
    ...fmt2(3, 20),
    ...data(32),
    ...fmt3(3),
    ...data(32),
    ...fmt3(3),
    ...data(32),
  ]);
  assert.deepEqual(msgs.map((m) => m.timestamp), [1000, 1020, 1040, 1060]);
  assert.ok(msgs.every((m) => m.typeId === 8 && m.streamId === 12345 && m.payload.length === 32));
});

Deno.test("ChunkReader.push() takes new length and type from fmt 1", () => {
  const msgs = readAll([
    ...fmt0(6, 0, 10, 9, 1),
    ...data(10),
    ...fmt1(6, 40, 5, 8),
    ...data(5),
    ...fmt3(6),
    ...data(5),
  ]);
  assert.deepEqual(summary(msgs), [
    { csid: 6, typeId: 9, streamId: 1, timestamp: 0, length: 10 },
    { csid: 6, typeId: 8, streamId: 1, timestamp: 40, length: 5 },
    { csid: 6, typeId: 8, streamId: 1, timestamp: 80, length: 5 },
  ]);
});

Deno.test("ChunkReader.push() treats a fmt 0 timestamp as the delta of a following fmt 3", () => {
  const msgs = readAll([...fmt0(5, 33, 2, 8, 1), 0, 0, ...fmt3(5), 0, 0]);
  assert.deepEqual(msgs.map((m) => m.timestamp), [33, 66]);
});

Deno.test("ChunkReader.push() wraps timestamps at 2^32", () => {
  const msgs = readAll([
    ...fmt0(4, 0xfffffff0, 1, 9, 1),
    1,
    ...fmt2(4, 0x20),
    2,
    ...fmt3(4),
    3,
  ]);
  assert.deepEqual(msgs.map((m) => m.timestamp), [0xfffffff0, 0x10, 0x30]);
});

Deno.test("ChunkReader.push() reads extended timestamps repeated on fmt 3 chunks", () => {
  const t = 0x01000000;
  const msgs = readAll(
    [
      ...fmt0(2, 0, 4, MessageType.SET_CHUNK_SIZE, 0),
      ...setChunkSizePayload(3),
      ...fmt0(4, t, 6, 9, 1),
      ...data(3),
      ...fmt3(4, t), // continuation repeats the extended field
      ...data(3),
      ...fmt3(4, t), // new message: delta after fmt 0 is its timestamp
      ...data(3),
      ...fmt3(4, t),
      ...data(3),
    ],
    { maxMessageSize: 100 },
  );
  assert.deepEqual(summary(msgs.slice(1)), [
    { csid: 4, typeId: 9, streamId: 1, timestamp: t, length: 6 },
    { csid: 4, typeId: 9, streamId: 1, timestamp: 2 * t, length: 6 },
  ]);
});

Deno.test("ChunkReader.push() applies extended deltas from fmt 1 and fmt 2", () => {
  const big = 0x01000000;
  const msgs = readAll([
    ...fmt0(4, 100, 1, 9, 1),
    1,
    ...fmt1(4, big, 200, 9),
    ...data(128),
    ...fmt3(4, big),
    ...data(72),
    ...fmt2(4, 5),
    ...data(128),
    ...fmt3(4), // fmt 2 had no extended field, so neither does its fmt 3
    ...data(72),
  ]);
  assert.deepEqual(msgs.map((m) => m.timestamp), [100, 100 + big, 105 + big]);
  assert.deepEqual(msgs.map((m) => m.payload.length), [1, 200, 200]);
});

Deno.test("ChunkReader.push() takes exactly 0xFFFFFF as the extended marker", () => {
  const msgs = readAll([
    ...fmt0(4, 0xfffffe, 1, 9, 1),
    1,
    ...fmt0(4, 0xffffff, 1, 9, 1),
    2,
  ]);
  assert.deepEqual(msgs.map((m) => m.timestamp), [0xfffffe, 0xffffff]);
});

Deno.test("ChunkReader.push() reassembles interleaved chunk streams", () => {
  const video = data(200, 1);
  const audio = data(10, 2);
  const msgs = readAll([
    ...fmt0(6, 40, 200, 9, 1),
    ...video.slice(0, 128),
    ...fmt0(4, 43, 10, 8, 1),
    ...audio,
    ...fmt3(6),
    ...video.slice(128),
  ]);
  assert.deepEqual(summary(msgs), [
    { csid: 4, typeId: 8, streamId: 1, timestamp: 43, length: 10 },
    { csid: 6, typeId: 9, streamId: 1, timestamp: 40, length: 200 },
  ]);
  assert.deepEqual(msgs[1]!.payload, Uint8Array.from(video));
});

Deno.test("ChunkReader.push() emits zero-length messages", () => {
  const msgs = readAll([...fmt0(3, 7, 0, 18, 1), ...fmt3(3)]);
  assert.deepEqual(summary(msgs), [
    { csid: 3, typeId: 18, streamId: 1, timestamp: 7, length: 0 },
    { csid: 3, typeId: 18, streamId: 1, timestamp: 14, length: 0 },
  ]);
});

Deno.test("ChunkReader.push() applies Set Chunk Size to the chunks after it", () => {
  const payload = data(1000);
  const r = new ChunkReader();
  r.push(Uint8Array.from([
    ...fmt0(2, 0, 4, MessageType.SET_CHUNK_SIZE, 0),
    ...setChunkSizePayload(4096),
    ...fmt0(6, 0, 1000, 9, 1),
    ...payload,
  ]));
  assert.equal(r.chunkSize, 4096);
  const msgs = [...r.drain()];
  assert.deepEqual(msgs.map((m) => m.typeId), [MessageType.SET_CHUNK_SIZE, 9]);
  assert.deepEqual(msgs[1]!.payload, Uint8Array.from(payload));
});

Deno.test("ChunkReader.push() accepts chunk sizes 1 to 0xFFFFFF only", () => {
  const scs = (size: number) => [...fmt0(2, 0, 4, MessageType.SET_CHUNK_SIZE, 0), ...u32(size)];
  assert.equal(readAll(scs(1)).length, 1);
  assert.equal(readAll(scs(0xffffff)).length, 1);
  assert.throws(
    () => readAll(scs(0)),
    new RtmpProtocolError("Cannot apply set chunk size: 0 is not in 1..16777215"),
  );
  assert.throws(() => readAll(scs(0x1000000)), RtmpProtocolError);
  assert.throws(() => readAll(scs(0x80000080)), RtmpProtocolError);
  assert.throws(
    () => readAll([...fmt0(2, 0, 2, MessageType.SET_CHUNK_SIZE, 0), 0, 1]),
    RtmpProtocolError,
  );
});

Deno.test("ChunkReader.push() drops the partial message named by Abort", () => {
  const msgs = readAll([
    ...fmt0(6, 0, 200, 9, 1),
    ...data(128),
    ...fmt0(2, 0, 4, MessageType.ABORT, 0),
    ...abortPayload(6),
    ...fmt1(6, 40, 3, 9),
    1,
    2,
    3,
  ]);
  assert.deepEqual(summary(msgs), [
    { csid: 2, typeId: MessageType.ABORT, streamId: 0, timestamp: 0, length: 4 },
    { csid: 6, typeId: 9, streamId: 1, timestamp: 40, length: 3 },
  ]);
});

Deno.test("ChunkReader.push() gives the same messages when fed one byte at a time", () => {
  const stream = [
    ...fmt0(2, 0, 4, MessageType.SET_CHUNK_SIZE, 0),
    ...setChunkSizePayload(50),
    ...fmt0(6, 0x01000000, 120, 9, 1),
    ...data(50),
    ...fmt0(400, 5, 3, 8, 1),
    1,
    2,
    3,
    ...fmt3(6, 0x01000000),
    ...data(50),
    ...fmt3(6, 0x01000000),
    ...data(20),
    ...fmt1(400, 20, 60, 8),
    ...data(50),
    ...fmt3(400),
    ...data(10),
    ...fmt2(400, 20),
    ...data(50),
    ...fmt3(400),
    ...data(10),
  ];
  const whole = readAll(stream);
  assert.equal(whole.length, 5);
  const r = new ChunkReader();
  const oneByOne: RtmpMessage[] = [];
  for (const b of stream) {
    r.push(Uint8Array.of(b));
    oneByOne.push(...r.drain());
  }
  assert.deepEqual(oneByOne, whole);
  for (let at = 0; at <= stream.length; at++) {
    const split = new ChunkReader();
    split.push(Uint8Array.from(stream.slice(0, at)));
    split.push(Uint8Array.from(stream.slice(at)));
    assert.deepEqual([...split.drain()], whole, `split at ${at}`);
  }
});

Deno.test("ChunkReader.push() copies payloads out of the pushed buffer", () => {
  const input = Uint8Array.from([...fmt0(3, 0, 3, 8, 1), 1, 2, 3]);
  const r = new ChunkReader();
  r.push(input);
  input.fill(0);
  assert.deepEqual(r.read()?.payload, new Uint8Array([1, 2, 3]));
  assert.equal(r.read(), undefined);
});

Deno.test("ChunkReader.push() rejects headers that need state the stream lacks", () => {
  assert.throws(
    () => readAll(fmt1(5, 0, 1, 8)),
    new RtmpProtocolError(
      "Cannot parse chunk header: fmt 1 on chunk stream 5 before any fmt 0 header",
    ),
  );
  assert.throws(() => readAll(fmt2(5, 0)), RtmpProtocolError);
  assert.throws(() => readAll(fmt3(5)), RtmpProtocolError);
});

Deno.test("ChunkReader.push() rejects a new header in the middle of a message", () => {
  assert.throws(
    () => readAll([...fmt0(5, 0, 200, 9, 1), ...data(128), ...fmt1(5, 1, 1, 9)]),
    new RtmpProtocolError(
      "Cannot parse chunk header: fmt 1 on chunk stream 5 interrupts a message with 72 bytes missing",
    ),
  );
});

Deno.test("ChunkReader.push() enforces maxMessageSize", () => {
  assert.equal(
    readAll([...fmt0(5, 0, 100, 9, 1), ...data(100)], { maxMessageSize: 100 }).length,
    1,
  );
  assert.throws(
    () => readAll(fmt0(5, 0, 101, 9, 1), { maxMessageSize: 100 }),
    new RtmpProtocolError(
      "Cannot parse chunk header: message length 101 exceeds the limit of 100 bytes",
    ),
  );
  assert.throws(() => readAll(fmt0(5, 0, 0xffffff, 9, 1)), RtmpProtocolError);
});

Deno.test("ChunkReader.push() enforces maxBufferedBytes across chunk streams", () => {
  const options = { maxMessageSize: 1000, maxBufferedBytes: 1500 };
  const r = new ChunkReader(options);
  r.push(Uint8Array.from([...fmt0(5, 0, 1000, 9, 1), ...data(128)]));
  assert.equal(r.bufferedBytes, 1000);
  assert.throws(() => r.push(Uint8Array.from(fmt0(6, 0, 600, 9, 1))), RtmpProtocolError);
});

Deno.test("ChunkReader.push() enforces maxChunkStreams", () => {
  const open = (n: number) => Array.from({ length: n }, (_, i) => fmt0(3 + i, 0, 0, 8, 1)).flat();
  assert.equal(readAll(open(4), { maxChunkStreams: 4 }).length, 4);
  assert.throws(
    () => readAll(open(5), { maxChunkStreams: 4 }),
    new RtmpProtocolError(
      "Cannot parse chunk header: chunk stream 7 exceeds the limit of 4 chunk streams",
    ),
  );
});

Deno.test("ChunkReader stays failed after a protocol error", () => {
  const r = new ChunkReader();
  r.push(Uint8Array.from([...fmt0(3, 0, 1, 8, 1), 9]));
  assert.throws(() => r.push(Uint8Array.from(fmt3(9))), RtmpProtocolError);
  assert.throws(() => r.push(Uint8Array.from([...fmt0(3, 0, 1, 8, 1), 9])), RtmpProtocolError);
  assert.equal(r.read()?.payload[0], 9, "messages before the error stay readable");
});

Deno.test("ChunkReader counts bytes and says when an Acknowledgement is due", () => {
  const r = new ChunkReader();
  r.push(Uint8Array.from([...fmt0(3, 0, 1, 8, 1), 9]));
  assert.equal(r.bytesReceived, 13);
  assert.equal(r.takeAck(), null, "no window yet");
  r.push(Uint8Array.from([
    ...fmt0(2, 0, 4, MessageType.WINDOW_ACK_SIZE, 0),
    ...windowAckSizePayload(40),
  ]));
  assert.equal(r.ackWindow, 40);
  assert.equal(r.bytesReceived, 29);
  assert.equal(r.takeAck(), null);
  r.push(new Uint8Array(fmt0(3, 0, 11, 8, 1).concat(data(11))));
  assert.equal(r.takeAck(), 52);
  assert.equal(r.takeAck(), null, "acknowledged once");
  r.setAckWindow(0);
  r.push(new Uint8Array(fmt0(3, 0, 100, 8, 1)));
  assert.equal(r.takeAck(), null);
  assert.throws(() => r.setAckWindow(-1), RangeError);
});

Deno.test("ChunkReader.bufferedBytes counts partial payloads and header bytes", () => {
  const r = new ChunkReader();
  r.push(Uint8Array.from(fmt0(6, 0, 300, 9, 1).slice(0, 5)));
  assert.equal(r.bufferedBytes, 5);
  r.push(Uint8Array.from([...fmt0(6, 0, 300, 9, 1).slice(5), ...data(10)]));
  assert.equal(r.bufferedBytes, 300);
  r.push(Uint8Array.from([...data(118), ...fmt3(6), ...data(128), ...fmt3(6), ...data(44)]));
  assert.equal(r.bufferedBytes, 0);
  assert.equal(r.read()?.payload.length, 300);
});
