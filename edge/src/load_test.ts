import assert from "node:assert/strict";
import { LoadMeter } from "./load.ts";

Deno.test("LoadMeter estimates viewers from segment seconds served per second", () => {
  const clock = { now: 0 };
  const meter = new LoadMeter(10, () => clock.now);
  // 30 viewers of 2 s segments: 15 segment fetches per second.
  for (let s = 0; s < 10; s++) {
    clock.now = s * 1000 + 500;
    for (let i = 0; i < 15; i++) meter.segment(2);
  }
  clock.now = 10_000;
  assert.equal(meter.viewers(), 30);
  clock.now = 9_999;
  assert.equal(meter.viewers(), 30);
});

Deno.test("LoadMeter reports egress bits per second over the window and forgets old seconds", () => {
  const clock = { now: 0 };
  const meter = new LoadMeter(10, () => clock.now);
  for (let s = 0; s < 10; s++) {
    clock.now = s * 1000;
    meter.sent(125_000);
  }
  clock.now = 10_000;
  assert.equal(meter.egressBitsPerSecond(), 1_000_000); // second 0 has left the window
  clock.now = 60_000;
  assert.equal(meter.egressBitsPerSecond(), 0);
  assert.equal(meter.viewers(), 0);
});

Deno.test("LoadMeter divides by the time counted so far while younger than its window", () => {
  const clock = { now: 0 };
  const meter = new LoadMeter(10, () => clock.now);
  meter.sent(1000);
  clock.now = 2000;
  assert.equal(meter.egressBitsPerSecond(), 4000);
});
