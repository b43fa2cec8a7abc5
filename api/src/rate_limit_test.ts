import assert from "node:assert/strict";
import { FailureLimiter } from "./rate_limit.ts";

Deno.test("FailureLimiter blocks a key after `limit` failures for one window", () => {
  let now = 1000;
  const limiter = new FailureLimiter({ limit: 3, windowMs: 10_000, now: () => now });
  limiter.fail("a");
  limiter.fail("a");
  assert.equal(limiter.retryAfterMs("a"), 0);
  limiter.fail("a");
  assert.equal(limiter.retryAfterMs("a"), 10_000);
  assert.equal(limiter.retryAfterMs("b"), 0, "other keys are not affected");
  now += 9_999;
  assert.equal(limiter.retryAfterMs("a"), 1);
  now += 1;
  assert.equal(limiter.retryAfterMs("a"), 0);
  limiter.fail("a");
  assert.equal(limiter.retryAfterMs("a"), 0, "a new window starts from zero");
});

Deno.test("FailureLimiter forgets failures older than the window", () => {
  let now = 0;
  const limiter = new FailureLimiter({ limit: 2, windowMs: 1000, now: () => now });
  limiter.fail("a");
  now = 1000;
  limiter.fail("a");
  assert.equal(limiter.retryAfterMs("a"), 0);
  now = 1500;
  limiter.fail("a");
  assert.equal(limiter.retryAfterMs("a"), 1000);
});

Deno.test("FailureLimiter stays within maxEntries, dropping expired and then oldest keys", () => {
  let now = 0;
  const limiter = new FailureLimiter({ limit: 1, windowMs: 1000, maxEntries: 3, now: () => now });
  limiter.fail("a");
  limiter.fail("b");
  limiter.fail("c");
  limiter.fail("d");
  assert.equal(limiter.size, 3);
  assert.equal(limiter.retryAfterMs("a"), 0, "the oldest key was dropped");
  assert.ok(limiter.retryAfterMs("d") > 0);
  now = 5000;
  limiter.fail("e");
  assert.equal(limiter.size, 1, "expired keys are dropped first");
  for (let i = 0; i < 1000; i++) limiter.fail(`k${i}`);
  assert.equal(limiter.size, 3);
  assert.equal(limiter.retryAfterMs("k997"), 1000, "the newest keys are kept");
  assert.equal(limiter.retryAfterMs("k996"), 0);
});

Deno.test("FailureLimiter rejects nonsense options", () => {
  assert.throws(() => new FailureLimiter({ limit: 0, windowMs: 1 }), RangeError);
  assert.throws(() => new FailureLimiter({ limit: 1.5, windowMs: 1 }), RangeError);
  assert.throws(() => new FailureLimiter({ limit: 1, windowMs: 0 }), RangeError);
});
