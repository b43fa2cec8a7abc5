/**
 * Origins claiming one stream at the same moment, through the `Registry` interface alone: of N
 * concurrent `claimStream` calls for one name from N origins exactly one succeeds, every other
 * caller is told that origin owns it, the stored record is the winner's and exactly one
 * `stream.up` is published. The same holds when the claim is released and the race runs again.
 * Run on `MemoryRegistry` (N clients of one store) and on `RedisRegistry` (N connections to a
 * real redis-server, so the claims meet on the server).
 */
import assert from "node:assert/strict";
import { captureLog } from "../../tests/helpers/log.ts";
import { startRedis } from "../../tests/helpers/redis.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { MemoryRegistry, MemoryStore } from "./memory.ts";
import { RedisRegistry } from "./redis.ts";
import { streamRecord } from "./testing/records.ts";
import type { ClaimResult, Registry, RegistryEvent } from "./types.ts";

/** Origins racing for each name. */
const CONTENDERS = 8;
/** Names raced for, one after another; each is raced twice (before and after a release). */
const ROUNDS = 10;
const TTL_MS = 60_000;

interface Backend extends AsyncDisposable {
  /** A new client of the same store, as another origin process would have. */
  open(): Registry;
}

function memoryBackend(): Promise<Backend> {
  const store = new MemoryStore();
  const log = captureLog();
  return Promise.resolve({
    open: () => new MemoryRegistry({ store, log }),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  });
}

async function redisBackend(): Promise<Backend> {
  const server = await startRedis();
  const log = captureLog();
  return {
    open: () => new RedisRegistry({ url: server.url, prefix: "race:", log }),
    [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
  };
}

/** Every contender claims `name` at once; returns the winner after checking the answers. */
async function race(origins: Registry[], name: string): Promise<string> {
  const ids = origins.map((_, i) => `origin-${i}`);
  const results: ClaimResult[] = await Promise.all(
    origins.map((o, i) => o.claimStream(streamRecord(name, ids[i]!), TTL_MS)),
  );
  const winners = ids.filter((_, i) => results[i]!.ok);
  assert.equal(winners.length, 1, `one winner for ${name}: ${JSON.stringify(results)}`);
  const winner = winners[0]!;
  results.forEach((r, i) => {
    if (ids[i] === winner) assert.deepEqual(r, { ok: true, created: true });
    else {
      assert.equal(r.ok, false);
      assert.equal(r.owner, winner, `${ids[i]} is told who owns ${name}`);
      assert.equal(r.current?.originId, winner);
    }
  });
  return winner;
}

for (
  const [backendName, makeBackend] of [["MemoryRegistry", memoryBackend], [
    "RedisRegistry",
    redisBackend,
  ]] as const
) {
  Deno.test(`${backendName}: concurrent claimStream() calls for one name yield exactly one owner`, async () => {
    await using backend = await makeBackend();
    const origins = Array.from({ length: CONTENDERS }, () => backend.open());
    const observer = backend.open();
    try {
      const events: RegistryEvent[] = [];
      await observer.subscribe((e) => events.push(e));
      // Every client talks to the store once first, so connecting does not order the claims.
      await Promise.all([...origins, observer].map((r) => r.getStream("warmup")));

      const winners = new Map<string, string[]>();
      for (let round = 0; round < ROUNDS; round++) {
        const name = `cam${round}`;
        const first = await race(origins, name);
        assert.equal((await observer.getStream(name))?.originId, first);
        const owner = origins[Number(first.split("-")[1])]!;
        assert.equal(await owner.releaseStream(name, first), true);
        const second = await race(origins, name);
        assert.equal((await observer.getStream(name))?.originId, second);
        winners.set(name, [first, second]);
      }

      // Events arrive in the order they were published: once this one is in, all are.
      await origins[0]!.claimStream(streamRecord("sentinel", "origin-0"), TTL_MS);
      await waitFor(
        "the sentinel's stream.up",
        () => events.some((e) => e.type === "stream.up" && e.name === "sentinel"),
        {
          timeoutMs: 10_000,
        },
      );
      for (const [name, [first, second]] of winners) {
        const ups = events.filter((e) => e.type === "stream.up" && e.name === name);
        assert.deepEqual(
          ups.map((e) => e.originId),
          [first, second],
          `one stream.up per race for ${name}`,
        );
      }
      assert.equal((await observer.listStreams()).length, ROUNDS + 1);
    } finally {
      await Promise.all([...origins, observer].map((r) => r.close()));
    }
  });
}
