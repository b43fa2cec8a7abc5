import assert from "node:assert/strict";
import { processUsageSampler } from "./process_usage.ts";

Deno.test("processUsageSampler() reports CPU time over wall time since the previous sample", () => {
  let at = 0;
  let cpu = 0;
  const sample = processUsageSampler(() => at, () => cpu, () => 1234);
  at = 2000;
  cpu = 500_000; // half a second of CPU in two seconds
  assert.deepEqual(sample(), { cpu: 0.25, rss: 1234 });
  at = 3000;
  cpu = 1_500_000; // a whole core for the last second
  assert.deepEqual(sample(), { cpu: 1, rss: 1234 });
  assert.deepEqual(sample(), { cpu: 0, rss: 1234 }, "no time passed");
});

Deno.test("processUsageSampler() measures this process's real CPU and memory", () => {
  const sample = processUsageSampler();
  const until = performance.now() + 50;
  let spin = 0;
  while (performance.now() < until) spin++;
  const usage = sample();
  assert.ok(spin > 0);
  assert.ok(usage.cpu > 0.2 && usage.cpu < 4, `busy loop: ${usage.cpu} of a core`);
  assert.ok(usage.rss > 1024 * 1024, `rss ${usage.rss}`);
});
