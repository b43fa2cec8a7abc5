/**
 * The one contract every `Registry` backend must satisfy, written once and run against
 * each backend (`../memory_test.ts`, `../redis_test.ts`), the way Hono runs one router suite
 * against all its routers. Test support: imported by relative path, not exported by the
 * package. A backend is described by a `ContractBackend`: how to open
 * another client of the same store, and how to take the store away and bring it back.
 *
 * TTLs are short and every wait is a deadline-bounded poll, so the suite is quick and
 * does not depend on fixed sleeps.
 */
import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import { waitFor } from "../../../tests/helpers/wait.ts";
import { RegistryUnavailableError } from "../errors.ts";
import type { NodeRecord, Registry, RegistryEvent, StreamConfig, Unsubscribe } from "../types.ts";
import { streamMedia, streamRecord, vodRecord } from "./records.ts";

export interface ContractBackend {
  /** A new client of the same store, as another process would have. */
  open(): Registry | Promise<Registry>;
  /** Makes the store unreachable for every open client. */
  outage(): Promise<void>;
  /** Makes it reachable again, empty, as a Redis restart without persistence would. */
  recover(): Promise<void>;
  dispose(): Promise<void>;
}

interface CaseContext {
  open(): Promise<Registry>;
  backend: ContractBackend;
}

/** The longest any call may take while the store is unreachable. */
export const UNAVAILABLE_WITHIN_MS = 2000;

function nodeRecord(kind: "origin" | "edge", id: string): NodeRecord {
  return {
    id,
    kind,
    url: `http://${id}.test:8000`,
    region: "local",
    load: 0,
    startedAt: 1_700_000_000_000,
  };
}

function hashOf(n: number): string {
  return n.toString(16).padStart(64, "0");
}

function config(name: string, keyHash: string): StreamConfig {
  return { name, keyHash, createdAt: 1_700_000_000_000, disabled: false, record: true };
}

interface Recorder {
  events: RegistryEvent[];
  stop: Unsubscribe;
}

/** Subscribes (to every stream, or to `stream`'s own events) and keeps each event in an array. */
async function recorder(registry: Registry, stream?: string): Promise<Recorder> {
  const events: RegistryEvent[] = [];
  const keep = (e: RegistryEvent) => void events.push(e);
  const stop = stream === undefined
    ? await registry.subscribe(keep)
    : await registry.subscribeStream(stream, keep);
  return { events, stop };
}

/** `[type, name]` of each event, for comparing sequences. */
function kinds(events: RegistryEvent[]): [string, string][] {
  return events.map((e) => [e.type, e.name]);
}

async function rejectsUnavailable(what: string, call: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  await assert.rejects(call(), RegistryUnavailableError, `${what} should fail as unavailable`);
  const took = performance.now() - started;
  assert.ok(took < UNAVAILABLE_WITHIN_MS, `${what} took ${took.toFixed(0)} ms to fail`);
}

