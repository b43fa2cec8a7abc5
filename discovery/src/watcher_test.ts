import assert from "node:assert/strict";
import type { LogFields, Logger } from "@cascade/common/log";
import { MemoryRegistry, MemoryStore, type RegistryEvent } from "@cascade/registry";
import { eventually, streamRecord, vodRecord } from "@cascade/registry/contract";
import { DiscoveryWatcher } from "./watcher.ts";

interface LogLine {
  level: string;
  event: string;
  fields: LogFields;
}

/** A logger that keeps its lines for assertions. */
function captureLog(lines: LogLine[] = [], base: LogFields = {}): Logger & { lines: LogLine[] } {
  const at = (level: string) => (event: string, fields?: LogFields) => {
    lines.push({ level, event, fields: { ...base, ...fields } });
  };
  return {
    lines,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    child: (fields) => captureLog(lines, { ...base, ...fields }),
  };
}

function playlist(
  { target = 2, sequence = 0, segments = 3, ended = false } = {},
): string {
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-MEDIA-SEQUENCE:${sequence}`,
  ];
  for (let i = 0; i < segments; i++) lines.push(`#EXTINF:${target}.000,`, `${sequence + i}.ts`);
  if (ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

/** Writes a playlist the way origins do: to a temp file, then renamed into place. */
async function writePlaylist(root: string, name: string, text: string): Promise<void> {
  await Deno.mkdir(`${root}/${name}`, { recursive: true });
  const tmp = `${root}/${name}/index.m3u8.tmp`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, `${root}/${name}/index.m3u8`);
}

interface Fixture extends AsyncDisposable {
  root: string;
  registry: MemoryRegistry;
  /** A second client of the same store, as an edge or another origin would have. */
  other: MemoryRegistry;
  log: Logger & { lines: LogLine[] };
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
  const record = await eventually("cam1 to be announced", () => f.other.getStream("cam1"));
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
  const first = await eventually("cam1", () => f.other.getStream("cam1"));
  await writePlaylist(f.root, "cam1", playlist({ sequence: 2 }));
  const second = await eventually(
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
  await eventually("cam1", () => f.other.getStream("cam1"));
  await writePlaylist(f.root, "cam1", playlist({ sequence: 1, ended: true }));
  await eventually("cam1 to be released", async () => (await f.other.getStream("cam1")) === null);
  await eventually("stream.down", () => events.some((e) => e.type === "stream.down"));
  const down = events.find((e) => e.type === "stream.down");
  assert.equal(down?.type === "stream.down" && down.reason, "released");
  assert.equal(down?.originId, "o1");
});

Deno.test("DiscoveryWatcher releases a stream when its playlist or directory is removed", async () => {
  await using f = await fixture();
  await f.watcher();
  await writePlaylist(f.root, "cam1", playlist());
  await writePlaylist(f.root, "cam2", playlist());
  await eventually("both streams", async () => (await f.other.listStreams()).length === 2);
  await Deno.remove(`${f.root}/cam1/index.m3u8`);
  await Deno.remove(`${f.root}/cam2`, { recursive: true });
  await eventually("both releases", async () => (await f.other.listStreams()).length === 0);
  // A stream that comes back is announced again.
  await writePlaylist(f.root, "cam1", playlist({ sequence: 5 }));
  await eventually("cam1 again", () => f.other.getStream("cam1"));
});

Deno.test("DiscoveryWatcher releases a playlist unchanged for three target durations", async () => {
  await using f = await fixture();
  await f.watcher();
  await writePlaylist(f.root, "cam1", playlist({ target: 1 }));
  const written = Date.now();
  await eventually("cam1", () => f.other.getStream("cam1"));
  await eventually(
    "cam1 to be released as stale",
    async () => (await f.other.getStream("cam1")) === null,
    6000,
  );
  const after = Date.now() - written;
  assert.ok(after >= 2900 && after < 4500, `released after ${after} ms, expected about 3000`);
  assert.ok(
    f.log.lines.some((l) => l.event === "discovery.released" && l.fields.reason === "stale"),
  );
});

Deno.test("DiscoveryWatcher keeps a live stream claimed past its TTL without file changes", async () => {
  await using f = await fixture();
  await f.watcher({ ttlSeconds: 0.3 });
  await writePlaylist(f.root, "cam1", playlist({ target: 10 }));
  await eventually("cam1", () => f.other.getStream("cam1"));
  // Two TTLs measured by a probe claim that nothing refreshes.
  for (let i = 0; i < 2; i++) {
    await f.other.claimStream(streamRecord("probe", "x"), 300);
    await eventually("a TTL to pass", async () => (await f.other.getStream("probe")) === null);
  }
  assert.equal((await f.other.getStream("cam1"))?.originId, "o1");
});

Deno.test("DiscoveryWatcher ignores directories whose names are not stream names, logging once", async () => {
  await using f = await fixture();
  await f.watcher();
  await writePlaylist(f.root, "sk_NotAName", playlist());
  await writePlaylist(f.root, "sk_NotAName", playlist({ sequence: 1 }));
  await writePlaylist(f.root, "cam1", playlist());
  await eventually("cam1", () => f.other.getStream("cam1"));
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
  await eventually(
    "the conflict to be logged",
    () => f.log.lines.some((l) => l.event === "discovery.claimed_elsewhere"),
  );
  await writePlaylist(f.root, "cam1", playlist({ sequence: 2 }));
  await writePlaylist(f.root, "cam1", playlist({ sequence: 3 }));
  assert.equal((await f.other.getStream("cam1"))?.originId, "o2");
  await f.other.releaseStream("cam1", "o2");
  await eventually(
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
  await eventually("mine", () => f.other.getStream("mine"));
  await eventually(
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
  await eventually("cam1", () => f.other.getStream("cam1"));
  f.registry.setOnline(false);
  f.registry.store.flush();
  // Changes during the outage fail to announce and are retried on reconnect.
  await writePlaylist(f.root, "cam2", playlist({ target: 60 }));
  await eventually(
    "the outage to be logged",
    () => f.log.lines.some((l) => l.event === "discovery.registry_unavailable"),
  );
  assert.deepEqual(await f.other.listStreams(), []);
  const back = Date.now();
  f.registry.setOnline(true);
  await eventually(
    "both streams back",
    async () => (await f.other.listStreams()).length === 2,
    2000,
  );
  assert.ok(Date.now() - back < 2000);
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
    await eventually("cam1", () => registry.getStream("cam1"));
  } finally {
    await watcher.stop();
    await registry.close();
    await Deno.remove(parent, { recursive: true });
  }
});

/** Writes `vod.m3u8` as the origin's packager does (temp file, rename). */
async function writeVod(root: string, name: string, text = playlist({ ended: true })) {
  await Deno.mkdir(`${root}/${name}`, { recursive: true });
  await Deno.writeTextFile(`${root}/${name}/vod.m3u8.tmp`, text);
  await Deno.rename(`${root}/${name}/vod.m3u8.tmp`, `${root}/${name}/vod.m3u8`);
}

Deno.test("DiscoveryWatcher announces vod:{name} for a kept broadcast and withdraws it with the directory", async () => {
  await using f = await fixture();
  await f.watcher();
  await writePlaylist(f.root, "cam1", playlist());
  await eventually("cam1 live", () => f.other.getStream("cam1"));
  // The broadcast ends: the live claim goes, the VOD appears.
  await writePlaylist(f.root, "cam1", playlist({ sequence: 1, ended: true }));
  await writeVod(f.root, "cam1", playlist({ target: 4, segments: 9, ended: true }));
  await eventually("cam1 released", async () => (await f.other.getStream("cam1")) === null);
  const vod = await eventually("the VOD", () => f.other.getVod("cam1"));
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
  await new Promise((r) => setTimeout(r, 5)); // so that the rewrite has a later mtime
  await writeVod(f.root, "cam1", playlist({ target: 4, segments: 12, ended: true }));
  await eventually(
    "the new updatedAt",
    async () => ((await f.other.getVod("cam1"))?.updatedAt ?? 0) > vod.updatedAt,
  );
  await Deno.remove(`${f.root}/cam1`, { recursive: true });
  await eventually("the VOD withdrawn", async () => (await f.other.getVod("cam1")) === null);
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
  await eventually("the VOD withdrawn", async () => (await f.other.getVod("cam1")) === null);
  assert.equal((await f.other.getStream("cam1"))?.originId, "o1");
});

Deno.test("DiscoveryWatcher keeps a VOD past its TTL and withdraws it on stop()", async () => {
  await using f = await fixture();
  const w = await f.watcher({ ttlSeconds: 0.3 });
  await writeVod(f.root, "cam1");
  await eventually("the VOD", () => f.other.getVod("cam1"));
  for (let i = 0; i < 2; i++) {
    await f.other.announceVod(vodRecord("probe", "x"), 300);
    await eventually("a TTL to pass", async () => (await f.other.getVod("probe")) === null);
  }
  assert.equal((await f.other.getVod("cam1"))?.originId, "o1");
  await w.stop();
  assert.equal(await f.other.getVod("cam1"), null);
});

Deno.test("DiscoveryWatcher leaves a later VOD of another origin alone and takes over once it expires", async () => {
  await using f = await fixture();
  const theirs = vodRecord("cam1", "o2", { updatedAt: Date.now() + 60_000 });
  await f.other.announceVod(theirs, 600);
  await f.watcher({ ttlSeconds: 0.2 });
  await writeVod(f.root, "cam1");
  await eventually(
    "the newer VOD to be noticed",
    () => f.log.lines.some((l) => l.event === "discovery.vod_newer_elsewhere"),
  );
  assert.deepEqual(await f.other.getVod("cam1"), theirs);
  await eventually(
    "o1 to take the VOD over",
    async () => (await f.other.getVod("cam1"))?.originId === "o1",
  );
});
