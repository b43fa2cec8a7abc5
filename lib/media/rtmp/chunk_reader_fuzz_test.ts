/**
 * Property tests for the chunk reader. Round trips: what `ChunkWriter` writes, and what a
 * reference sender writes with compressed headers, interleaved chunk streams, chunk size
 * changes and aborts, reads back identically however the bytes are split. Robustness: random
 * and mutated streams raise nothing but protocol errors and never make the reader buffer more
 * than its limits allow.
 */

import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import { ChunkReader } from "./chunk_reader.ts";
import { ChunkWriter } from "./chunk_writer.ts";
import {
  abortPayload,
  MessageType,
  type RtmpMessage,
  RtmpProtocolError,
  setChunkSizePayload,
} from "./messages.ts";
import { concatBytes } from "../bytes.ts";

/** Basic header (3) + fmt 0 message header (11) + extended timestamp (4). */
const MAX_HEADER_LENGTH = 18;

// ---------------------------------------------------------------------------------------------
// Generators

const csidArb = fc.oneof(
  fc.integer({ min: 3, max: 63 }),
  fc.integer({ min: 64, max: 319 }),
  fc.integer({ min: 320, max: 65599 }),
);

/** Deltas that exercise equal spacing, the extended field, and wrapping. */
const deltaArb = fc.oneof(
  fc.constantFrom(0, 20, 33, 0xfffffe, 0xffffff, 0x1000000),
  fc.integer({ min: 0, max: 0xffffffff }),
);

const chunkSizeArb = fc.oneof(
  fc.integer({ min: 1, max: 300 }),
  fc.constantFrom(128, 4096, 65536, 0xffffff),
);

type Step =
  | {
    kind: "message";
    slot: number;
    typeId: number;
    streamId: number;
    delta: number;
    payload: Uint8Array;
  }
  | { kind: "chunkSize"; size: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("message" as const),
      slot: fc.nat(5),
      typeId: fc.constantFrom(8, 9, 18, 20),
      streamId: fc.constantFrom(0, 1, 0xffffffff),
      delta: deltaArb,
      payload: fc.oneof(
        fc.uint8Array({ minLength: 10, maxLength: 10 }),
        fc.uint8Array({ maxLength: 700, size: "max" }),
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("chunkSize" as const), size: chunkSizeArb }),
  },
);

interface Scenario {
  csids: number[];
  starts: number[];
  steps: Step[];
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  csids: fc.uniqueArray(csidArb, { minLength: 6, maxLength: 6 }),
  starts: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 6, maxLength: 6 }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: 40, size: "max" }),
});

/** Turns a scenario into messages with absolute timestamps, chunk stream by chunk stream. */
function messagesOf({ csids, starts, steps }: Scenario): RtmpMessage[] {
  const clock = [...starts];
  return steps.map((step) => {
    if (step.kind === "chunkSize") {
      return {
        csid: 2,
        typeId: MessageType.SET_CHUNK_SIZE,
        streamId: 0,
        timestamp: 0,
        payload: setChunkSizePayload(step.size),
      };
    }
    const timestamp = (clock[step.slot]! + step.delta) >>> 0;
    clock[step.slot] = timestamp;
    return {
      csid: csids[step.slot]!,
      typeId: step.typeId,
      streamId: step.streamId,
      timestamp,
      payload: step.payload,
    };
  });
}

