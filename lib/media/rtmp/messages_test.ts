/**
 * Tests for the RTMP message vocabulary: type numbers, control payload builders and parsers,
 * user control messages and aggregate splitting, with payloads written out byte by byte.
 */

import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import {
  abortPayload,
  ackPayload,
  MessageType,
  parseAbort,
  parseAck,
  parseSetChunkSize,
  parseSetPeerBandwidth,
  parseUserControl,
  parseWindowAckSize,
  PeerBandwidthLimit,
  type RtmpMessage,
  RtmpProtocolError,
  setChunkSizePayload,
  setPeerBandwidthPayload,
  splitAggregate,
  UserControlEvent,
  userControlPayload,
  windowAckSizePayload,
} from "./messages.ts";

Deno.test("RtmpProtocolError is a SyntaxError with its own name", () => {
  const e = new RtmpProtocolError("Cannot parse chunk header: unknown fmt 4");
  assert.ok(e instanceof SyntaxError);
  assert.equal(e.name, "RtmpProtocolError");
  assert.equal(e.message, "Cannot parse chunk header: unknown fmt 4");
});

Deno.test("MessageType and UserControlEvent carry the spec's numbers", () => {
  assert.deepEqual(
    [
      MessageType.SET_CHUNK_SIZE,
      MessageType.ABORT,
      MessageType.ACK,
      MessageType.USER_CONTROL,
      MessageType.WINDOW_ACK_SIZE,
      MessageType.SET_PEER_BANDWIDTH,
      MessageType.AUDIO,
      MessageType.VIDEO,
      MessageType.DATA_AMF3,
      MessageType.SHARED_OBJECT_AMF3,
      MessageType.COMMAND_AMF3,
      MessageType.DATA_AMF0,
      MessageType.SHARED_OBJECT_AMF0,
      MessageType.COMMAND_AMF0,
      MessageType.AGGREGATE,
    ],
    [1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22],
  );
  assert.deepEqual(Object.values(UserControlEvent), [0, 1, 2, 3, 4, 6, 7]);
});

Deno.test("control payload builders write big-endian fields", () => {
  assert.deepEqual(setChunkSizePayload(4096), new Uint8Array([0, 0, 0x10, 0]));
  assert.deepEqual(abortPayload(4), new Uint8Array([0, 0, 0, 4]));
  assert.deepEqual(windowAckSizePayload(2_500_000), new Uint8Array([0x00, 0x26, 0x25, 0xa0]));
  assert.deepEqual(
    setPeerBandwidthPayload(2_500_000, PeerBandwidthLimit.DYNAMIC),
    new Uint8Array([0x00, 0x26, 0x25, 0xa0, 2]),
  );
  assert.deepEqual(ackPayload(0x1_0000_0005), new Uint8Array([0, 0, 0, 5]));
});

Deno.test("control payload builders reject values the wire cannot carry", () => {
  assert.throws(() => setChunkSizePayload(0), RangeError);
  assert.throws(() => setChunkSizePayload(0x80000000), RangeError);
  assert.throws(() => setChunkSizePayload(1.5), RangeError);
  assert.throws(() => windowAckSizePayload(-1), RangeError);
  assert.throws(() => setPeerBandwidthPayload(1000, 3), RangeError);
  assert.throws(() => ackPayload(-1), RangeError);
  assert.throws(() => userControlPayload(0x10000, 0), RangeError);
});

Deno.test("control payload parsers read what the builders wrote", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 0x7fffffff }), fc.nat(2), (n, limit) => {
      assert.equal(parseSetChunkSize(setChunkSizePayload(n)), n);
      assert.equal(parseAbort(abortPayload(n)), n);
      assert.equal(parseAck(ackPayload(n)), n);
      assert.equal(parseWindowAckSize(windowAckSizePayload(n)), n);
      assert.deepEqual(parseSetPeerBandwidth(setPeerBandwidthPayload(n, limit)), {
        size: n,
        limitType: limit,
      });
    }),
  );
});

Deno.test("control payload parsers reject short payloads", () => {
  assert.throws(
    () => parseSetChunkSize(new Uint8Array(3)),
    new RtmpProtocolError("Cannot parse set chunk size: payload is 3 bytes, expected 4"),
  );
  assert.throws(() => parseAck(new Uint8Array(0)), RtmpProtocolError);
  assert.throws(() => parseSetPeerBandwidth(new Uint8Array(4)), RtmpProtocolError);
});

