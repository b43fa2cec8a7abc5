/**
 * `StreamLookup` against a real `MemoryRegistry` that counts its calls, on a clock the test
 * moves: how long answers are memoized, how concurrent lookups share one registry call,
 * how stream events clear the memo, and what callers get while the registry is down.
 */
import assert from "node:assert/strict";
import { quietLog } from "../../lib/common/testing/log.ts";
import { RegistryUnavailableError } from "@cascade/registry";
import { CountingRegistry, registryEvents, streamRecord } from "../testing/registry.ts";
import { StreamLookup } from "./lookup.ts";

const record = (name: string, originId = "o1") =>
  streamRecord(name, `http://${originId}:8081`, { originId });

interface Setup extends AsyncDisposable {
  registry: CountingRegistry;
  lookup: StreamLookup;
  clock: { now: number };
}

async function setup(): Promise<Setup> {
  const registry = new CountingRegistry({ log: quietLog });
  const clock = { now: 0 };
  const lookup = new StreamLookup({ registry, log: quietLog, clock: () => clock.now });
  await lookup.start();
  return {
    registry,
    lookup,
    clock,
    async [Symbol.asyncDispose]() {
      lookup.stop();
      await registry.close();
    },
  };
}

for (
  const { what, live, memoMs } of [
    { what: "a found record for at most 1 s", live: true, memoMs: 1000 },
    { what: "'not live' for at most 0.5 s", live: false, memoMs: 500 },
  ]
) {
  Deno.test(`StreamLookup.get() memoizes ${what}`, async () => {
    await using s = await setup();
    if (live) await s.registry.claimStream(record("cam"), 60_000);
    const expected = live ? "o1" : null;
    assert.equal((await s.lookup.get("cam"))?.originId ?? null, expected);
    s.clock.now = memoMs - 1;
    assert.equal((await s.lookup.get("cam"))?.originId ?? null, expected);
    assert.equal(s.registry.gets, 1);
    s.clock.now = memoMs;
    await s.lookup.get("cam");
    assert.equal(s.registry.gets, 2);
  });
}

Deno.test("StreamLookup.get() shares one registry call among concurrent lookups", async () => {
  await using s = await setup();
  await s.registry.claimStream(record("cam"), 60_000);
  const all = await Promise.all(Array.from({ length: 50 }, () => s.lookup.get("cam")));
  assert.equal(s.registry.gets, 1);
  assert.ok(all.every((r) => r?.name === "cam"));
});

Deno.test("StreamLookup forgets a memo at once on stream.up and stream.down", async () => {
  await using s = await setup();
  assert.equal(await s.lookup.get("cam"), null);
  await s.registry.claimStream(record("cam"), 60_000); // stream.up
  await registryEvents();
  assert.equal((await s.lookup.get("cam"))?.originId, "o1");
  await s.registry.releaseStream("cam", "o1"); // stream.down
  await registryEvents();
  assert.equal(await s.lookup.get("cam"), null);
  assert.equal(s.registry.gets, 3);
});

Deno.test("StreamLookup keeps the last known record while the registry is down", async () => {
  await using s = await setup();
  await s.registry.claimStream(record("cam"), 60_000);
  await s.lookup.get("cam");
  s.registry.setOnline(false);
  s.clock.now = 5000;
  assert.equal((await s.lookup.get("cam"))?.originId, "o1");
  await assert.rejects(s.lookup.get("other"), RegistryUnavailableError);
});

Deno.test("StreamLookup does not ask a failed registry again before retryMs", async () => {
  await using s = await setup();
  s.registry.setOnline(false);
  await assert.rejects(s.lookup.get("a"), RegistryUnavailableError);
  const calls = s.registry.gets;
  await assert.rejects(s.lookup.get("b"), RegistryUnavailableError);
  assert.equal(s.registry.gets, calls);
  s.clock.now = 1000;
  await assert.rejects(s.lookup.get("b"), RegistryUnavailableError);
  assert.equal(s.registry.gets, calls + 1);
});

Deno.test("StreamLookup clears its memo when the registry reconnects", async () => {
  await using s = await setup();
  await s.registry.claimStream(record("cam"), 60_000);
  await s.lookup.get("cam");
  s.registry.setOnline(false);
  // Missed while offline: the stream moved to another origin.
  s.registry.store.streams.set("cam", record("cam", "o2"), 60_000);
  s.registry.setOnline(true);
  assert.equal((await s.lookup.get("cam"))?.originId, "o2");
});

Deno.test("StreamLookup.refresh() asks again once for many callers that failed together", async () => {
  await using s = await setup();
  await s.registry.claimStream(record("cam"), 60_000);
  const since = s.lookup.now();
  await s.lookup.get("cam");
  assert.equal(s.registry.gets, 1);
  s.clock.now = 10;
  const again = await Promise.all(Array.from({ length: 20 }, () => s.lookup.refresh("cam", since)));
  assert.equal(s.registry.gets, 2);
  assert.ok(again.every((r) => r?.originId === "o1"));
  // A refresh asked for by a failure that began before that answer reuses it too.
  await s.lookup.refresh("cam", since);
  assert.equal(s.registry.gets, 2);
});

Deno.test("StreamLookup ignores an answer that arrives after the name was invalidated", async () => {
  await using s = await setup();
  await s.registry.claimStream(record("cam"), 60_000);
  const pending = s.lookup.get("cam");
  s.lookup.invalidate("cam");
  await pending;
  await s.lookup.get("cam");
  assert.equal(s.registry.gets, 2);
});
