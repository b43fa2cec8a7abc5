import assert from "node:assert/strict";
import { configureLogging, log } from "@cascade/common/log";
import { MemoryRegistry } from "@cascade/registry/memory";
import type { NodeRecord, StreamRecord } from "@cascade/registry/types";
import { assignEdges, DashboardFeed, type DashboardSnapshot } from "./dashboard_feed.ts";
import { parseIngestBitrates } from "./stream_stats.ts";

configureLogging({ level: "error" });

function edge(id: string, region: string, load: number): NodeRecord {
  return { id, kind: "edge", url: `http://${id}`, region, load, startedAt: 0 };
}

function record(name: string, originUrl = "http://origin-a"): StreamRecord {
  return {
    name,
    originId: "origin-a",
    originUrl,
    manifest: `${originUrl}/live/${name}/index.m3u8`,
    startedAt: 1,
    updatedAt: 2,
    targetDuration: 3,
    mediaSequence: 4,
  };
}

Deno.test("assignEdges() picks one edge per region and shares each edge's load among its streams", () => {
  const edges = [edge("e1", "eu", 30), edge("e2", "eu", 6), edge("u1", "us", 9)];
  const names = ["a", "b", "c"];
  const out = assignEdges(names, edges);
  const firstInEu = new Map<string, string[]>();
  for (const name of names) {
    const entry = out.get(name)!;
    assert.deepEqual(entry.edges.map((e) => e.region), ["eu", "us"]);
    assert.equal(entry.edges[1]!.id, "u1");
    const eu = entry.edges[0]!.id;
    firstInEu.set(eu, [...firstInEu.get(eu) ?? [], name]);
  }
  const total = names.reduce((sum, name) => sum + out.get(name)!.viewers!, 0);
  // Every viewer an edge reports is attributed to some stream, up to rounding.
  assert.ok(Math.abs(total - 45) <= names.length, `total ${total}`);
  for (const name of firstInEu.get("e1") ?? []) {
    assert.ok(out.get(name)!.viewers! >= Math.floor(30 / firstInEu.get("e1")!.length + 3));
  }
});

Deno.test("assignEdges() gives no estimate without edges", () => {
  const out = assignEdges(["a"], []);
  assert.deepEqual(out.get("a"), { edges: [], viewers: null });
});

Deno.test("parseIngestBitrates() reads the origin's per-stream ingest gauge", () => {
  const text = [
    "# HELP cascade_ingest_bits_per_second Ingest bit rate per stream",
    "# TYPE cascade_ingest_bits_per_second gauge",
    'cascade_ingest_bits_per_second{stream="alpha"} 812345',
    'cascade_ingest_bits_per_second{stream="beta"} 0',
    'cascade_ingest_frames{stream="alpha"} 99',
    'cascade_ingest_bits_per_second{stream="bad"} NaN',
  ].join("\n");
  assert.deepEqual([...parseIngestBitrates(text)], [["alpha", 812345], ["beta", 0]]);
});

Deno.test("DashboardFeed probes node health and reads bit rates from origin metrics", async () => {
  const registry = new MemoryRegistry();
  const feed = new DashboardFeed({
    registry,
    log,
    refreshMs: 50,
    fetch: (input) => {
      const url = String(input);
      if (url === "http://origin-a/healthz") return Promise.resolve(new Response("ok"));
      if (url === "http://origin-a/metrics") {
        return Promise.resolve(
          new Response('cascade_ingest_bits_per_second{stream="alpha"} 640000\n'),
        );
      }
      if (url === "http://e1/healthz") return Promise.resolve(new Response("", { status: 500 }));
      return Promise.reject(new TypeError("connection refused"));
    },
  });
  try {
    await registry.announceNode({
      id: "origin-a",
      kind: "origin",
      url: "http://origin-a",
      region: "eu",
      load: 1,
      startedAt: 0,
    });
    await registry.announceNode(edge("e1", "eu", 3));
    await registry.announceNode(edge("e2", "eu", 0));
    await registry.claimStream(record("alpha"), 10_000);
    const snapshots: DashboardSnapshot[] = [];
    const done = Promise.withResolvers<DashboardSnapshot>();
    const unsubscribe = feed.subscribe({
      snapshot: (s) => {
        snapshots.push(s);
        const health = s.nodes.map((n) => n.health);
        if (!health.includes("unknown") && s.streams[0]?.bitrate !== null) done.resolve(s);
      },
      close: () => done.reject(new Error("closed")),
    });
    const s = await done.promise;
    unsubscribe();
    assert.deepEqual(s.nodes.map((n) => [n.id, n.health]), [
      ["origin-a", "ok"],
      ["e1", "failing"],
      ["e2", "unreachable"],
    ]);
    assert.equal(s.streams[0]!.bitrate, 640_000);
    assert.equal(feed.listeners, 0);
  } finally {
    feed.close();
    await registry.close();
  }
});