Deno.test("userControlPayload() writes event type and event data", () => {
  assert.deepEqual(
    userControlPayload(UserControlEvent.STREAM_BEGIN, 1),
    new Uint8Array([0, 0, 0, 0, 0, 1]),
  );
  assert.deepEqual(
    userControlPayload(UserControlEvent.SET_BUFFER_LENGTH, 1, 3000),
    new Uint8Array([0, 3, 0, 0, 0, 1, 0, 0, 0x0b, 0xb8]),
  );
});

Deno.test("parseUserControl() reads pings, stream events and buffer lengths", () => {
  assert.deepEqual(parseUserControl(userControlPayload(UserControlEvent.PING_REQUEST, 123456)), {
    event: UserControlEvent.PING_REQUEST,
    value: 123456,
  });
  assert.deepEqual(parseUserControl(userControlPayload(UserControlEvent.STREAM_EOF, 7)), {
    event: UserControlEvent.STREAM_EOF,
    value: 7,
  });
  assert.deepEqual(
    parseUserControl(userControlPayload(UserControlEvent.SET_BUFFER_LENGTH, 1, 100)),
    { event: UserControlEvent.SET_BUFFER_LENGTH, value: 1, bufferLength: 100 },
  );
});

Deno.test("parseUserControl() rejects truncated payloads", () => {
  assert.throws(
    () => parseUserControl(new Uint8Array([0, 6, 0])),
    new RtmpProtocolError("Cannot parse user control message: payload is 3 bytes, expected 6"),
  );
  assert.throws(() => parseUserControl(new Uint8Array([0, 3, 0, 0, 0, 1])), RtmpProtocolError);
});

/** One aggregate record: FLV tag header, data and back pointer. */
function aggregateRecord(typeId: number, time: number, data: number[], backPointer = true) {
  const out = [
    typeId, // TagType
    (data.length >>> 16) & 0xff, // DataSize
    (data.length >>> 8) & 0xff,
    data.length & 0xff,
    (time >>> 16) & 0xff, // Timestamp
    (time >>> 8) & 0xff,
    time & 0xff,
    (time >>> 24) & 0xff, // TimestampExtended
    0, // StreamID
    0,
    0,
    ...data,
  ];
  const size = 11 + data.length;
  if (backPointer) out.push(size >>> 24, (size >>> 16) & 0xff, (size >>> 8) & 0xff, size & 0xff);
  return out;
}

function aggregate(timestamp: number, bytes: number[]): RtmpMessage {
  return {
    typeId: MessageType.AGGREGATE,
    streamId: 1,
    timestamp,
    csid: 6,
    payload: new Uint8Array(bytes),
  };
}

Deno.test("splitAggregate() offsets sub-message times from the first record", () => {
  const msg = aggregate(5000, [
    ...aggregateRecord(MessageType.VIDEO, 0x01000010, [1, 2, 3]),
    ...aggregateRecord(MessageType.AUDIO, 0x01000030, [4]),
    ...aggregateRecord(MessageType.VIDEO, 0x01000050, [], false),
  ]);
  const parts = splitAggregate(msg);
  assert.deepEqual(
    parts.map((m) => [m.typeId, m.timestamp, m.streamId, m.csid, [...m.payload]]),
    [
      [MessageType.VIDEO, 5000, 1, 6, [1, 2, 3]],
      [MessageType.AUDIO, 5032, 1, 6, [4]],
      [MessageType.VIDEO, 5064, 1, 6, []],
    ],
  );
  assert.equal(parts[0]!.payload.buffer, msg.payload.buffer, "payloads are views");
});

Deno.test("splitAggregate() wraps sub-message times at 2^32", () => {
  const msg = aggregate(0xfffffff0, [
    ...aggregateRecord(MessageType.AUDIO, 100, [9]),
    ...aggregateRecord(MessageType.AUDIO, 132, [9]),
  ]);
  assert.deepEqual(splitAggregate(msg).map((m) => m.timestamp), [0xfffffff0, 0x10]);
});

Deno.test("splitAggregate() rejects truncated records", () => {
  const whole = aggregateRecord(MessageType.VIDEO, 0, [1, 2, 3]);
  assert.throws(
    () => splitAggregate(aggregate(0, whole.slice(0, 8))),
    new RtmpProtocolError(
      "Cannot parse aggregate message: truncated sub-message header at offset 0",
    ),
  );
  assert.throws(() => splitAggregate(aggregate(0, whole.slice(0, 13))), RtmpProtocolError);
  assert.throws(() => splitAggregate(aggregate(0, whole.slice(0, 16))), RtmpProtocolError);
  assert.deepEqual(splitAggregate(aggregate(0, [])), []);
});
