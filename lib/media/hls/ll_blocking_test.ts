import assert from "node:assert/strict";
import {
  advancePartLimit,
  decideBlocking,
  type LlDirectives,
  type LlPosition,
  parseLlDirectives,
} from "./ll_blocking.ts";

/** Segments 100..104 complete with 7 parts each; segment 105 has `parts` parts so far. */
function at(parts: number, ended = false): LlPosition {
  return {
    sequence: 105,
    part: parts,
    ended,
    partsOf: (s) => (s >= 100 && s < 105 ? 7 : undefined),
  };
}

const q = (query: string) => parseLlDirectives(new URLSearchParams(query));
const decide = (query: string, position = at(3)) =>
  decideBlocking(q(query), position, 0.333).action;

Deno.test("parseLlDirectives() reads msn, part and skip", () => {
  assert.deepEqual(q(""), { skip: false });
  assert.deepEqual(q("_HLS_msn=5&_HLS_part=2&_HLS_skip=YES"), { msn: 5, part: 2, skip: true });
  assert.deepEqual<LlDirectives>(q("token=x&_HLS_skip=v2"), { skip: true });
});

Deno.test("parseLlDirectives() refuses non-integers and a part without msn (400)", () => {
  for (
    const bad of [
      "_HLS_msn=1.5",
      "_HLS_msn=-1",
      "_HLS_msn=",
      "_HLS_msn=x",
      "_HLS_msn=1&_HLS_part=a",
      "_HLS_part=1",
      "_HLS_skip=NO",
    ]
  ) {
    assert.throws(() => q(bad), SyntaxError, bad);
  }
});

Deno.test("decideBlocking(): a part in the playlist, or a complete segment, is answered at once", () => {
  assert.equal(decide("_HLS_msn=105&_HLS_part=2"), "answer");
  assert.equal(decide("_HLS_msn=104&_HLS_part=6"), "answer");
  assert.equal(decide("_HLS_msn=104"), "answer");
  assert.equal(
    decide("_HLS_msn=3&_HLS_part=0"),
    "answer",
    "long gone from the window: still answered",
  );
  assert.equal(decide(""), "answer");
});

Deno.test("decideBlocking(): the next part, or the next segment, waits", () => {
  assert.equal(decide("_HLS_msn=105&_HLS_part=3"), "wait");
  assert.equal(decide("_HLS_msn=105&_HLS_part=5"), "wait");
  assert.equal(decide("_HLS_msn=106&_HLS_part=0"), "wait");
  assert.equal(decide("_HLS_msn=107"), "wait", "two segments ahead is still allowed");
});

Deno.test("decideBlocking(): msn without part means part 0 (as Safari sends it)", () => {
  assert.equal(decide("_HLS_msn=105", at(0)), "wait");
  assert.equal(decide("_HLS_msn=105", at(1)), "answer");
});

Deno.test("decideBlocking(): a part past the last of a complete segment is part 0 of the next", () => {
  assert.equal(decide("_HLS_msn=104&_HLS_part=7", at(0)), "wait");
  assert.equal(decide("_HLS_msn=104&_HLS_part=7", at(1)), "answer");
  assert.equal(decide("_HLS_msn=103&_HLS_part=9", at(0)), "answer", "104 is complete");
});

Deno.test("decideBlocking(): too far ahead is rejected at once (400)", () => {
  assert.equal(decide("_HLS_msn=108"), "reject", "more than two segments after the last");
  assert.equal(decide("_HLS_msn=107", at(0)), "reject", "the last listed segment is 104");
  assert.equal(decide("_HLS_msn=105&_HLS_part=11"), "wait", "9 parts ahead of part 2 is the limit");
  assert.equal(decide("_HLS_msn=105&_HLS_part=12"), "reject");
  assert.equal(decide("_HLS_msn=106&_HLS_part=9"), "reject");
  assert.ok(Math.abs(advancePartLimit(0.333) - 9.009) < 0.001);
  assert.equal(advancePartLimit(1), 3);
});

Deno.test("decideBlocking(): an ended playlist ignores the directives", () => {
  assert.equal(decide("_HLS_msn=105&_HLS_part=3", at(3, true)), "answer");
  assert.equal(decide("_HLS_msn=200", at(3, true)), "answer");
});
