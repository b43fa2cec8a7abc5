import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import type { StreamRecord, VodRecord } from "@cascade/registry/types";
import { broadcastKey, ByteLru, cacheKey, Coalescer, vodBroadcastKey } from "./cache.ts";

const bySize = (_key: string, value: number) => value;

function record(over: Partial<StreamRecord> = {}): StreamRecord {
  return {
    name: "cam",
    originId: "o1",
    originUrl: "http://10.0.0.1:8081",
    manifest: "http://10.0.0.1:8081/live/cam/index.m3u8",
    startedAt: 1000,
    updatedAt: 1000,
    targetDuration: 2,
    mediaSequence: 1,
    ...over,
  };
}

Deno.test("ByteLru.set() evicts least recently used entries until the new one fits", () => {
  const lru = new ByteLru<number>(100, bySize);
  lru.set("a", 40);
  lru.set("b", 40);
  lru.get("a"); // a is now more recent than b
  lru.set("c", 40);
  assert.deepEqual([...lru.keys()], ["a", "c"]);
  assert.equal(lru.bytes, 80);
  assert.equal(lru.evictions, 1);
});

Deno.test("ByteLru.set() refuses a value larger than the whole budget and keeps the rest", () => {
  const lru = new ByteLru<number>(100, bySize);
  lru.set("a", 60);
  assert.equal(lru.set("huge", 101), false);
  assert.equal(lru.peek("a"), 60);
  assert.equal(lru.has("huge"), false);
});

Deno.test("ByteLru.set() replacing a key charges only the new size", () => {
  const lru = new ByteLru<number>(100, bySize);
  lru.set("a", 60);
  lru.set("a", 30);
  assert.equal(lru.bytes, 30);
  assert.equal(lru.size, 1);
});

Deno.test("ByteLru.peek() does not change recency", () => {
  const lru = new ByteLru<number>(100, bySize);
  lru.set("a", 50);
  lru.set("b", 50);
  lru.peek("a");
  lru.set("c", 50);
  assert.equal(lru.has("a"), false);
  assert.equal(lru.has("b"), true);
});

Deno.test("ByteLru never holds more bytes than its budget, and counts exactly what it holds", () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant("set" as const), key: fc.nat(20), size: fc.nat(120) }),
    fc.record({ kind: fc.constant("get" as const), key: fc.nat(20) }),
    fc.record({ kind: fc.constant("delete" as const), key: fc.nat(20) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
    const lru = new ByteLru<number>(100, bySize);
    for (const o of ops) {
      const key = String(o.key);
      if (o.kind === "set") lru.set(key, o.size);
      else if (o.kind === "get") lru.get(key);
      else lru.delete(key);
      assert.ok(lru.bytes <= lru.maxBytes);
      let sum = 0;
      for (const k of lru.keys()) sum += lru.peek(k)!;
      assert.equal(lru.bytes, sum);
    }
  }));
});

Deno.test("cacheKey() differs for another origin, another origin URL or another broadcast", () => {
  const key = (over: Partial<StreamRecord> = {}) => cacheKey(broadcastKey(record(over)), "5.ts");
  const base = key();
  assert.notEqual(key({ originId: "o2" }), base);
  assert.notEqual(key({ originUrl: "http://10.0.0.2:8081" }), base);
  assert.notEqual(key({ startedAt: 2000 }), base);
  assert.notEqual(key({ name: "cam2" }), base);
  assert.equal(key({ updatedAt: 5000, mediaSequence: 9 }), base);
});

Deno.test("cacheKey() of a VOD differs per origin and playlist write, and from every live key", () => {
  const vod: VodRecord = {
    name: "cam",
    originId: "o1",
    originUrl: "http://10.0.0.1:8081",
    manifest: "http://10.0.0.1:8081/live/cam/vod.m3u8",
    updatedAt: 1000,
    targetDuration: 2,
  };
  const key = (over: Partial<VodRecord> = {}) =>
    cacheKey(vodBroadcastKey({ ...vod, ...over }), "5.ts");
  const base = key();
  assert.notEqual(key({ originId: "o2" }), base);
  assert.notEqual(key({ originUrl: "http://10.0.0.2:8081" }), base);
  assert.notEqual(key({ updatedAt: 2000 }), base);
  assert.equal(key({ targetDuration: 6 }), base);
  // The live broadcast whose start equals the VOD's write time still has its own entries.
  assert.notEqual(cacheKey(broadcastKey(record()), "5.ts"), base);
});

Deno.test("Coalescer.run() gives concurrent callers one operation and marks one leader", async () => {
  const c = new Coalescer<number>();
  let calls = 0;
  let release!: (n: number) => void;
  const op = () => {
    calls++;
    return new Promise<number>((resolve) => (release = resolve));
  };
  const joined = Array.from({ length: 100 }, () => c.run("k", op));
  assert.equal(calls, 1);
  assert.equal(c.size, 1);
  assert.equal(joined.filter((j) => j.leader).length, 1);
  release(42);
  assert.deepEqual(await Promise.all(joined.map((j) => j.promise)), Array(100).fill(42));
  assert.equal(c.size, 0);
});

Deno.test("Coalescer.run() shares a failure with the waiters and forgets it", async () => {
  const c = new Coalescer<number>();
  let calls = 0;
  const failing = () => {
    calls++;
    return Promise.reject(new Error("origin down"));
  };
  const a = c.run("k", failing);
  const b = c.run("k", failing);
  await assert.rejects(a.promise, /origin down/);
  await assert.rejects(b.promise, /origin down/);
  assert.equal(calls, 1);
  const again = c.run("k", () => Promise.resolve(7));
  assert.equal(again.leader, true);
  assert.equal(await again.promise, 7);
});

Deno.test("Coalescer.run() forgets a flight only after its operation has stored the result", async () => {
  const c = new Coalescer<number>();
  const store = new Map<string, number>();
  const joined = c.run("k", async () => {
    await Promise.resolve();
    store.set("k", 1);
    return 1;
  });
  await joined.promise;
  // Whoever comes after the flight finds the stored value.
  assert.equal(store.get("k"), 1);
  assert.equal(c.size, 0);
});

Deno.test("Coalescer.run() runs a synchronous throw as a shared rejection", async () => {
  const c = new Coalescer<number>();
  const j = c.run("k", () => {
    throw new TypeError("bad");
  });
  await assert.rejects(j.promise, TypeError);
  assert.equal(c.size, 0);
});
