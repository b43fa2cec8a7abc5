import assert from "node:assert/strict";
import { DEFAULT_HOLD_MARGIN_MS, holdTimeoutMs, maxAgeSeconds } from "./origin_fetch.ts";

Deno.test("holdTimeoutMs() outlasts the origin's hold of 3 target durations by the margin", () => {
  assert.equal(holdTimeoutMs(3, DEFAULT_HOLD_MARGIN_MS), 11_000);
  assert.equal(holdTimeoutMs(10, 500), 30_500);
  // No target known: the longest one an origin may learn.
  assert.equal(holdTimeoutMs(0, 2000), 38_000);
});

Deno.test("maxAgeSeconds() reads max-age and refuses what must not be stored", () => {
  assert.equal(maxAgeSeconds("public, max-age=60"), 60);
  assert.equal(maxAgeSeconds("max-age=1,public"), 1);
  assert.equal(maxAgeSeconds('public, s-maxage=5, max-age="30"'), 30);
  assert.equal(maxAgeSeconds("public"), 0);
  assert.equal(maxAgeSeconds("no-store"), 0);
  assert.equal(maxAgeSeconds("private, max-age=60"), 0);
  assert.equal(maxAgeSeconds("no-cache, max-age=60"), 0);
  assert.equal(maxAgeSeconds(null), 0);
});
