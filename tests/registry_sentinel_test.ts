/**
 * The registry on Redis Sentinel with real servers: a master, a replica and three Sentinels
 * (`helpers/redis_sentinel.ts`). The registry contract passes through the Sentinels; a
 * master killed with SIGKILL is replaced by the promoted replica, and the registry follows it:
 * claims and scripts work on the new master, subscriptions deliver again, the reconnect
 * callbacks run so that owners re-announce. Through an origin and an edge, a stream published
 * before the failover plays on with every playlist poll answered 2xx, and one published after
 * it is announced and plays.
 */
import assert from "node:assert/strict";
import { quietLog } from "../lib/common/testing/log.ts";
import { registryContract } from "../lib/registry/testing/contract.ts";
import { streamRecord } from "../lib/registry/testing/records.ts";
import { RedisRegistry } from "@cascade/registry/redis";
import type { RegistryEvent } from "@cascade/registry";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { Edge } from "../edge/src/edge.ts";
import { createEdgeApp } from "../edge/src/app.ts";
import { assertDecodes, livePlaylist } from "./helpers/edge.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { SentinelGroup } from "./helpers/redis_sentinel.ts";
import { delay, waitFor } from "./helpers/wait.ts";

/** One group for the whole contract: each case gets a prefix of its own, so an empty store. */
let contractGroup: Promise<SentinelGroup> | undefined;
let contractCases = 0;

registryContract(
  "RedisRegistry over Redis Sentinel",
  async () => {
    const group = await (contractGroup ??= SentinelGroup.start());
    const prefix = `contract${++contractCases}:`;
    return {
      open: () => new RedisRegistry({ sentinel: group.group, prefix, log: quietLog }),
      // Master and replica down together: nothing to fail over to, so the store is unreachable.
      outage: () => group.stopAll(),
      recover: () => group.restartAll(),
      dispose: async () => {},
    };
  },
  async () => {
    const group = await contractGroup;
    contractGroup = undefined;
    await group?.[Symbol.asyncDispose]();
  },
);