/** Splits `bytes` at the given fractions of its length. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = cuts.map((c) => Math.floor(c * bytes.length)).sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const to of [...at, bytes.length]) {
    pieces.push(bytes.subarray(from, to));
    from = to;
  }
  return pieces;
}

const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 40 });

function readPieces(reader: ChunkReader, pieces: Uint8Array[]): RtmpMessage[] {
  const out: RtmpMessage[] = [];
  for (const piece of pieces) {
    reader.push(piece);
    out.push(...reader.drain());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// A reference sender that compresses headers (fmt 1/2/3 whenever legal, chosen at random),
// interleaves chunks of different chunk streams and aborts messages half way.

interface SentHeader {
  timestamp: number;
  delta: number;
  length: number;
  typeId: number;
  streamId: number;
  extended: boolean;
}

function basicHeader(fmt: number, csid: number): number[] {
  if (csid < 64) return [(fmt << 6) | csid];
  if (csid < 320) return [fmt << 6, csid - 64];
  return [(fmt << 6) | 1, (csid - 64) & 0xff, (csid - 64) >>> 8];
}

const u24 = (v: number) => [(v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
const u32 = (v: number) => [v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];

/** Small deterministic PRNG (mulberry32) so fast-check can shrink through a seed. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) % n);
  };
}

class ReferenceSender {
  chunkSize = 128;
  out: number[] = [];
  /** What the receiver should read, in completion order. */
  expected: RtmpMessage[] = [];
  #headers = new Map<number, SentHeader>();
  #random: (n: number) => number;

  constructor(random: (n: number) => number) {
    this.#random = random;
  }

  /** Writes the first chunk header of `msg`, as compressed as a random pick allows. */
  startMessage(msg: RtmpMessage): void {
    const prev = this.#headers.get(msg.csid);
    const length = msg.payload.length;
    const delta = prev ? (msg.timestamp - prev.timestamp) >>> 0 : 0;
    let fmt = 0;
    if (prev && prev.streamId === msg.streamId) {
      const same = prev.length === length && prev.typeId === msg.typeId;
      const most = !same ? 1 : delta === prev.delta ? 3 : 2;
      fmt = this.#random(most + 1);
    }
    const out = this.out;
    out.push(...basicHeader(fmt, msg.csid));
    if (fmt === 3) {
      if (prev!.extended) out.push(...u32(prev!.delta));
      prev!.timestamp = msg.timestamp;
      return;
    }
    const time = fmt === 0 ? msg.timestamp : delta;
    const extended = time >= 0xffffff;
    out.push(...u24(extended ? 0xffffff : time)); // timestamp or delta
    if (fmt <= 1) out.push(...u24(length), msg.typeId); // message length, type id
    if (fmt === 0) {
      const id = msg.streamId;
      out.push(id & 0xff, (id >>> 8) & 0xff, (id >>> 16) & 0xff, id >>> 24); // stream id, LE
    }
    if (extended) out.push(...u32(time));
    this.#headers.set(msg.csid, {
      timestamp: msg.timestamp,
      delta: time,
      length,
      typeId: msg.typeId,
      streamId: msg.streamId,
      extended,
    });
  }

  continueMessage(csid: number): void {
    const prev = this.#headers.get(csid)!;
    this.out.push(...basicHeader(3, csid));
    if (prev.extended) this.out.push(...u32(prev.delta));
  }

  /** Writes the next chunk body of `msg` from `sent`; returns the new count. */
  body(msg: RtmpMessage, sent: number): number {
    const n = Math.min(this.chunkSize, msg.payload.length - sent);
    for (let i = 0; i < n; i++) this.out.push(msg.payload[sent + i]!);
    return sent + n;
  }

  finished(msg: RtmpMessage): void {
    this.expected.push(msg);
    if (msg.typeId === MessageType.SET_CHUNK_SIZE) {
      this.chunkSize = new DataView(msg.payload.buffer).getUint32(0);
    }
  }

  /** Sends a whole message without interleaving anything. */
  sendWhole(msg: RtmpMessage): void {
    this.startMessage(msg);
    let sent = this.body(msg, 0);
    while (sent < msg.payload.length) {
      this.continueMessage(msg.csid);
      sent = this.body(msg, sent);
    }
    this.finished(msg);
  }
}

/** Interleaves `messages` chunk by chunk; messages on one chunk stream keep their order. */
function interleave(messages: RtmpMessage[], seed: number): ReferenceSender {
  const random = prng(seed);
  const sender = new ReferenceSender(random);
  const queues = new Map<number, RtmpMessage[]>();
  for (const msg of messages) {
    const queue = queues.get(msg.csid) ?? [];
    queue.push(msg);
    queues.set(msg.csid, queue);
  }
  const active = new Map<number, { msg: RtmpMessage; sent: number }>();
  for (;;) {
    const ready = [...queues.keys()].filter((c) => active.has(c) || queues.get(c)!.length > 0);
    if (ready.length === 0) break;
    const csid = ready[random(ready.length)]!;
    const current = active.get(csid);
    if (current === undefined) {
      const msg = queues.get(csid)!.shift()!;
      sender.startMessage(msg);
      const sent = sender.body(msg, 0);
      if (sent === msg.payload.length) sender.finished(msg);
      else active.set(csid, { msg, sent });
    } else if (csid !== 2 && !active.has(2) && random(8) === 0) {
      active.delete(csid);
      sender.sendWhole({
        csid: 2,
        typeId: MessageType.ABORT,
        streamId: 0,
        timestamp: 0,
        payload: abortPayload(csid),
      });
    } else {
      sender.continueMessage(csid);
      current.sent = sender.body(current.msg, current.sent);
      if (current.sent === current.msg.payload.length) {
        active.delete(csid);
        sender.finished(current.msg);
      }
    }
  }
  return sender;
}