Deno.test("DashboardFeed keeps the last lists and says so while the registry is unreachable", async () => {
  const registry = new MemoryRegistry();
  let clock = 1_000_000;
  const feed = new DashboardFeed({
    registry,
    log,
    probeNodes: false,
    scrapeOriginMetrics: false,
    now: () => clock,
  });
  try {
    await registry.claimStream(record("alpha"), 10_000);
    assert.equal((await feed.snapshot()).registry, "ok");
    registry.setOnline(false);
    clock += 5000; // past the cache of polled snapshots
    const snap = await feed.snapshot();
    assert.equal(snap.registry, "unavailable");
    assert.deepEqual(snap.streams.map((s) => s.name), ["alpha"]);
  } finally {
    registry.setOnline(true);
    feed.close();
    await registry.close();
  }
});

Deno.test("DashboardFeed.close() ends every listener and refuses new ones", () => {
  const registry = new MemoryRegistry();
  const feed = new DashboardFeed({ registry, log, probeNodes: false });
  let closed = 0;
  feed.subscribe({ snapshot: () => {}, close: () => closed++ });
  feed.close();
  feed.subscribe({ snapshot: () => {}, close: () => closed++ });
  assert.equal(closed, 2);
  assert.equal(feed.listeners, 0);
  return registry.close();
});

Deno.test("DashboardFeed shows the encoder figures of a stream's record and warns of long GOPs", async () => {
  const registry = new MemoryRegistry();
  const feed = new DashboardFeed({
    registry,
    log,
    probeNodes: false,
    scrapeOriginMetrics: false,
    // In-process figures win over the record's, which may be a segment old.
    streamStats: (name) =>
      name === "live-here" ? { frameRate: 25, keyframeInterval: 2 } : undefined,
  });
  try {
    const media = {
      keyframeInterval: 8.333,
      frameRate: 30,
      width: 1920,
      height: 1080,
      bitrate: 4_500_000,
      segmentSeconds: 2,
    };
    await registry.claimStream({ ...record("obs"), codecs: "avc1.640028", media }, 10_000);
    await registry.claimStream(
      { ...record("good"), media: { ...media, keyframeInterval: 2, bitrate: null } },
      10_000,
    );
    await registry.claimStream(record("live-here"), 10_000);
    const streams = new Map((await feed.snapshot()).streams.map((s) => [s.name, s]));
    const obs = streams.get("obs")!;
    assert.deepEqual(
      [obs.keyframeInterval, obs.frameRate, obs.width, obs.height, obs.bitrate, obs.codecs],
      [8.333, 30, 1920, 1080, 4_500_000, "avc1.640028"],
    );
    assert.deepEqual(obs.warnings, [{
      code: "keyframe_interval",
      message: "Keyframe interval 8.3 s — set 2 s in OBS → Settings → Output (ffmpeg: -g 60)",
    }]);
    const good = streams.get("good")!;
    assert.deepEqual([good.keyframeInterval, good.bitrate, good.warnings], [2, null, []]);
    const here = streams.get("live-here")!;
    assert.deepEqual([here.keyframeInterval, here.frameRate, here.warnings], [2, 25, []]);
  } finally {
    feed.close();
    await registry.close();
  }
});

Deno.test("DashboardFeed passes on each node's usage and links each stream's thumbnail", async () => {
  const registry = new MemoryRegistry();
  const feed = new DashboardFeed({ registry, log, probeNodes: false, scrapeOriginMetrics: false });
  try {
    await registry.announceNode({
      id: "origin-a",
      kind: "origin",
      url: "http://origin-a",
      region: "eu",
      load: 1,
      startedAt: 0,
      cpu: 0.125,
      rss: 80_000_000,
    });
    await registry.announceNode({ ...edge("e1", "eu", 3), egressBitsPerSecond: 2_000_000 });
    await registry.claimStream(record("alpha"), 10_000);
    const s = await feed.snapshot();
    assert.deepEqual(
      s.nodes.map((n) => [n.id, n.cpu, n.rss, n.egressBitsPerSecond]),
      [["origin-a", 0.125, 80_000_000, null], ["e1", null, null, 2_000_000]],
    );
    assert.equal(s.streams[0]!.watchUrl, "http://e1/watch/alpha");
    assert.equal(s.streams[0]!.thumbnailUrl, "http://e1/live/alpha/thumb.jpg");
  } finally {
    feed.close();
    await registry.close();
  }
});

Deno.test("DashboardFeed shows renditions on their source, not as streams of their own", async () => {
  const registry = new MemoryRegistry();
  const feed = new DashboardFeed({ registry, log, probeNodes: false, scrapeOriginMetrics: false });
  try {
    for (const name of ["alpha", "alpha_480p", "alpha_240p", "beta"]) {
      await registry.claimStream(record(name), 10_000);
    }
    const s = await feed.snapshot();
    assert.deepEqual(
      s.streams.map((x) => [x.name, x.renditions]),
      [["alpha", ["480p", "240p"]], ["beta", []]],
    );
  } finally {
    feed.close();
    await registry.close();
  }
});