Deno.test("a master replaced by a forced failover while still up: the registry moves to the promoted replica at once, re-announces and hears events again", async () => {
  await using group = await SentinelGroup.start();
  const open = () => new RedisRegistry({ sentinel: group.group, prefix: "demote:", log: quietLog });
  const [a, b] = [open(), open()];
  try {
    let reconnects = 0;
    a.onReconnect(() => reconnects++);
    const kicks: RegistryEvent[] = [];
    await b.subscribeStream("cam1", (e) => e.type === "stream.kick" && kicks.push(e));
    assert.equal((await a.claimStream(streamRecord("cam1", "o1"), 30_000)).ok, true);

    const oldMaster = await group.masterPort();
    await group.forceFailover();
    const newMaster = await group.waitForFailover(oldMaster);
    await waitFor("the registry to reconnect", () => reconnects > 0, { timeoutMs: 15_000 });
    assert.notEqual(newMaster, oldMaster);

    await waitFor(
      "a refresh of the claim on the new master",
      async () => (await a.refreshStream(streamRecord("cam1", "o1"), 30_000).catch(() => null))?.ok,
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    // Written to the new master although the old one is still up, not yet demoted (the
    // Sentinels demote it only seconds later).
    assert.equal(await group.role(oldMaster), "master");
    assert.equal((await a.claimStream(streamRecord("cam2", "o1"), 30_000)).ok, true);
    assert.ok(await group.get(newMaster, "demote:stream:cam2"), "the claim is on the new master");
    const rival = await b.claimStream(streamRecord("cam1", "o2"), 30_000);
    assert.deepEqual(rival.ok ? "claimed" : rival.owner, "o1", "one owner after the failover");
    // Kicks published while the subscriber is still reconnecting are lost: keep kicking.
    await waitFor("the subscription to hear a kick", async () => {
      await a.kickStream("cam1").catch(() => {});
      return kicks.length > 0;
    }, { timeoutMs: 15_000, intervalMs: 100 });
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

interface Poll {
  at: number;
  status: number;
  /** The newest segment's sequence number, for 2xx answers. */
  last?: number;
}

/** Polls `url` every `intervalMs` until stopped, keeping every answer. */
function pollPlaylist(url: string, intervalMs: number) {
  const polls: Poll[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      const started = Date.now();
      const res = await fetch(url);
      const text = await res.text();
      const poll: Poll = { at: started, status: res.status };
      if (res.ok) poll.last = parsePlaylist(text).segments.at(-1)?.sequence;
      polls.push(poll);
      await delay(Math.max(0, intervalMs - (Date.now() - started)));
    }
  })();
  return {
    polls,
    async stop(): Promise<void> {
      running = false;
      await done;
    },
  };
}

Deno.test("a master killed mid-stream: the replica is promoted, the stream plays on through the edge with every poll 2xx, and a publish after the failover is announced and plays", async () => {
  await using group = await SentinelGroup.start();
  const open = () => new RedisRegistry({ sentinel: group.group, prefix: "fo:", log: quietLog });
  const originRegistry = open();
  const edgeRegistry = open();
  const observer = open();
  const edge = new Edge({ registry: edgeRegistry, cacheBytes: 64 * 1024 * 1024, log: quietLog });
  try {
    await using origin = await startTestOrigin({ NODE_ID: "origin-a" }, {
      registry: originRegistry,
    });
    await edge.start();
    await using server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createEdgeApp(edge).fetch,
    );
    const edgeUrl = `http://127.0.0.1:${server.addr.port}`;
    const alphaUrl = `${edgeUrl}/live/alpha/index.m3u8`;

    await using _ffA = publish(origin.rtmpUrl("test_key_1234"), { seconds: 90, gop: 15 });
    await livePlaylist(alphaUrl, 2);
    const updates: RegistryEvent[] = [];
    await observer.subscribeStream("alpha", (e) => updates.push(e));
    let reconnects = 0;
    originRegistry.onReconnect(() => reconnects++);

    const poller = pollPlaylist(alphaUrl, 200);
    try {
      await waitFor("a few polls before the failover", () => poller.polls.length >= 3);
      const before = poller.polls.at(-1)!.last!;
      const oldMaster = await group.masterPort();
      await group.server(oldMaster).kill();
      const killedAt = Date.now();
      const newMaster = await group.waitForFailover(oldMaster);
      assert.notEqual(newMaster, oldMaster);

      // The origin's registry reconnected to the new master, which fired its re-announce.
      await waitFor("the origin's registry to reconnect", () => reconnects > 0, {
        timeoutMs: 15_000,
      });
      const record = await waitFor(
        "stream:alpha on the new master",
        () => observer.getStream("alpha"),
      );
      assert.equal(record.originId, "origin-a");
      // The claim is still compare-and-set on the new master (its scripts ran by EVAL there).
      const rival = await observer.claimStream(streamRecord("alpha", "origin-b"), 10_000);
      assert.deepEqual(rival.ok ? "claimed" : rival.owner, "origin-a");
      // The subscription followed the master: playlist updates arrive again.
      const heard = updates.length;
      await waitFor("a stream.update after the failover", () => updates.length > heard, {
        timeoutMs: 15_000,
      });
      await waitFor("the edge to list newer segments", () => {
        const last = poller.polls.at(-1)?.last;
        return last !== undefined && last >= before + 3;
      }, { timeoutMs: 20_000, intervalMs: 100 });
      const during = poller.polls.filter((p) => p.at >= killedAt);
      assert.ok(during.length >= 5, `polled ${during.length} times since the kill`);
    } finally {
      await poller.stop();
    }
    const failed = poller.polls.filter((p) => p.status < 200 || p.status >= 300);
    assert.deepEqual(failed, [], "every playlist poll answers 2xx");

    await using _ffB = publish(origin.rtmpUrl("test_key_5678"), { seconds: 60, gop: 15 });
    const beta = await waitFor("stream:beta announced", () => observer.getStream("beta"), {
      timeoutMs: 20_000,
    });
    assert.equal(beta.originId, "origin-a");
    await livePlaylist(`${edgeUrl}/live/beta/index.m3u8`, 2);
    await assertDecodes(`${edgeUrl}/live/beta/index.m3u8`, 2);
  } finally {
    await edge.close();
    await Promise.all([originRegistry.close(), edgeRegistry.close(), observer.close()]);
  }
});