const cases: [string, (ctx: CaseContext) => Promise<void>][] = [
  ["claimStream() creates a claim that getStream() and listStreams() return", async ({ open }) => {
    const a = await open();
    const record = streamRecord("cam1", "o1", {
      bandwidth: 2_500_000,
      codecs: "avc1.64001f",
      ll: true,
    });
    assert.deepEqual(await a.claimStream(record, 10_000), { ok: true, created: true });
    assert.deepEqual(await a.getStream("cam1"), record);
    assert.deepEqual(await a.listStreams(), [record]);
    assert.equal(await a.getStream("nothing"), null);
  }],

  [
    "claimStream() keeps a record's encoder figures, and refreshes replace them",
    async ({ open }) => {
      const [a, b] = [await open(), await open()];
      const unknown = streamMedia({ keyframeInterval: null, frameRate: null, bitrate: null });
      const first = streamRecord("cam1", "o1", { codecs: "avc1.64001f,mp4a.40.2", media: unknown });
      await a.claimStream(first, 10_000);
      assert.deepEqual(await b.getStream("cam1"), first, "nulls survive the store");
      const measured = { ...first, media: streamMedia({ keyframeInterval: 8.333 }) };
      assert.deepEqual(await a.refreshStream(measured, 10_000), { ok: true, created: false });
      assert.deepEqual(await b.getStream("cam1"), measured);
      assert.deepEqual(await b.listStreams(), [measured]);
      // A record from a writer that measures nothing (nginx-rtmp's discovery, an older origin).
      await a.claimStream(streamRecord("cam2", "o1"), 10_000);
      assert.equal((await b.getStream("cam2"))?.media, undefined);
    },
  ],

  ["claimStream() by the owner again updates the record without creating", async ({ open }) => {
    const a = await open();
    await a.claimStream(streamRecord("cam1", "o1"), 10_000);
    const next = streamRecord("cam1", "o1", { mediaSequence: 8 });
    assert.deepEqual(await a.claimStream(next, 10_000), { ok: true, created: false });
    assert.equal((await a.getStream("cam1"))?.mediaSequence, 8);
  }],

  ["claimStream() refuses another origin's live claim and names the owner", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const mine = streamRecord("cam1", "o1");
    await a.claimStream(mine, 10_000);
    const result = await b.claimStream(streamRecord("cam1", "o2"), 10_000);
    assert.deepEqual(result, { ok: false, owner: "o1", current: mine });
    assert.equal((await b.getStream("cam1"))?.originId, "o1");
  }],

  [
    "claimStream() with replacing takes over exactly the claim named, as a new one",
    async ({ open }) => {
      const [a, b] = [await open(), await open()];
      const dead = streamRecord("cam1", "o1", { updatedAt: 5_000, lastSequence: 40 });
      await a.claimStream(dead, 10_000);
      const seen = await recorder(b, "cam1");
      const mine = streamRecord("cam1", "o2", { lastSequence: 41, discontinuitySequence: 3 });
      // A claim that moved on since it was judged dead (another updatedAt) is left alone.
      const moved = await b.claimStream(mine, 10_000, {
        replacing: { originId: "o1", updatedAt: 4_000 },
      });
      assert.deepEqual(moved, { ok: false, owner: "o1", current: dead });
      const wrongOwner = await b.claimStream(mine, 10_000, {
        replacing: { originId: "o3", updatedAt: 5_000 },
      });
      assert.equal(wrongOwner.ok, false);
      const taken = await b.claimStream(mine, 10_000, {
        replacing: { originId: "o1", updatedAt: 5_000 },
      });
      assert.deepEqual(taken, { ok: true, created: true });
      assert.deepEqual(await a.getStream("cam1"), mine);
      await waitFor(
        "stream.up from the new owner",
        () => seen.events.some((e) => e.type === "stream.up" && e.originId === "o2"),
      );
      seen.stop();
      // The old owner can neither refresh nor release it any more.
      assert.equal((await a.refreshStream(dead, 10_000)).ok, false);
      assert.equal(await a.releaseStream("cam1", "o1"), false);
      await assert.rejects(
        b.claimStream(mine, 10_000, { replacing: { originId: "", updatedAt: 1 } }),
        TypeError,
      );
    },
  ],

  ["refreshStream() only extends a claim its origin holds", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const missing = await a.refreshStream(streamRecord("cam1", "o1"), 10_000);
    assert.deepEqual(missing, { ok: false, owner: null, current: null });
    assert.equal(await a.getStream("cam1"), null, "refresh must not create");

    await a.claimStream(streamRecord("cam1", "o1"), 200);
    const stolen = await b.refreshStream(streamRecord("cam1", "o2"), 60_000);
    assert.equal(stolen.ok, false);
    assert.equal(!stolen.ok && stolen.owner, "o1");

    const refreshed = streamRecord("cam1", "o1", { mediaSequence: 9 });
    assert.deepEqual(await a.refreshStream(refreshed, 60_000), { ok: true, created: false });
    // A claim made alongside with the original TTL shows when that TTL has passed.
    await a.claimStream(streamRecord("probe", "o1"), 200);
    await waitFor(
      "the probe claim to expire",
      async () => (await a.getStream("probe")) === null,
    );
    assert.deepEqual(await b.getStream("cam1"), refreshed);
  }],

  ["releaseStream() deletes only the owner's claim", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    await a.claimStream(streamRecord("cam1", "o1"), 10_000);
    assert.equal(await b.releaseStream("cam1", "o2"), false);
    assert.equal((await b.getStream("cam1"))?.originId, "o1");
    assert.equal(await a.releaseStream("cam1", "o1"), true);
    assert.equal(await b.getStream("cam1"), null);
    assert.equal(await a.releaseStream("cam1", "o1"), false);
    assert.deepEqual(await b.claimStream(streamRecord("cam1", "o2"), 10_000), {
      ok: true,
      created: true,
    });
  }],

  ["a claim expires after its TTL and can then be taken by another origin", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    await a.claimStream(streamRecord("cam1", "o1"), 150);
    await a.claimStream(streamRecord("cam2", "o1"), 60_000);
    assert.equal((await b.getStream("cam1"))?.originId, "o1");
    await waitFor("cam1 to expire", async () => (await b.getStream("cam1")) === null);
    assert.deepEqual((await b.listStreams()).map((s) => s.name), ["cam2"]);
    assert.equal((await b.claimStream(streamRecord("cam1", "o2"), 10_000)).ok, true);
  }],

  ["subscribe() delivers stream.up on creation and stream.down on release", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const seen = await recorder(b);
    await a.claimStream(streamRecord("cam1", "o1"), 10_000);
    await a.claimStream(streamRecord("cam1", "o1", { mediaSequence: 8 }), 10_000);
    await a.refreshStream(streamRecord("cam1", "o1"), 10_000);
    await a.releaseStream("cam1", "o2");
    await a.releaseStream("cam1", "o1");
    await waitFor("two events", () => seen.events.length >= 2);
    // Publishes from one client arrive in order, so a refresh's stray event would show here.
    assert.deepEqual(seen.events.map((e) => [e.type, e.name, e.originId]), [
      ["stream.up", "cam1", "o1"],
      ["stream.down", "cam1", "o1"],
    ]);
    const down = seen.events[1]!;
    assert.equal(down.type === "stream.down" && down.reason, "released");
    for (const e of seen.events) assert.ok(Math.abs(e.at - Date.now()) < 60_000);
  }],

  [
    "a claim with a newer playlist publishes stream.update; a plain refresh does not",
    async ({ open }) => {
      const [a, b] = [await open(), await open()];
      const seen = await recorder(b, "cam1");
      await a.claimStream(streamRecord("cam1", "o1"), 10_000);
      await a.claimStream(streamRecord("cam1", "o1"), 10_000);
      await a.claimStream(streamRecord("cam1", "o1", { updatedAt: 1_700_000_002_500 }), 10_000);
      await a.refreshStream(streamRecord("cam1", "o1", { updatedAt: 1_700_000_002_500 }), 10_000);
      await a.refreshStream(streamRecord("cam1", "o1", { updatedAt: 1_700_000_004_500 }), 10_000);
      await a.kickStream("cam1");
      await waitFor("four events", () => seen.events.length >= 4);
      assert.deepEqual(kinds(seen.events), [
        ["stream.up", "cam1"],
        ["stream.update", "cam1"],
        ["stream.update", "cam1"],
        ["stream.kick", "cam1"],
      ]);
      const update = seen.events[2]!;
      assert.equal(update.type === "stream.update" && update.updatedAt, 1_700_000_004_500);
      assert.equal(update.originId, "o1");
    },
  ],

  [
    "subscribeStream() hears everything about its stream; subscribe() every stream but no updates",
    async ({ open }) => {
      const [a, b] = [await open(), await open()];
      const all = await recorder(b);
      const cam1 = await recorder(b, "cam1");
      const cam2 = await recorder(b, "cam2");
      await a.claimStream(streamRecord("cam1", "o1"), 10_000);
      await a.claimStream(streamRecord("cam3", "o1"), 10_000);
      await a.claimStream(streamRecord("cam1", "o1", { updatedAt: 1_700_000_002_500 }), 10_000);
      await a.claimStream(streamRecord("cam3", "o1", { updatedAt: 1_700_000_002_500 }), 10_000);
      await a.kickStream("cam1");
      await a.releaseStream("cam1", "o1");
      await a.kickStream("cam2");
      await waitFor(
        "the cam2 kick everywhere",
        () => cam2.events.length === 1 && all.events.length === 5,
      );
      assert.deepEqual(kinds(cam1.events), [
        ["stream.up", "cam1"],
        ["stream.update", "cam1"],
        ["stream.kick", "cam1"],
        ["stream.down", "cam1"],
      ]);
      assert.deepEqual(kinds(cam2.events), [["stream.kick", "cam2"]]);
      assert.deepEqual(kinds(all.events), [
        ["stream.up", "cam1"],
        ["stream.up", "cam3"],
        ["stream.kick", "cam1"],
        ["stream.down", "cam1"],
        ["stream.kick", "cam2"],
      ]);
      assert.deepEqual(cam1.events.slice(2), all.events.slice(2, 4), "the same events on both");
    },
  ],

  [
    "a stream's subscriptions end one by one, and its stream can be subscribed again",
    async ({ open }) => {
      const [a, b] = [await open(), await open()];
      const first = await recorder(b, "cam1");
      const second = await recorder(b, "cam1");
      await a.kickStream("cam1");
      await waitFor("both to see a kick", () => first.events.length + second.events.length === 2);
      first.stop();
      first.stop();
      await a.kickStream("cam1");
      await waitFor("the second kick", () => second.events.length === 2);
      second.stop();
      const again = await recorder(b, "cam1");
      await a.kickStream("cam1");
      await waitFor("the third kick", () => again.events.length === 1);
      assert.equal(first.events.length, 1);
      assert.equal(second.events.length, 2);
    },
  ],

  ["kickStream() publishes stream.kick naming the owner, or none", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const seen = await recorder(b);
    await a.claimStream(streamRecord("cam1", "o1"), 10_000);
    await a.kickStream("cam1");
    await a.kickStream("idle");
    await waitFor("three events", () => seen.events.length >= 3);
    assert.deepEqual(seen.events.slice(1).map((e) => [e.type, e.name, e.originId]), [
      ["stream.kick", "cam1", "o1"],
      ["stream.kick", "idle", ""],
    ]);
  }],

  [
    "announceVod() keeps the latest broadcast's VOD and only its origin withdraws it",
    async ({ open }) => {
      const [a, b] = [await open(), await open()];
      const seen = await recorder(b);
      const first = vodRecord("cam1", "o1");
      assert.equal(await a.announceVod(first, 10_000), true);
      assert.deepEqual(await b.getVod("cam1"), first);
      assert.equal(await b.getVod("nothing"), null);
      // Another origin's older or equally old broadcast does not replace it.
      const older = vodRecord("cam1", "o2", { updatedAt: first.updatedAt - 1 });
      assert.equal(await b.announceVod(older, 10_000), false);
      assert.equal(await b.announceVod({ ...older, updatedAt: first.updatedAt }, 10_000), false);
      assert.deepEqual(await a.getVod("cam1"), first);
      // Its own origin refreshes it whatever the time; a later broadcast elsewhere takes over.
      const refreshed = { ...first, updatedAt: first.updatedAt - 5, targetDuration: 4 };
      assert.equal(await a.announceVod(refreshed, 10_000), true);
      assert.deepEqual(await b.getVod("cam1"), refreshed);
      const later = vodRecord("cam1", "o2", { updatedAt: first.updatedAt + 1 });
      assert.equal(await b.announceVod(later, 10_000), true);
      assert.deepEqual(await a.getVod("cam1"), later);

      assert.equal(await a.withdrawVod("cam1", "o1"), false);
      assert.deepEqual(await a.getVod("cam1"), later);
      assert.equal(await b.withdrawVod("cam1", "o2"), true);
      assert.equal(await a.getVod("cam1"), null);
      assert.equal(await b.withdrawVod("cam1", "o2"), false);
      // VOD records are neither live streams nor events.
      assert.deepEqual(await a.listStreams(), []);
      await a.kickStream("marker");
      await waitFor("the marker kick", () => seen.events.length > 0);
      assert.deepEqual(seen.events.map((e) => [e.type, e.name]), [["stream.kick", "marker"]]);
    },
  ],

  [
    "a VOD record expires after its TTL and another origin's may then be written",
    async ({ open }) => {
      const [a, b] = [await open(), await open()];
      await a.announceVod(vodRecord("cam1", "o1"), 150);
      await a.announceVod(vodRecord("cam2", "o1"), 60_000);
      await waitFor("the cam1 VOD to expire", async () => (await b.getVod("cam1")) === null);
      assert.equal((await b.getVod("cam2"))?.originId, "o1");
      const older = vodRecord("cam1", "o2", { updatedAt: 1 });
      assert.equal(await b.announceVod(older, 10_000), true);
      assert.deepEqual(await a.getVod("cam1"), older);
    },
  ],

  ["a claim that expires is reported as stream.down with reason expired", async ({ open }) => {
    const [a, b, c] = [await open(), await open(), await open()];
    const seen = await recorder(b);
    // A client listening to streams only, as an edge does.
    const own = await recorder(c, "cam1");
    const other = await recorder(c, "cam2");
    await a.claimStream(streamRecord("cam1", "o1"), 100);
    const down = await waitFor(
      "stream.down for the expired claim",
      () => seen.events.find((e) => e.type === "stream.down"),
    );
    assert.equal(down.name, "cam1");
    assert.equal(down.type === "stream.down" && down.reason, "expired");
    const ownDown = await waitFor(
      "stream.down for the expired claim on its stream's subscription",
      () => own.events.find((e) => e.type === "stream.down"),
    );
    assert.equal(ownDown.type === "stream.down" && ownDown.reason, "expired");
    assert.deepEqual(kinds(own.events), [["stream.up", "cam1"], ["stream.down", "cam1"]]);
    await a.kickStream("cam2");
    await waitFor("the cam2 kick", () => other.events.length > 0);
    assert.deepEqual(kinds(other.events), [["stream.kick", "cam2"]]);
  }],

  ["unsubscribing stops delivery to that handler only", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const first = await recorder(b);
    const second = await recorder(b);
    await a.kickStream("cam1");
    await waitFor(
      "both handlers to see the first kick",
      () => first.events.length === 1 && second.events.length === 1,
    );
    first.stop();
    first.stop();
    await a.kickStream("cam2");
    await waitFor("the second handler to see the second kick", () => second.events.length === 2);
    assert.equal(first.events.length, 1);
  }],

  ["a throwing event handler does not stop delivery to others", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    await b.subscribe(() => {
      throw new Error("handler bug");
    });
    const seen = await recorder(b);
    await a.kickStream("cam1");
    await a.kickStream("cam2");
    await waitFor("both kicks", () => seen.events.length === 2);
  }],

  ["nodes are announced, listed by kind, removed, and expire by TTL", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const origin = { ...nodeRecord("origin", "o1"), rtmpUrl: "rtmp://o1.test:1935/live" };
    const edge = nodeRecord("edge", "e1");
    await a.announceNode(origin);
    await a.announceNode(edge, 150);
    assert.deepEqual(await b.getNode("origin", "o1"), origin);
    assert.deepEqual(await b.listNodes("origin"), [origin]);
    assert.deepEqual(await b.listNodes("edge"), [edge]);
    assert.equal((await b.listNodes()).length, 2);
    await waitFor("the edge to expire", async () => (await b.getNode("edge", "e1")) === null);
    assert.deepEqual(await b.listNodes(), [origin]);
    assert.equal(await b.removeNode("origin", "o1"), true);
    assert.equal(await b.removeNode("origin", "o1"), false);
    assert.deepEqual(await b.listNodes(), []);
  }],

  ["startHeartbeat() keeps a node alive past its TTL and removes it on stop", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    let load = 0;
    const beat = a.startHeartbeat(() => ({ ...nodeRecord("edge", "e1"), load: ++load }), 40, 200);
    try {
      await waitFor("the first beat", async () => (await b.getNode("edge", "e1")) !== null);
      await a.announceNode(nodeRecord("edge", "probe"), 200);
      await waitFor(
        "the probe to expire",
        async () => (await b.getNode("edge", "probe")) === null,
      );
      const alive = await b.getNode("edge", "e1");
      assert.ok(alive !== null && alive.load > 1, "heartbeat should have refreshed the node");
    } finally {
      await beat.stop();
    }
    assert.equal(await b.getNode("edge", "e1"), null);
    assert.throws(() => a.startHeartbeat(nodeRecord("edge", "e2"), 100, 100), RangeError);
  }],

  ["stream configs and key lookups are written, rotated and deleted together", async ({ open }) => {
    const a = await open();
    const cfg = config("cam1", hashOf(1));
    assert.equal(await a.putStreamConfig(cfg, { onlyIfAbsent: true }), "ok");
    assert.deepEqual(await a.getStreamConfig("cam1"), cfg);
    assert.equal(await a.resolveKeyHash(hashOf(1)), "cam1");
    assert.equal(await a.putStreamConfig(cfg, { onlyIfAbsent: true }), "exists");
    assert.equal(await a.putStreamConfig(config("cam2", hashOf(1))), "key-in-use");
    assert.equal(await a.getStreamConfig("cam2"), null);

    const rotated = { ...cfg, keyHash: hashOf(2), disabled: true, record: false };
    assert.equal(await a.putStreamConfig(rotated), "ok");
    assert.equal(await a.resolveKeyHash(hashOf(1)), null);
    assert.equal(await a.resolveKeyHash(hashOf(2)), "cam1");
    assert.deepEqual(await a.getStreamConfig("cam1"), rotated);
    const transcoded = { ...rotated, transcode: "480p,240p" };
    assert.equal(await a.putStreamConfig(transcoded), "ok");
    assert.deepEqual(await a.getStreamConfig("cam1"), transcoded);
    assert.equal(await a.putStreamConfig(rotated), "ok");
    assert.deepEqual(await a.getStreamConfig("cam1"), rotated, "transcode unset again");
    await assert.rejects(a.putStreamConfig({ ...rotated, transcode: "500p" }), TypeError);
    assert.equal(await a.putStreamConfig(config("cam2", hashOf(1))), "ok");
    const names = (await a.listStreamConfigs()).map((c) => c.name).sort();
    assert.deepEqual(names, ["cam1", "cam2"]);

    assert.equal(await a.deleteStreamConfig("cam1"), true);
    assert.equal(await a.deleteStreamConfig("cam1"), false);
    assert.equal(await a.getStreamConfig("cam1"), null);
    assert.equal(await a.resolveKeyHash(hashOf(2)), null);
    assert.equal(await a.resolveKeyHash(hashOf(1)), "cam2");
  }],

  ["stream configs persist for clients opened later", async ({ open }) => {
    const a = await open();
    const cfg = config("cam1", hashOf(3));
    await a.putStreamConfig(cfg);
    await a.close();
    const b = await open();
    assert.deepEqual(await b.getStreamConfig("cam1"), cfg);
    assert.equal(await b.resolveKeyHash(hashOf(3)), "cam1");
  }],

  ["malformed arguments are TypeError or RangeError", async ({ open }) => {
    const a = await open();
    await assert.rejects(a.claimStream(streamRecord("Bad Name", "o1"), 1000), TypeError);
    await assert.rejects(a.claimStream(streamRecord("cam1", ""), 1000), TypeError);
    await assert.rejects(a.claimStream(streamRecord("cam1", "o1"), 0), RangeError);
    await assert.rejects(a.claimStream(streamRecord("cam1", "o1"), 1.5), RangeError);
    await assert.rejects(a.getStream("../etc"), TypeError);
    await assert.rejects(a.resolveKeyHash("not-a-hash"), TypeError);
    await assert.rejects(a.putStreamConfig(config("cam1", "ABC")), TypeError);
    await assert.rejects(a.listNodes("viewer" as "edge"), TypeError);
    await assert.rejects(a.announceVod(vodRecord("Bad Name", "o1"), 1000), TypeError);
    await assert.rejects(a.announceVod(vodRecord("cam1", ""), 1000), TypeError);
    await assert.rejects(
      a.announceVod(vodRecord("cam1", "o1", { updatedAt: 0.5 }), 1000),
      TypeError,
    );
    await assert.rejects(a.announceVod(vodRecord("cam1", "o1"), 0), RangeError);
    await assert.rejects(a.withdrawVod("cam1", ""), TypeError);
    await assert.rejects(a.getVod("../etc"), TypeError);
    await assert.rejects(a.subscribeStream("../etc", () => {}), TypeError);
  }],

  ["calls fail with RegistryUnavailableError within 2 s while the store is down", async (ctx) => {
    const a = await ctx.open();
    const reconnects: number[] = [];
    a.onReconnect(() => reconnects.push(Date.now()));
    const off = a.onReconnect(() => reconnects.push(-1));
    off();
    const heartbeat = a.startHeartbeat(nodeRecord("origin", "o1"), 60_000, 120_000);
    try {
      await waitFor("the first beat", async () => (await a.getNode("origin", "o1")) !== null);
      await a.claimStream(streamRecord("cam1", "o1"), 10_000);
      await ctx.backend.outage();
      // The first call may be the one that discovers the loss.
      await rejectsUnavailable("getStream", () => a.getStream("cam1"));
      await rejectsUnavailable(
        "claimStream",
        () => a.claimStream(streamRecord("cam1", "o1"), 1000),
      );
      await rejectsUnavailable("listStreams", () => a.listStreams());
      await rejectsUnavailable("getVod", () => a.getVod("cam1"));
      await rejectsUnavailable("announceVod", () => a.announceVod(vodRecord("cam1", "o1"), 1000));
      await rejectsUnavailable(
        "putStreamConfig",
        () => a.putStreamConfig(config("cam1", hashOf(4))),
      );

      await ctx.backend.recover();
      await waitFor("the reconnect callback", () => reconnects.length > 0);
      assert.ok(!reconnects.includes(-1), "an unsubscribed callback must not run");
      await waitFor(
        "the heartbeat to re-announce after reconnect",
        async () => (await a.getNode("origin", "o1")) !== null,
      );
      assert.equal((await a.claimStream(streamRecord("cam1", "o1"), 10_000)).ok, true);
    } finally {
      await heartbeat.stop();
    }
  }],

  ["close() is idempotent and later calls fail as unavailable", async ({ open }) => {
    const a = await open();
    await a.close();
    await a.close();
    await assert.rejects(a.getStream("cam1"), RegistryUnavailableError);
    await assert.rejects(a.subscribe(() => {}), RegistryUnavailableError);
    await assert.rejects(a.subscribeStream("cam1", () => {}), RegistryUnavailableError);
  }],

  ["subscriptions deliver again after the store comes back", async (ctx) => {
    const [a, b] = [await ctx.open(), await ctx.open()];
    const all = await recorder(b);
    const cam1 = await recorder(b, "cam1");
    await ctx.backend.outage();
    await ctx.backend.recover();
    // Kicks published while the subscriber is still reconnecting are lost: keep kicking.
    await waitFor("both subscriptions to hear a kick", async () => {
      await a.kickStream("cam1").catch(() => {});
      return all.events.length > 0 && cam1.events.length > 0;
    }, { intervalMs: 100 });
    assert.deepEqual(kinds([all.events[0]!, cam1.events[0]!]), [
      ["stream.kick", "cam1"],
      ["stream.kick", "cam1"],
    ]);
  }],

  ["claims, refreshes and releases by several origins match a model", async ({ open }) => {
    const [a, b] = [await open(), await open()];
    const clients = [a, b];
    let run = 0;
    const op = fc.record({
      kind: fc.constantFrom("claim", "refresh", "release"),
      stream: fc.integer({ min: 0, max: 2 }),
      origin: fc.integer({ min: 0, max: 2 }),
      client: fc.integer({ min: 0, max: 1 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
        run++;
        const owners = new Map<string, string>();
        for (const o of ops) {
          const name = `r${run}-${o.stream}`;
          const originId = `o${o.origin}`;
          const client = clients[o.client]!;
          const owner = owners.get(name);
          if (o.kind === "release") {
            assert.equal(await client.releaseStream(name, originId), owner === originId);
            if (owner === originId) owners.delete(name);
            continue;
          }
          const record = streamRecord(name, originId);
          const result = o.kind === "claim"
            ? await client.claimStream(record, 60_000)
            : await client.refreshStream(record, 60_000);
          if (owner === undefined && o.kind === "claim") {
            assert.deepEqual(result, { ok: true, created: true });
            owners.set(name, originId);
          } else if (owner === originId) {
            assert.deepEqual(result, { ok: true, created: false });
          } else {
            assert.equal(result.ok, false);
            assert.equal(!result.ok && result.owner, owner ?? null);
          }
        }
        const live = (await a.listStreams()).filter((s) => s.name.startsWith(`r${run}-`));
        assert.deepEqual(
          new Map(live.map((s) => [s.name, s.originId])),
          owners,
        );
      }),
      { numRuns: 50 },
    );
  }],
];

/**
 * Registers the contract as one test with a step per case, each on a fresh backend. `after`
 * runs once every case has (e.g. to stop a server the backends shared).
 */
export function registryContract(
  name: string,
  factory: () => Promise<ContractBackend>,
  after?: () => Promise<void>,
): void {
  Deno.test(`${name} satisfies the Registry contract`, async (t) => {
    try {
      await runCases(t, factory);
    } finally {
      await after?.();
    }
  });
}

async function runCases(t: Deno.TestContext, factory: () => Promise<ContractBackend>) {
  for (const [caseName, fn] of cases) {
    await t.step(caseName, async () => {
      const backend = await factory();
      const opened: Registry[] = [];
      const open = async () => {
        const registry = await backend.open();
        opened.push(registry);
        return registry;
      };
      try {
        await fn({ open, backend });
      } finally {
        for (const registry of opened) await registry.close();
        await backend.dispose();
      }
    });
  }
}