// ---------------------------------------------------------------------------------------------
// Properties

Deno.test("ChunkReader reads back what ChunkWriter wrote, split anywhere", () => {
  fc.assert(
    fc.property(scenarioArb, chunkSizeArb, cutsArb, (scenario, firstChunkSize, cuts) => {
      const messages = messagesOf(scenario);
      const writer = new ChunkWriter();
      const sent: RtmpMessage[] = [
        {
          csid: 2,
          typeId: MessageType.SET_CHUNK_SIZE,
          streamId: 0,
          timestamp: 0,
          payload: setChunkSizePayload(firstChunkSize),
        },
        ...messages,
      ];
      const bytes = concatBytes(sent.map((m) => writer.write(m)));
      const reader = new ChunkReader();
      assert.deepEqual(readPieces(reader, split(bytes, cuts)), sent);
      assert.equal(reader.chunkSize, writer.chunkSize);
      assert.equal(reader.bufferedBytes, 0);
      assert.equal(reader.bytesReceived, bytes.length);
    }),
  );
});

Deno.test("ChunkReader reads compressed, interleaved and aborted chunk streams, split anywhere", () => {
  fc.assert(
    fc.property(scenarioArb, fc.integer(), cutsArb, (scenario, seed, cuts) => {
      const sender = interleave(messagesOf(scenario), seed);
      const bytes = Uint8Array.from(sender.out);
      const reader = new ChunkReader();
      assert.deepEqual(readPieces(reader, split(bytes, cuts)), sender.expected);
      assert.equal(reader.bufferedBytes, 0);
    }),
  );
});

const fuzzLimits = { maxMessageSize: 4096, maxBufferedBytes: 6000, maxChunkStreams: 8 };

/** Feeds `pieces` and checks that only protocol errors escape and memory stays bounded. */
function survive(pieces: Uint8Array[]): void {
  const reader = new ChunkReader(fuzzLimits);
  try {
    for (const piece of pieces) {
      reader.push(piece);
      assert.ok(reader.bufferedBytes <= fuzzLimits.maxBufferedBytes + MAX_HEADER_LENGTH);
      for (const msg of reader.drain()) {
        assert.ok(msg.payload.length <= fuzzLimits.maxMessageSize);
      }
    }
  } catch (e) {
    if (!(e instanceof RtmpProtocolError || e instanceof RangeError)) throw e;
    assert.ok(reader.bufferedBytes <= fuzzLimits.maxBufferedBytes + MAX_HEADER_LENGTH);
  }
}

Deno.test("ChunkReader.push() of random bytes throws only protocol errors", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000, size: "max" }), cutsArb, (bytes, cuts) => {
      survive(split(bytes, cuts));
    }),
  );
});

type Mutation =
  | { kind: "flip"; at: number; value: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; count: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    value: fc.nat(255),
  }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }),
  }),
  fc.record({
    kind: fc.constant("delete" as const),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    count: fc.integer({ min: 1, max: 20 }),
  }),
) as fc.Arbitrary<Mutation>;

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = [...bytes];
  for (const m of mutations) {
    const at = Math.floor(m.at * out.length);
    if (m.kind === "flip") out[at] = m.value;
    else if (m.kind === "insert") out = [...out.slice(0, at), ...m.bytes, ...out.slice(at)];
    else out.splice(at, m.count);
  }
  return Uint8Array.from(out);
}

Deno.test("ChunkReader.push() of mutated valid streams throws only protocol errors", () => {
  fc.assert(
    fc.property(
      scenarioArb,
      fc.integer(),
      fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
      cutsArb,
      (scenario, seed, mutations, cuts) => {
        const valid = Uint8Array.from(interleave(messagesOf(scenario), seed).out);
        survive(split(mutate(valid, mutations), cuts));
      },
    ),
  );
});
