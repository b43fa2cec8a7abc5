import assert from "node:assert/strict";
import { Redis } from "../../tests/helpers/ioredis.ts";
import { startRedis } from "../../tests/helpers/redis.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { quietLog } from "../common/testing/log.ts";
import { type ContractBackend, registryContract } from "./testing/contract.ts";
import { streamRecord, vodRecord } from "./testing/records.ts";
import { RegistryUnavailableError } from "./errors.ts";
import { RedisRegistry } from "./redis.ts";

async function redisBackend(): Promise<ContractBackend> {
  const server = await startRedis();
  return {
    open: () => new RedisRegistry({ url: server.url, prefix: "contract:", log: quietLog }),
    outage: () => server.kill(),
    recover: () => server.restart(),
    dispose: () => server[Symbol.asyncDispose](),
  };
}

registryContract("RedisRegistry", redisBackend);

/** A raw ioredis connection for looking at what the registry wrote. */
async function raw(url: string): Promise<AsyncDisposable & { redis: Redis }> {
  const redis = new Redis(url, { lazyConnect: true });
  await redis.connect();
  return {
    redis,
    async [Symbol.asyncDispose]() {
      await redis.quit();
    },
  };
}

Deno.test("RedisRegistry writes the keys of docs/architecture.md under its prefix", async () => {
  await using server = await startRedis();
  await using conn = await raw(server.url);
  const registry = new RedisRegistry({ url: server.url, prefix: "p1:", log: quietLog });
  const other = new RedisRegistry({ url: server.url, log: quietLog });
  try {
    const record = streamRecord("cam1", "o1");
    await registry.claimStream(record, 5000);
    await registry.announceNode({
      id: "o1",
      kind: "origin",
      url: "http://o1",
      region: "eu",
      load: 0,
      startedAt: 1,
    });
    await registry.announceNode({
      id: "e1",
      kind: "edge",
      url: "http://e1",
      region: "eu",
      load: 3,
      startedAt: 1,
    }, 4000);
    const vod = vodRecord("cam0", "o1");
    await registry.announceVod(vod, 6000);
    const keyHash = "ab".repeat(32);
    await registry.putStreamConfig({
      name: "cam1",
      keyHash,
      createdAt: 1234,
      disabled: true,
      record: false,
    });

    const keys = (await conn.redis.keys("*")).sort();
    assert.deepEqual(keys, [
      `p1:key:${keyHash}`,
      "p1:node:edge:e1",
      "p1:node:origin:o1",
      "p1:stream:cam1",
      "p1:streamcfg:cam1",
      "p1:vod:cam0",
    ]);
    assert.deepEqual(JSON.parse((await conn.redis.get("p1:vod:cam0"))!), vod);
    const vodTtl = await conn.redis.pttl("p1:vod:cam0");
    assert.ok(vodTtl > 5000 && vodTtl <= 6000, `vod TTL ${vodTtl}`);
    assert.deepEqual(JSON.parse((await conn.redis.get("p1:stream:cam1"))!), record);
    const streamTtl = await conn.redis.pttl("p1:stream:cam1");
    assert.ok(streamTtl > 4000 && streamTtl <= 5000, `stream TTL ${streamTtl}`);
    const nodeTtl = await conn.redis.pttl("p1:node:origin:o1");
    assert.ok(nodeTtl > 9000 && nodeTtl <= 10_000, `node TTL ${nodeTtl}`);
    const edgeTtl = await conn.redis.pttl("p1:node:edge:e1");
    assert.ok(edgeTtl > 3000 && edgeTtl <= 4000, `edge TTL ${edgeTtl}`);
    assert.equal(JSON.parse((await conn.redis.get("p1:node:edge:e1"))!).load, 3);
    assert.deepEqual(await conn.redis.hgetall("p1:streamcfg:cam1"), {
      keyHash,
      createdAt: "1234",
      disabled: "1",
      record: "0",
    });
    assert.equal(await conn.redis.pttl("p1:streamcfg:cam1"), -1, "configs are persistent");
    assert.equal(await conn.redis.pttl(`p1:key:${keyHash}`), -1);
    assert.equal(await conn.redis.get(`p1:key:${keyHash}`), "cam1");

    // Another prefix is another registry.
    assert.deepEqual(await other.listStreams(), []);
    assert.equal(await other.getStreamConfig("cam1"), null);
    assert.equal((await other.claimStream(streamRecord("cam1", "o2"), 5000)).ok, true);
    assert.equal((await conn.redis.keys("cascade:*")).length, 1);
  } finally {
    await registry.close();
    await other.close();
  }
});

Deno.test("RedisRegistry publishes lifecycle events on {prefix}events and all of a stream's on {prefix}events:{name}", async () => {
  await using server = await startRedis();
  await using conn = await raw(server.url);
  const registry = new RedisRegistry({ url: server.url, prefix: "p1:", log: quietLog });
  try {
    const messages: [string, string][] = [];
    conn.redis.on(
      "message",
      (channel: string, message: string) => messages.push([channel, message]),
    );
    await conn.redis.subscribe("p1:events", "p1:events:cam1");
    await registry.claimStream(streamRecord("cam1", "o1"), 5000);
    await registry.claimStream(streamRecord("cam1", "o1", { updatedAt: 2 }), 5000);
    await registry.releaseStream("cam1", "o1");
    await waitFor("five messages", () => messages.length === 5);
    assert.deepEqual(messages.map(([channel, m]) => [channel, JSON.parse(m).type]), [
      ["p1:events", "stream.up"],
      ["p1:events:cam1", "stream.up"],
      ["p1:events:cam1", "stream.update"],
      ["p1:events", "stream.down"],
      ["p1:events:cam1", "stream.down"],
    ]);
    const [up, , update, down] = messages.map(([, m]) => JSON.parse(m));
    assert.deepEqual({ ...up, at: 0 }, { type: "stream.up", name: "cam1", originId: "o1", at: 0 });
    assert.equal(update.updatedAt, 2);
    assert.equal(down.type, "stream.down");
    assert.equal(typeof down.at, "number");
  } finally {
    await registry.close();
  }
});

