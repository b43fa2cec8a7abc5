import assert from "node:assert/strict";
import type { AvcConfig } from "@cascade/media/frame";
import { keyframeToAnnexB } from "./annexb.ts";

function config(nalLengthSize: number): AvcConfig {
  return {
    profile: 0x64,
    compatibility: 0,
    level: 0x1f,
    nalLengthSize,
    sps: [new Uint8Array([0x67, 1, 2])],
    pps: [new Uint8Array([0x68, 3])],
    record: new Uint8Array(),
  };
}

Deno.test("keyframeToAnnexB() puts SPS and PPS first and start codes before every unit", () => {
  // An AUD (type 9), an SEI (6) and an IDR slice (5), each after a 4-byte length.
  const avcc = new Uint8Array([
    ...[0, 0, 0, 2, 0x09, 0xf0],
    ...[0, 0, 0, 2, 0x06, 0x05],
    ...[0, 0, 0, 3, 0x65, 0x88, 0x84],
  ]);
  assert.deepEqual(
    [...keyframeToAnnexB(config(4), avcc)],
    [
      ...[0, 0, 0, 1, 0x67, 1, 2],
      ...[0, 0, 0, 1, 0x68, 3],
      ...[0, 0, 0, 1, 0x06, 0x05],
      ...[0, 0, 0, 1, 0x65, 0x88, 0x84],
    ],
  );
});

Deno.test("keyframeToAnnexB() reads the record's NAL length size", () => {
  const avcc = new Uint8Array([0, 2, 0x65, 0x88]);
  assert.deepEqual(
    [...keyframeToAnnexB(config(2), avcc)].slice(-6),
    [0, 0, 0, 1, 0x65, 0x88],
  );
});

Deno.test("keyframeToAnnexB() refuses a frame whose length runs past its end", () => {
  assert.throws(() => keyframeToAnnexB(config(4), new Uint8Array([0, 0, 0, 9, 0x65])), SyntaxError);
});
