import assert from "node:assert/strict";
import { MemoryRegistry, MemoryStore, type RegistryEvent } from "@cascade/registry";
import { streamRecord, vodRecord } from "../../lib/registry/testing/records.ts";
import { playlistText as playlist, writePlaylist } from "../../lib/media/hls/testing/playlists.ts";
import { type CapturedLog, captureLog } from "../../tests/helpers/log.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { VOD_PLAYLIST } from "@cascade/media/hls/layout";
import { DiscoveryWatcher } from "./watcher.ts";

interface Fixture extends AsyncDisposable {
  root: string;
  registry: MemoryRegistry;
  /** A second client of the same store, as an edge or another origin would have. */
  other: MemoryRegistry;
  log: CapturedLog;
  watcher(opts?: { ttlSeconds?: number; originId?: string }): Promise<DiscoveryWatcher>;
}

async function fixture(): Promise<Fixture> {
  const root = await Deno.makeTempDir({ prefix: "cascade-discovery-" });
  const store = new MemoryStore();
  const log = captureLog();
  const registry = new MemoryRegistry({ store, log });
  const other = new MemoryRegistry({ store, log });
  const watchers: DiscoveryWatcher[] = [];
  return {
    root,
    registry,
    other,
    log,
    async watcher({ ttlSeconds = 10, originId = "o1" } = {}) {
      const w = new DiscoveryWatcher({
        registry,
        mediaRoot: root,
        originId,
        originUrl: `http://${originId}.test:8081/`,
        ttlSeconds,
        log,
      });
      watchers.push(w);
      await w.start();
      return w;
    },
    async [Symbol.asyncDispose]() {
      for (const w of watchers) await w.stop();
      await registry.close();
      await other.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("DiscoveryWatcher announces a new playlist with the origin's URL and playlist fields", async () => {
  await using f = await fixture();
  await f.watcher();
  const before = Date.now();
  await writePlaylist(f.root, "cam1", playlist({ target: 4, sequence: 17 }));
  const record = await waitFor("cam1 to be announced", () => f.other.getStream("cam1"));
  assert.equal(record.name, "cam1");
  assert.equal(record.originId, "o1");
  assert.equal(record.originUrl, "http://o1.test:8081");
  assert.equal(record.manifest, "http://o1.test:8081/live/cam1/index.m3u8");
  assert.equal(record.targetDuration, 4);
  assert.equal(record.mediaSequence, 17);
  assert.ok(record.startedAt >= before && record.startedAt <= Date.now());
  assert.ok(record.updatedAt >= before - 1000 && record.updatedAt <= Date.now());
});

Deno.test("DiscoveryWatcher refreshes the claim when the playlist changes", async () => {
  await using f = await fixture();
  await f.watcher();
  await writePlaylist(f.root, "cam1", playlist({ sequence: 1 }));
  const first = await waitFor("cam1", () => f.other.getStream("cam1"));
  await writePlaylist(f.root, "cam1", playlist({ sequence: 2 }));
  const second = await waitFor(
    "the new media sequence",
    async () => (await f.other.getStream("cam1"))?.mediaSequence === 2 && f.other.getStream("cam1"),
  );
  assert.ok(second);
  assert.equal(second.startedAt, first.startedAt);
});

Deno.test("DiscoveryWatcher announces playlists already on disk before start() resolves", async () => {
  await using f = await fixture();
  await writePlaylist(f.root, "cam1", playlist());
  await writePlaylist(f.root, "cam2", playlist({ ended: true }));
  await writePlaylist(f.root, "cam3", playlist());
  // A playlist last written long ago belongs to a publisher that died.
  const old = new Date(Date.now() - 60_000);
  await Deno.utime(`${f.root}/cam3/index.m3u8`, old, old);
  const w = await f.watcher();
  assert.deepEqual((await f.other.listStreams()).map((s) => s.name), ["cam1"]);
  assert.deepEqual(w.liveStreams(), ["cam1"]);
});

Deno.test("DiscoveryWatcher releases a stream when its playlist gets #EXT-X-ENDLIST", async () => {
  await using f = await fixture();
  const events: RegistryEvent[] = [];
  await f.other.subscribe((e) => events.push(e));
  await f.watcher();
  await writePlaylist(f.root, "cam1", playlist());
  await waitFor("cam1", () => f.other.getStream("cam1"));
  await writePlaylist(f.root, "cam1", playlist({ sequence: 1, ended: true }));
  await waitFor("cam1 to be released", async () => (await f.other.getStream("cam1")) === null);
  await waitFor("stream.down", () => events.some((e) => e.type === "stream.down"));
  const down = events.find((e) => e.type === "stream.down");
  assert.equal(down?.type === "stream.down" && down.reason, "released");
  assert.equal(down?.originId, "o1");
});

Deno.test("DiscoveryWatcher releases a stream when its playlist or directory is removed", async () => {
  await using f = await fixture();
  await f.watcher();
  await writePlaylist(f.root, "cam1", playlist());
  await writePlaylist(f.root, "cam2", playlist());
  await waitFor("both streams", async () => (await f.other.listStreams()).length === 2);
  await Deno.remove(`${f.root}/cam1/index.m3u8`);
  await Deno.remove(`${f.root}/cam2`, { recursive: true });
  await waitFor("both releases", async () => (await f.other.listStreams()).length === 0);
  // A stream that comes back is announced again.
  await writePlaylist(f.root, "cam1", playlist({ sequence: 5 }));
  await waitFor("cam1 again", () => f.other.getStream("cam1"));
});

Deno.test("DiscoveryWatcher releases a playlist unchanged for three target durations", async () => {
  await using f = await fixture();
  await f.watcher();
  await writePlaylist(f.root, "cam1", playlist({ target: 1 }));
  const { mtime } = await Deno.stat(`${f.root}/cam1/index.m3u8`);
  await waitFor("cam1", () => f.other.getStream("cam1"));
  await waitFor(
    "cam1 to be released as stale",
    async () => (await f.other.getStream("cam1")) === null,
    { timeoutMs: 30_000 },
  );
  // Not before three target durations after the last change (mtime has whole-ms precision at
  // best); how soon after is the bench's business.
  const after = Date.now() - mtime!.getTime();
  assert.ok(after >= 2900, `released after ${after} ms, before three target durations`);
  assert.ok(
    f.log.lines.some((l) => l.event === "discovery.released" && l.fields.reason === "stale"),
  );
});

Deno.test("DiscoveryWatcher keeps a live stream claimed past its TTL without file changes", async () => {
  await using f = await fixture();
  await f.watcher({ ttlSeconds: 0.3 });
  await writePlaylist(f.root, "cam1", playlist({ target: 10 }));
  await waitFor("cam1", () => f.other.getStream("cam1"));
  // Two TTLs measured by a probe claim that nothing refreshes.
  for (let i = 0; i < 2; i++) {
    await f.other.claimStream(streamRecord("probe", "x"), 300);
    await waitFor("a TTL to pass", async () => (await f.other.getStream("probe")) === null);
  }
  assert.equal((await f.other.getStream("cam1"))?.originId, "o1");
});

Deno.test("DiscoveryWatcher ignores directories whose names are not stream names, logging once", async () => {
  await using f = await fixture();
  await f.watcher();
  await writePlaylist(f.root, "sk_NotAName", playlist());
  await writePlaylist(f.root, "sk_NotAName", playlist({ sequence: 1 }));
  await writePlaylist(f.root, "cam1", playlist());
  await waitFor("cam1", () => f.other.getStream("cam1"));
  assert.deepEqual((await f.other.listStreams()).map((s) => s.name), ["cam1"]);
  const ignored = f.log.lines.filter((l) => l.event === "discovery.ignored_directory");
  assert.equal(ignored.length, 1);
  assert.ok(!JSON.stringify(f.log.lines).includes("sk_NotAName"), "the name may be a key");
});

Deno.test("DiscoveryWatcher leaves another origin's claim alone and takes over once it is gone", async () => {
  await using f = await fixture();
  await f.other.claimStream(streamRecord("cam1", "o2"), 60_000);
  await f.watcher({ ttlSeconds: 0.4 });
  await writePlaylist(f.root, "cam1", playlist({ sequence: 1 }));
  await waitFor(
    "the conflict to be logged",
    () => f.log.lines.some((l) => l.event === "discovery.claimed_elsewhere"),
  );
  await writePlaylist(f.root, "cam1", playlist({ sequence: 2 }));
  await writePlaylist(f.root, "cam1", playlist({ sequence: 3 }));
  assert.equal((await f.other.getStream("cam1"))?.originId, "o2");
  await f.other.releaseStream("cam1", "o2");
  await waitFor(
    "o1 to take the stream over",
    async () => (await f.other.getStream("cam1"))?.originId === "o1",
  );
  const conflicts = f.log.lines.filter((l) => l.event === "discovery.claimed_elsewhere");
  assert.equal(conflicts.length, 1);
  assert.equal(conflicts[0]!.fields.owner, "o2");
});

Deno.test("DiscoveryWatcher.stop() releases its own claims and nothing else", async () => {
  await using f = await fixture();
  await f.other.claimStream(streamRecord("theirs", "o2"), 60_000);
  const w = await f.watcher();
  await writePlaylist(f.root, "mine", playlist());
  await writePlaylist(f.root, "theirs", playlist());
  await waitFor("mine", () => f.other.getStream("mine"));
  await waitFor(
    "the conflict on theirs",
    () => f.log.lines.some((l) => l.event === "discovery.claimed_elsewhere"),
  );
  await w.stop();
  assert.equal(await f.other.getStream("mine"), null);
  assert.equal((await f.other.getStream("theirs"))?.originId, "o2");
});

Deno.test("DiscoveryWatcher re-announces live streams right after the registry reconnects", async () => {
  await using f = await fixture();
  await f.watcher({ ttlSeconds: 120 });
  await writePlaylist(f.root, "cam1", playlist({ target: 60 }));
  await waitFor("cam1", () => f.other.getStream("cam1"));
  f.registry.setOnline(false);
  f.registry.store.flush();
  // Changes during the outage fail to announce and are retried on reconnect.
  await writePlaylist(f.root, "cam2", playlist({ target: 60 }));
  await waitFor(
    "the outage to be logged",
    () => f.log.lines.some((l) => l.event === "discovery.registry_unavailable"),
  );
  assert.deepEqual(await f.other.listStreams(), []);
  f.registry.setOnline(true);
  // Nothing changes on disk and the first refresh (every TTL/4 = 30 s from start) comes after
  // this deadline: the streams come back only if the reconnect announces them.
  await waitFor(
    "both streams back",
    async () => (await f.other.listStreams()).length === 2,
    { timeoutMs: 15_000 },
  );
});

Deno.test("DiscoveryWatcher.start() creates a missing media root and watches it", async () => {
  const parent = await Deno.makeTempDir({ prefix: "cascade-discovery-" });
  const root = `${parent}/media`;
  const registry = new MemoryRegistry({ log: captureLog() });
  const watcher = new DiscoveryWatcher({
    registry,
    mediaRoot: root,
    originId: "o1",
    originUrl: "http://o1.test:8081",
    ttlSeconds: 10,
    log: captureLog(),
  });
  try {
    await watcher.start();
    await writePlaylist(root, "cam1", playlist());
    await waitFor("cam1", () => registry.getStream("cam1"));
  } finally {
    await watcher.stop();
    await registry.close();
    await Deno.remove(parent, { recursive: true });
  }
});

/** Writes `vod.m3u8` as the origin's packager does (temp file, rename). */
function writeVod(root: string, name: string, text = playlist({ ended: true }), mtime?: Date) {
  return writePlaylist(root, name, text, { file: VOD_PLAYLIST, mtime });
}

Deno.test("DiscoveryWatcher announces vod:{name} for a kept broadcast and withdraws it with the directory", async () => {
  await using f = await fixture();
  await f.watcher();
  await writePlaylist(f.root, "cam1", playlist());
  await waitFor("cam1 live", () => f.other.getStream("cam1"));
  // The broadcast ends: the live claim goes, the VOD appears.
  await writePlaylist(f.root, "cam1", playlist({ sequence: 1, ended: true }));
  await writeVod(f.root, "cam1", playlist({ target: 4, segments: 9, ended: true }));
  await waitFor("cam1 released", async () => (await f.other.getStream("cam1")) === null);
  const vod = await waitFor("the VOD", () => f.other.getVod("cam1"));
  const { mtime } = await Deno.stat(`${f.root}/cam1/vod.m3u8`);
  assert.deepEqual(vod, {
    name: "cam1",
    originId: "o1",
    originUrl: "http://o1.test:8081",
    manifest: "http://o1.test:8081/live/cam1/vod.m3u8",
    updatedAt: mtime!.getTime(),
    targetDuration: 4,
  });
  // A rewritten vod.m3u8 (a republish within the grace period) is announced again.
  const later = new Date(vod.updatedAt + 1000);
  await writeVod(f.root, "cam1", playlist({ target: 4, segments: 12, ended: true }), later);
  await waitFor(
    "the new updatedAt",
    async () => (await f.other.getVod("cam1"))?.updatedAt === later.getTime(),
  );
  await Deno.remove(`${f.root}/cam1`, { recursive: true });
  await waitFor("the VOD withdrawn", async () => (await f.other.getVod("cam1")) === null);
  assert.ok(f.log.lines.some((l) => l.event === "discovery.vod_withdrawn"));
});

Deno.test("DiscoveryWatcher withdraws a VOD whose vod.m3u8 is removed and keeps the live claim", async () => {
  await using f = await fixture();
  await writeVod(f.root, "cam1");
  await writePlaylist(f.root, "cam1", playlist());
  await f.watcher();
  // Both were on disk before start() resolved.
  assert.equal((await f.other.getVod("cam1"))?.originId, "o1");
  assert.equal((await f.other.getStream("cam1"))?.originId, "o1");
  await Deno.remove(`${f.root}/cam1/vod.m3u8`);
  await waitFor("the VOD withdrawn", async () => (await f.other.getVod("cam1")) === null);
  assert.equal((await f.other.getStream("cam1"))?.originId, "o1");
});

Deno.test("DiscoveryWatcher keeps a VOD past its TTL and withdraws it on stop()", async () => {
  await using f = await fixture();
  const w = await f.watcher({ ttlSeconds: 0.3 });
  await writeVod(f.root, "cam1");
  await waitFor("the VOD", () => f.other.getVod("cam1"));
  for (let i = 0; i < 2; i++) {
    await f.other.announceVod(vodRecord("probe", "x"), 300);
    await waitFor("a TTL to pass", async () => (await f.other.getVod("probe")) === null);
  }
  assert.equal((await f.other.getVod("cam1"))?.originId, "o1");
  await w.stop();
  assert.equal(await f.other.getVod("cam1"), null);
});

Deno.test("DiscoveryWatcher leaves a later VOD of another origin alone and takes over once it expires", async () => {
  await using f = await fixture();
  const theirs = vodRecord("cam1", "o2", { updatedAt: Date.now() + 60_000 });
  // Long enough for the watcher's scan (new directories: within a second) to meet it.
  await f.other.announceVod(theirs, 3000);
  await f.watcher({ ttlSeconds: 0.2 });
  await writeVod(f.root, "cam1");
  await waitFor(
    "the newer VOD to be noticed",
    () => f.log.lines.some((l) => l.event === "discovery.vod_newer_elsewhere"),
  );
  assert.deepEqual(await f.other.getVod("cam1"), theirs);
  await waitFor(
    "o1 to take the VOD over",
    async () => (await f.other.getVod("cam1"))?.originId === "o1",
  );
});