Deno.test("RedisRegistry ignores foreign and malformed messages on the events channels", async () => {
  await using server = await startRedis();
  await using conn = await raw(server.url);
  const registry = new RedisRegistry({ url: server.url, prefix: "p1:", log: quietLog });
  try {
    const seen: string[] = [];
    await registry.subscribe((e) => seen.push(`${e.type}:${e.name}`));
    await registry.subscribeStream("cam1", (e) => seen.push(`own ${e.type}:${e.name}`));
    await conn.redis.publish("p1:events", "not json");
    await conn.redis.publish("p1:events", JSON.stringify({ type: "stream.exploded", name: "x" }));
    const elsewhere = { type: "stream.kick", name: "cam2", originId: "", at: 1 };
    await conn.redis.publish("p1:events:cam1", JSON.stringify(elsewhere));
    await conn.redis.set("p2:stream:other", "{}", "PX", 20);
    await registry.kickStream("cam1");
    await waitFor("the kick", () => seen.length === 2);
    assert.deepEqual(seen, ["stream.kick:cam1", "own stream.kick:cam1"]);
  } finally {
    await registry.close();
  }
});

Deno.test("RedisRegistry subscribes to a stream's channel only while someone listens to it", async () => {
  await using server = await startRedis();
  await using conn = await raw(server.url);
  const registry = new RedisRegistry({ url: server.url, prefix: "p1:", log: quietLog });
  try {
    const channels = async () => ((await conn.redis.pubsub("CHANNELS", "p1:*")) as string[]).sort();
    const first = await registry.subscribeStream("cam1", () => {});
    const second = await registry.subscribeStream("cam1", () => {});
    await registry.subscribeStream("cam2", () => {});
    assert.deepEqual(await channels(), ["p1:events:cam1", "p1:events:cam2"]);
    first();
    assert.deepEqual(await channels(), ["p1:events:cam1", "p1:events:cam2"]);
    second();
    await waitFor("cam1's channel to go", async () => (await channels()).length === 1);
    assert.deepEqual(await channels(), ["p1:events:cam2"]);
  } finally {
    await registry.close();
  }
});

Deno.test("RedisRegistry fails within 2 s when Redis stops answering", async () => {
  await using server = await startRedis();
  const registry = new RedisRegistry({ url: server.url, log: quietLog });
  const proc = server.process!;
  try {
    await registry.listStreams();
    proc.child.kill("SIGSTOP");
    const started = performance.now();
    await assert.rejects(registry.getStream("cam1"), RegistryUnavailableError);
    const took = performance.now() - started;
    assert.ok(took < 2000, `took ${took.toFixed(0)} ms`);
  } finally {
    proc.child.kill("SIGCONT");
    await registry.close();
  }
});

Deno.test("RedisRegistry started while Redis is down reconnects when it appears", async () => {
  await using server = await startRedis();
  await server.kill();
  const registry = new RedisRegistry({ url: server.url, log: quietLog });
  try {
    let reconnected = false;
    registry.onReconnect(() => reconnected = true);
    const started = performance.now();
    await assert.rejects(registry.listStreams(), RegistryUnavailableError);
    await assert.rejects(registry.subscribe(() => {}), RegistryUnavailableError);
    assert.ok(performance.now() - started < 4000);
    await server.restart();
    await waitFor("the reconnect callback", () => reconnected);
    const seen: string[] = [];
    await registry.subscribe((e) => seen.push(e.name));
    await registry.kickStream("cam1");
    await waitFor("the kick", () => seen.length === 1);
  } finally {
    await registry.close();
  }
});

Deno.test("RedisRegistry on a master demoted to a replica: READONLY fails the call as unavailable and reconnects", async () => {
  await using server = await startRedis();
  await using other = await startRedis();
  await using conn = await raw(server.url);
  const registry = new RedisRegistry({ url: server.url, log: quietLog });
  try {
    let reconnects = 0;
    registry.onReconnect(() => reconnects++);
    assert.equal((await registry.claimStream(streamRecord("cam1", "o1"), 10_000)).ok, true);
    // What a failover does to a master that is still reachable, short of closing its clients.
    await conn.redis.replicaof("127.0.0.1", other.port);
    await assert.rejects(
      registry.claimStream(streamRecord("cam1", "o1"), 10_000),
      (err) => err instanceof RegistryUnavailableError && /READONLY/.test(err.message),
    );
    await waitFor("the reconnect a READONLY answer asks for", () => reconnects > 0);
    await conn.redis.replicaof("NO", "ONE");
    await waitFor(
      "a claim on the master again",
      async () => (await registry.claimStream(streamRecord("cam2", "o1"), 10_000)).ok,
    );
  } finally {
    await registry.close();
  }
});
