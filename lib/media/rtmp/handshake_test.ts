/**
 * Tests for the server handshake state machine: the S0+S1+S2 layout, waiting for C2, handing
 * on the bytes after it, identical results for every way the client bytes can be split, and
 * rejection of versions other than 3.
 */

import assert from "node:assert/strict";
import { HANDSHAKE_SIZE, RTMP_VERSION, ServerHandshake } from "./handshake.ts";
import { RtmpProtocolError } from "./messages.ts";
import { concatBytes } from "../bytes.ts";

function filled(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

const c1 = filled(HANDSHAKE_SIZE, 1);
const c2 = filled(HANDSHAKE_SIZE, 2);
const firstChunks = new Uint8Array([0x03, 0, 0, 0, 0, 0, 5, 20, 0, 0, 0, 0]);
const client = concatBytes([new Uint8Array([RTMP_VERSION]), c1, c2, firstChunks]);

function handshake(): ServerHandshake {
  return new ServerHandshake({ time: 0x01020304, random: (b) => b.fill(0xab) });
}

interface Outcome {
  output: Uint8Array;
  done: boolean;
  rest: Uint8Array;
}

/** Pushes `pieces` in order and gathers everything the handshake returned. */
function run(pieces: Uint8Array[]): Outcome {
  const hs = handshake();
  const output: Uint8Array[] = [];
  const rest: Uint8Array[] = [];
  let done = false;
  for (const piece of pieces) {
    const step = hs.push(piece);
    if (step.output) output.push(step.output);
    if (step.rest) rest.push(step.rest);
    assert.ok(!done || step.done, "done never goes back to false");
    done = step.done;
  }
  assert.ok(output.length <= 1, "S0+S1+S2 is sent once");
  return { output: concatBytes(output), done, rest: concatBytes(rest) };
}

Deno.test("ServerHandshake.push() answers C0+C1 with S0+S1+S2", () => {
  const { output, done, rest } = run([client]);
  assert.equal(output.length, 1 + 2 * HANDSHAKE_SIZE);
  assert.equal(output[0], 3, "S0 version");
  assert.deepEqual(output.subarray(1, 5), new Uint8Array([1, 2, 3, 4]), "S1 time");
  assert.deepEqual(output.subarray(5, 9), new Uint8Array(4), "S1 zero");
  assert.ok(output.subarray(9, 1 + HANDSHAKE_SIZE).every((b) => b === 0xab), "S1 random");
  assert.deepEqual(output.subarray(1 + HANDSHAKE_SIZE), c1, "S2 echoes C1");
  assert.ok(done);
  assert.deepEqual(rest, firstChunks);
});

Deno.test("ServerHandshake.push() waits for C2 before reporting done", () => {
  const hs = handshake();
  const first = hs.push(client.subarray(0, 1 + HANDSHAKE_SIZE));
  assert.ok(first.output);
  assert.equal(first.done, false);
  assert.equal(first.rest, null);
  const almost = hs.push(client.subarray(1 + HANDSHAKE_SIZE, 1 + 2 * HANDSHAKE_SIZE - 1));
  assert.deepEqual(almost, { output: null, done: false, rest: null });
  assert.deepEqual(hs.push(client.subarray(2 * HANDSHAKE_SIZE, 1 + 2 * HANDSHAKE_SIZE)), {
    output: null,
    done: true,
    rest: null,
  });
  assert.ok(hs.done);
});

Deno.test("ServerHandshake.push() gives the same result for a split at every byte", () => {
  const whole = run([client]);
  for (let at = 0; at <= client.length; at++) {
    assert.deepEqual(run([client.subarray(0, at), client.subarray(at)]), whole, `split at ${at}`);
  }
});

Deno.test("ServerHandshake.push() gives the same result one byte at a time", () => {
  const pieces = Array.from(client, (_, i) => client.subarray(i, i + 1));
  assert.deepEqual(run(pieces), run([client]));
});

Deno.test("ServerHandshake.push() passes bytes after completion through as rest", () => {
  const hs = handshake();
  hs.push(client.subarray(0, 1 + 2 * HANDSHAKE_SIZE));
  assert.deepEqual(hs.push(firstChunks), { output: null, done: true, rest: firstChunks });
  assert.deepEqual(hs.push(new Uint8Array(0)), { output: null, done: true, rest: null });
});

Deno.test("ServerHandshake.push() rejects versions other than 3", () => {
  assert.throws(
    () => handshake().push(new Uint8Array([6, 0, 0])),
    new RtmpProtocolError(
      "Cannot parse handshake: unsupported RTMP version 6 (RTMPE encryption is not supported)",
    ),
  );
  for (const version of [0, 1, 2, 4, 8, 0x47, 0xff]) {
    assert.throws(() => handshake().push(new Uint8Array([version])), RtmpProtocolError);
  }
});

Deno.test("ServerHandshake fills S1 with random bytes by default", () => {
  const a = new ServerHandshake().push(client).output!;
  const b = new ServerHandshake().push(client).output!;
  assert.notDeepEqual(a.subarray(9, 1 + HANDSHAKE_SIZE), b.subarray(9, 1 + HANDSHAKE_SIZE));
});
