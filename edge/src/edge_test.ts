/**
 * The edge's behaviour through its Hono app (`app.request()`), against a real registry
 * (`MemoryRegistry`) and a scriptable origin on a real socket (`FakeOrigin`): caching and
 * its headers, coalescing, validation of origin bodies, failover, stale playlists, signed
 * playback, limits and outages.
 */
import assert from "node:assert/strict";
import { quietLog } from "../../lib/common/testing/log.ts";
import type { StreamRecord, VodRecord } from "@cascade/registry/types";
import { signPlaybackToken } from "@cascade/common/playback_token";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import type { Hono } from "hono";
import { FakeOrigin, fakePlaylist, fakeSegment } from "../testing/fake_origin.ts";
import { CountingRegistry, registryEvents, streamRecord } from "../testing/registry.ts";
import { createEdgeApp } from "./app.ts";
import { edgeNodeRecord, startEdgeHeartbeat } from "./announce.ts";
import { DEFAULT_PLAYLIST_FRESH_MS, Edge, type EdgeOptions, LIVE_GRACE_SEGMENTS } from "./edge.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { captureLog } from "../../tests/helpers/log.ts";
import { MAX_MISS_MS } from "./misses.ts";

const KEY = "k".repeat(32);

function record(name: string, origin: FakeOrigin, over: Partial<StreamRecord> = {}): StreamRecord {
  return streamRecord(name, origin.url, over);
}

interface Setup extends AsyncDisposable {
  origin: FakeOrigin;
  registry: CountingRegistry;
  edge: Edge;
  app: Hono;
  clock: { now: number };
  /** The lookup memo's clock. */
  monotonic: { now: number };
  get(path: string, init?: RequestInit): Promise<Response>;
  claim(name: string, over?: Partial<StreamRecord>, origin?: FakeOrigin): Promise<void>;
}

async function setup(opts: Partial<EdgeOptions> = {}): Promise<Setup> {
  const origin = FakeOrigin.start();
  const registry = new CountingRegistry({ log: quietLog });
  const clock = { now: Date.now() };
  const monotonic = { now: 0 };
  const edge = new Edge({
    registry,
    cacheBytes: 64 * 1024 * 1024,
    log: quietLog,
    now: () => clock.now,
    playlistTimeoutMs: 500,
    segmentTimeoutMs: 1000,
    lookup: { clock: () => monotonic.now },
    ...opts,
  });
  await edge.start();
  const app = createEdgeApp(edge);
  return {
    origin,
    registry,
    edge,
    app,
    clock,
    monotonic,
    get: async (path, init) => await app.request(path, init),
    async claim(name, over = {}, o = origin) {
      const result = await registry.claimStream(record(name, o, over), 60_000);
      assert.ok(result.ok);
    },
    async [Symbol.asyncDispose]() {
      await edge.close();
      await registry.close();
      await origin.close();
    },
  };
}

async function bytes(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * The `cam` playlist just fetched (3 segments from 100, target duration 4) stays a HIT for
 * `freshMs`, then the next request fetches the origin's newer one.
 */
async function assertFreshFor(s: Setup, freshMs: number): Promise<void> {
  s.clock.now += freshMs - 1;
  assert.equal((await s.get("/live/cam/index.m3u8")).headers.get("x-cache"), "HIT");
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(101, 3, 4) });
  s.clock.now += 1;
  const refreshed = await s.get("/live/cam/index.m3u8");
  assert.equal(refreshed.headers.get("x-cache"), "MISS");
  assert.equal(await refreshed.text(), fakePlaylist(101, 3, 4));
}

Deno.test("a segment is fetched once, then served from memory with long-lived cache headers", async () => {
  await using s = await setup();
  const segment = fakeSegment(100);
  s.origin.files.set("/live/cam/100.ts", { body: segment });
  await s.claim("cam");

  const first = await s.get("/live/cam/100.ts");
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("x-cache"), "MISS");
  assert.deepEqual(await bytes(first), segment);
  const second = await s.get("/live/cam/100.ts");
  assert.equal(second.headers.get("x-cache"), "HIT");
  assert.deepEqual(await bytes(second), segment);
  assert.equal(second.headers.get("content-type"), "video/mp2t");
  assert.equal(second.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(second.headers.get("content-length"), String(segment.byteLength));
  assert.equal(second.headers.get("accept-ranges"), "bytes");
  assert.equal(second.headers.get("access-control-allow-origin"), "*");
  assert.match(second.headers.get("access-control-expose-headers") ?? "", /X-Cache/);
  assert.match(second.headers.get("etag") ?? "", /^"[0-9a-f]+-[0-9a-f]+"$/);
  s.clock.now += 3_500;
  assert.equal((await s.get("/live/cam/100.ts")).headers.get("age"), "3");
  assert.equal(s.origin.count("/live/cam/100.ts"), 1);
});

Deno.test("500 concurrent requests for one cold segment cause exactly one origin request", async () => {
  await using s = await setup();
  const segment = fakeSegment(4357); // ~800 KB
  const { promise: release, resolve } = Promise.withResolvers<void>();
  s.origin.files.set("/live/cam/7.ts", { body: segment, delay: release });
  await s.claim("cam");

  const pending = Array.from({ length: 500 }, () => s.get("/live/cam/7.ts"));
  // Release the origin once the fetch is surely in flight.
  await waitFor("the origin fetch", () => s.origin.count("/live/cam/7.ts") > 0, {
    timeoutMs: 30_000,
    intervalMs: 5,
  });
  resolve();
  const responses = await Promise.all(pending);
  assert.equal(s.origin.count("/live/cam/7.ts"), 1);
  const caches = responses.map((r) => r.headers.get("x-cache"));
  assert.equal(caches.filter((c) => c === "MISS").length, 1);
  assert.equal(caches.filter((c) => c === "COALESCED").length, 499);
  for (const res of responses) {
    assert.equal(res.status, 200);
    assert.deepEqual(await bytes(res), segment);
  }
});

Deno.test("concurrent requests for a stale playlist share one origin request too", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(100), delay: 50 });
  await s.claim("cam");
  const responses = await Promise.all(
    Array.from({ length: 200 }, () => s.get("/live/cam/index.m3u8")),
  );
  assert.equal(s.origin.count("/live/cam/index.m3u8"), 1);
  assert.deepEqual(
    new Set(responses.map((r) => r.headers.get("x-cache"))),
    new Set(["MISS", "COALESCED"]),
  );
  for (const res of responses) assert.equal(await res.text(), fakePlaylist(100));
});

Deno.test("a playlist is cached for at most half a target duration and served byte for byte", async () => {
  await using s = await setup({ playlistFreshMs: 60_000 });
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(100, 3, 4) });
  await s.claim("cam", { targetDuration: 4 });

  const first = await s.get("/live/cam/index.m3u8");
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), "application/vnd.apple.mpegurl");
  assert.equal(first.headers.get("cache-control"), "public, max-age=2");
  assert.equal(await first.text(), fakePlaylist(100, 3, 4));
  await assertFreshFor(s, 2_000);
});

Deno.test("a live playlist is fresh for playlistFreshMs (default 1 s) when that is shorter", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(100, 3, 4) });
  await s.claim("cam", { targetDuration: 4 });
  assert.equal((await s.get("/live/cam/index.m3u8")).headers.get("x-cache"), "MISS");
  await assertFreshFor(s, DEFAULT_PLAYLIST_FRESH_MS);
});

Deno.test("stream.update (a newer playlist at the origin) drops the cached playlist at once", async () => {
  await using s = await setup({ playlistFreshMs: 60_000 });
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(100, 3, 4) });
  await s.claim("cam", { targetDuration: 4, updatedAt: 1000 });
  assert.equal((await s.get("/live/cam/index.m3u8")).headers.get("x-cache"), "MISS");
  assert.equal((await s.get("/live/cam/index.m3u8")).headers.get("x-cache"), "HIT");
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(101, 3, 4) });
  s.clock.now += 1;
  // Discovery refreshes the claim with the new playlist's time; the registry says so.
  await s.claim("cam", { targetDuration: 4, updatedAt: 3000 });
  const changed = await waitFor("the edge to refetch", async () => {
    const res = await s.get("/live/cam/index.m3u8");
    const text = await res.text();
    return text === fakePlaylist(101, 3, 4) ? res : undefined;
  }, { timeoutMs: 30_000 });
  assert.equal(changed.headers.get("x-cache"), "MISS");
});

Deno.test("live segments leave the cache once a newer playlist no longer lists them (plus a grace)", async () => {
  await using s = await setup({ playlistFreshMs: 1 });
  for (let seq = 100; seq < 110; seq++) {
    s.origin.files.set(`/live/cam/${seq}.ts`, { body: fakeSegment(seq) });
  }
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(100, 3, 2) });
  await s.claim("cam");
  assert.equal((await s.get("/live/cam/index.m3u8")).status, 200);
  for (let seq = 100; seq < 106; seq++) {
    assert.equal((await s.get(`/live/cam/${seq}.ts`)).status, 200);
  }
  const held = () => [...s.edge.cache.keys()].filter((k) => k.endsWith(".ts")).length;
  assert.equal(held(), 6);

  // The window moves to 106: segments below 106 - LIVE_GRACE_SEGMENTS go, the rest stay.
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(106, 3, 2) });
  s.clock.now += 10;
  assert.equal((await s.get("/live/cam/index.m3u8")).headers.get("x-cache"), "MISS");
  const kept = [...s.edge.cache.keys()].filter((k) => k.endsWith(".ts")).map((k) =>
    Number(k.slice(k.lastIndexOf("/") + 1, -3))
  ).sort((a, b) => a - b);
  const from = 106 - LIVE_GRACE_SEGMENTS;
  assert.deepEqual(kept, Array.from({ length: 106 - from }, (_, i) => from + i));
  // A late request for a dropped segment still works: it is fetched again.
  const late = await s.get("/live/cam/100.ts");
  assert.equal(late.status, 200);
  assert.equal(late.headers.get("x-cache"), "MISS");
});

Deno.test("a playlist answers 304 to its ETag until it changes", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(100) });
  await s.claim("cam");
  const first = await s.get("/live/cam/index.m3u8");
  const etag = first.headers.get("etag")!;
  await first.body?.cancel();
  const same = await s.get("/live/cam/index.m3u8", { headers: { "If-None-Match": etag } });
  assert.equal(same.status, 304);
  assert.equal(same.headers.get("etag"), etag);
  assert.equal(await same.text(), "");

  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(101) });
  s.clock.now += 5_000;
  const changed = await s.get("/live/cam/index.m3u8", { headers: { "If-None-Match": etag } });
  assert.equal(changed.status, 200);
  assert.notEqual(changed.headers.get("etag"), etag);
  await changed.body?.cancel();
});

Deno.test("segments answer byte ranges with 206 and unsatisfiable ones with 416", async () => {
  await using s = await setup();
  const segment = fakeSegment(10);
  s.origin.files.set("/live/cam/1.ts", { body: segment });
  await s.claim("cam");

  const part = await s.get("/live/cam/1.ts", { headers: { Range: "bytes=100-299" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes 100-299/${segment.byteLength}`);
  assert.equal(part.headers.get("content-length"), "200");
  assert.deepEqual(await bytes(part), segment.subarray(100, 300));

  const tail = await s.get("/live/cam/1.ts", { headers: { Range: "bytes=-188" } });
  assert.deepEqual(await bytes(tail), segment.subarray(segment.byteLength - 188));

  const bad = await s.get("/live/cam/1.ts", { headers: { Range: "bytes=5000-" } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers.get("content-range"), `bytes */${segment.byteLength}`);
  await bad.body?.cancel();

  const stale = await s.get("/live/cam/1.ts", {
    headers: { Range: "bytes=0-9", "If-Range": '"other"' },
  });
  assert.equal(stale.status, 200);
  assert.equal((await bytes(stale)).byteLength, segment.byteLength);

  const head = await s.get("/live/cam/1.ts", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get("content-length"), String(segment.byteLength));
  assert.equal((await bytes(head)).byteLength, 0);
  assert.equal(s.origin.count("/live/cam/1.ts"), 1);
});

Deno.test("a truncated origin body is a 502 for every waiter and is never cached", async () => {
  await using s = await setup();
  const segment = fakeSegment(1000);
  s.origin.files.set("/live/cam/5.ts", { body: segment, cutAt: 50_000, delay: 20 });
  await s.claim("cam");

  const responses = await Promise.all(Array.from({ length: 20 }, () => s.get("/live/cam/5.ts")));
  for (const res of responses) {
    assert.equal(res.status, 502);
    assert.equal((await res.json()).error.code, "bad_gateway");
  }
  // One fetch and one retry after a fresh lookup, shared by all twenty.
  assert.equal(s.origin.count("/live/cam/5.ts"), 2);

  s.origin.files.set("/live/cam/5.ts", { body: segment });
  const healed = await s.get("/live/cam/5.ts");
  assert.equal(healed.status, 200);
  assert.equal(healed.headers.get("x-cache"), "MISS");
  assert.deepEqual(await bytes(healed), segment);
});

Deno.test("garbage, 5xx and short bodies from the origin are 502 and the edge keeps serving", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/1.ts", { body: "<html>oops</html>" });
  s.origin.files.set("/live/cam/2.ts", { status: 503, body: "busy" });
  s.origin.files.set("/live/cam/3.ts", { body: fakeSegment(3).subarray(0, 500) });
  s.origin.files.set("/live/cam/4.ts", { body: fakeSegment(3) });
  s.origin.files.set("/live/bad/index.m3u8", { body: "not a playlist" });
  await s.claim("cam");
  await s.claim("bad");
  for (
    const path of ["/live/cam/1.ts", "/live/cam/2.ts", "/live/cam/3.ts", "/live/bad/index.m3u8"]
  ) {
    const res = await s.get(path);
    assert.equal(res.status, 502, path);
    await res.body?.cancel();
  }
  assert.equal((await s.get("/live/cam/4.ts")).status, 200);
  const metrics = await (await s.get("/metrics")).text();
  assert.match(metrics, /cascade_edge_origin_errors_total\{reason="invalid"\} [1-9]/);
  assert.match(metrics, /cascade_edge_origin_errors_total\{reason="status"\} [1-9]/);
});

Deno.test("a segment the origin does not have is a 404", async () => {
  await using s = await setup();
  await s.claim("cam");
  const res = await s.get("/live/cam/999.ts");
  assert.equal(res.status, 404);
  await res.body?.cancel();
});

Deno.test("origin 404s are remembered briefly and shared: 200 requests for a missing segment cost one origin request", async () => {
  await using s = await setup();
  await s.claim("cam", { targetDuration: 4 });
  const { promise: release, resolve } = Promise.withResolvers<void>();
  s.origin.files.set("/live/cam/999.ts", { status: 404, delay: release });

  const pending = Array.from({ length: 200 }, () => s.get("/live/cam/999.ts"));
  await waitFor("the origin fetch", () => s.origin.count("/live/cam/999.ts") > 0, {
    timeoutMs: 30_000,
    intervalMs: 5,
  });
  resolve();
  for (const res of await Promise.all(pending)) {
    assert.equal(res.status, 404);
    await res.body?.cancel();
  }
  assert.equal(s.origin.count("/live/cam/999.ts"), 1);

  s.clock.now += MAX_MISS_MS - 1; // within the window (1 s; half a target duration is 2 s)
  for (let i = 0; i < 50; i++) {
    const res = await s.get("/live/cam/999.ts");
    assert.equal(res.status, 404);
    await res.body?.cancel();
  }
  assert.equal(s.origin.count("/live/cam/999.ts"), 1);

  s.clock.now += 1; // the window is over: the origin is asked again, once
  await Promise.all(Array.from({ length: 20 }, async () => {
    await (await s.get("/live/cam/999.ts")).body?.cancel();
  }));
  assert.equal(s.origin.count("/live/cam/999.ts"), 2);
});

Deno.test("a remembered 404 lasts at most half a target duration and ends when a playlist lists the file", async () => {
  await using s = await setup({ playlistFreshMs: 100 });
  await s.claim("cam", { targetDuration: 1 });
  await (await s.get("/live/cam/5.ts")).body?.cancel();
  s.clock.now += 499;
  await (await s.get("/live/cam/5.ts")).body?.cancel();
  assert.equal(s.origin.count("/live/cam/5.ts"), 1);
  s.clock.now += 1; // half of the 1 s target duration
  await (await s.get("/live/cam/5.ts")).body?.cancel();
  assert.equal(s.origin.count("/live/cam/5.ts"), 2);

  // The segment appears and a playlist lists it: the remembered 404 is dropped at once.
  s.origin.files.set("/live/cam/5.ts", { body: fakeSegment(5) });
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(3, 3, 1) });
  await (await s.get("/live/cam/index.m3u8")).body?.cancel();
  const found = await s.get("/live/cam/5.ts");
  assert.equal(found.status, 200);
  assert.deepEqual(await bytes(found), fakeSegment(5));
});

Deno.test("502 and 504 bodies name no origin address; the log keeps the detail", async () => {
  const log = captureLog();
  await using s = await setup({ log, playlistTimeoutMs: 200 });
  const { hostname, port } = new URL(s.origin.url);
  await s.claim("cam");
  await s.claim("slow");
  s.origin.handler = (path) => path.startsWith("/live/slow/") ? { hang: true } : undefined;
  const timeout = await s.get("/live/slow/index.m3u8");
  assert.equal(timeout.status, 504);
  const timeoutBody = await timeout.text();
  await s.origin.close(); // refused connections: the error names host and port
  const failed = await s.get("/live/cam/7.ts");
  assert.equal(failed.status, 502);
  const failedBody = await failed.text();
  for (const body of [timeoutBody, failedBody]) {
    assert.doesNotMatch(body, new RegExp(hostname.replaceAll(".", "\\.")));
    assert.doesNotMatch(body, new RegExp(`\\b${port}\\b`));
    assert.equal(typeof JSON.parse(body).error.message, "string");
  }
  assert.equal(JSON.parse(failedBody).error.code, "bad_gateway");
  assert.equal(JSON.parse(timeoutBody).error.code, "gateway_timeout");
  const logged = log.events("edge.origin_failed").map((l) => String(l.fields.error));
  assert.ok(logged.some((e) => e.includes(port)), logged.join("\n"));
});

Deno.test("a registry record whose origin URL is not plain http(s) is ignored with one warning", async () => {
  const log = captureLog();
  await using s = await setup({ log });
  const bad = [
    "file:///etc",
    "gopher://127.0.0.1:70",
    `http://user:pw@${new URL(s.origin.url).host}`,
  ];
  const names = bad.map((_, i) => `bad${i}`);
  bad.forEach((originUrl, i) => {
    const name = names[i]!;
    const manifest = `${s.origin.url}/live/${name}/index.m3u8`;
    // Written straight into the store, as an older or hostile writer would.
    s.registry.store.streams.set(name, record(name, s.origin, { originUrl, manifest }), 60_000);
  });
  const vod: VodRecord = {
    name: "bad0",
    originId: "origin-1",
    originUrl: "javascript:alert(1)",
    manifest: "javascript:alert(1)",
    updatedAt: 5_000,
    targetDuration: 2,
  };
  s.registry.store.vods.set("bad0", vod, 60_000);
  for (let round = 0; round < 3; round++) {
    for (const name of names) {
      for (const file of ["index.m3u8", "7.ts", "vod.m3u8"]) {
        const res = await s.get(`/live/${name}/${file}`);
        assert.equal(res.status, 404, `${name}/${file}`);
        assert.equal((await res.json()).error.code, "stream_not_found");
      }
    }
    s.monotonic.now += 2_000; // past the lookup memo: the registry is read again
  }
  assert.equal(s.origin.requests.length, 0);
  const warned = log.events("edge.record_refused");
  assert.deepEqual(
    warned.map((l) => `${l.fields.kind}:${l.fields.stream}`).sort(),
    ["stream:bad0", "stream:bad1", "stream:bad2", "vod:bad0"],
  );
  for (const line of warned) assert.doesNotMatch(JSON.stringify(line.fields), /pw@/);
});

Deno.test("bad names and files are refused without touching the registry or an origin", async () => {
  await using s = await setup();
  await s.claim("cam");
  const cases: [string, number][] = [
    ["/live/Bad!/index.m3u8", 400],
    ["/live/cam/..%2f..%2fetc%2fpasswd", 400],
    ["/live/cam/index.html", 404],
    ["/live/cam/1.mp4", 404],
    ["/live/cam", 404],
    ["/elsewhere", 404],
  ];
  for (const [path, status] of cases) {
    const res = await s.get(path);
    assert.equal(res.status, status, path);
    assert.equal(typeof (await res.json()).error.code, "string");
  }
  const post = await s.get("/live/cam/index.m3u8", { method: "POST" });
  assert.equal(post.status, 405);
  await post.body?.cancel();
  assert.equal(s.registry.gets, 0);
  assert.equal(s.origin.requests.length, 0);
});

Deno.test("a stream that is not live is a fast 404 and memoized briefly", async () => {
  await using s = await setup();
  const res = await s.get("/live/nobody/index.m3u8");
  assert.equal(res.status, 404);
  assert.equal((await res.json()).error.code, "stream_not_found");
  await (await s.get("/live/nobody/index.m3u8")).body?.cancel();
  assert.equal(s.registry.gets, 1);
});

Deno.test("a watched stream's final playlist (with ENDLIST) and its segments outlive the release for a few target durations", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(1) });
  s.origin.files.set("/live/cam/3.ts", { body: fakeSegment(3) });
  await s.claim("cam");
  assert.equal((await s.get("/live/cam/index.m3u8")).status, 200);
  // The origin writes its last playlist and releases the claim before any edge fetched it.
  const final = fakePlaylist(1) + "#EXT-X-ENDLIST\n";
  s.origin.files.set("/live/cam/index.m3u8", { body: final });
  await s.registry.releaseStream("cam", "origin-1");
  await registryEvents(); // the stream.down event
  s.clock.now += 1_000; // past the playlist's freshness: the edge must ask again

  const ended = await Promise.all(Array.from({ length: 10 }, () => s.get("/live/cam/index.m3u8")));
  for (const res of ended) {
    assert.equal(res.status, 200);
    assert.equal(await res.text(), final);
  }
  // One fetch for all ten, and none while the final playlist is kept.
  assert.equal(s.origin.count("/live/cam/index.m3u8"), 2);
  s.clock.now += 5_000; // within 3 target durations (2 s each) of the fetch
  const again = await s.get("/live/cam/index.m3u8");
  assert.equal(await again.text(), final);
  const segment = await s.get("/live/cam/3.ts");
  assert.equal(segment.status, 200);
  assert.deepEqual(await bytes(segment), fakeSegment(3));
  assert.equal(s.origin.count("/live/cam/index.m3u8"), 2);

  s.clock.now += 1_001; // more than 3 target durations: the stream is simply not live
  const gone = await s.get("/live/cam/index.m3u8");
  assert.equal(gone.status, 404);
  assert.equal((await gone.json()).error.code, "stream_not_found");
  // A stream nobody watched here was never asked about.
  const never = await s.get("/live/other/index.m3u8");
  assert.equal((await never.json()).error.code, "stream_not_found");
  assert.equal(s.origin.count("/live/other/index.m3u8"), 0);
});

Deno.test("a released stream without a final playlist is a 404, its origin asked once (even if it hangs)", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(1) });
  s.origin.files.set("/live/cut/index.m3u8", { body: fakePlaylist(1) });
  await s.claim("cam");
  await s.claim("cut");
  assert.equal((await s.get("/live/cam/index.m3u8")).status, 200);
  assert.equal((await s.get("/live/cut/index.m3u8")).status, 200);
  s.origin.handler = (path) => path.startsWith("/live/cam/") ? { hang: true } : undefined;
  await s.registry.releaseStream("cam", "origin-1");
  await s.registry.releaseStream("cut", "origin-1");
  await registryEvents();
  s.clock.now += 1_000;
  for (const name of ["cam", "cut"]) {
    for (let i = 0; i < 3; i++) {
      const res = await s.get(`/live/${name}/index.m3u8`);
      assert.equal(res.status, 404, name);
      assert.equal((await res.json()).error.code, "stream_not_found");
    }
    // Asked once after the release (no ENDLIST, or no answer), never again.
    assert.equal(s.origin.count(`/live/${name}/index.m3u8`), 2, name);
  }
});

Deno.test("when an origin fails, the edge looks the stream up again and retries the new owner", async () => {
  await using s = await setup();
  await using second = FakeOrigin.start();
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(1) });
  second.files.set("/live/cam/index.m3u8", { body: fakePlaylist(50) });
  await s.claim("cam");
  await (await s.get("/live/cam/index.m3u8")).body?.cancel();

  // The stream moved without the edge hearing of it (an event lost in an outage).
  s.registry.store.streams.set("cam", record("cam", second, { originId: "origin-2" }), 60_000);
  await s.origin.close();
  s.clock.now += 1_500;
  const res = await s.get("/live/cam/index.m3u8");
  assert.equal(res.status, 200);
  const served = parsePlaylist(await res.text());
  assert.equal(served.segments[0]!.uri, "50.ts");
  assert.equal(served.segments[0]!.discontinuity, true);
  assert.equal(second.count("/live/cam/index.m3u8"), 1);
});

Deno.test("a playlist is served stale for up to three target durations while its origin fails", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(1) });
  await s.claim("cam");
  await (await s.get("/live/cam/index.m3u8")).body?.cancel();
  s.origin.handler = () => ({ status: 500 });

  for (const ms of [1_500, 4_400]) {
    s.clock.now += ms; // 1.5 s, then 5.9 s old: within three target durations of 2 s
    const stale = await s.get("/live/cam/index.m3u8");
    assert.equal(stale.status, 200);
    assert.equal(stale.headers.get("x-cache"), "STALE");
    assert.equal(stale.headers.get("cache-control"), "no-cache");
    assert.equal(await stale.text(), fakePlaylist(1));
  }

  s.clock.now += 200; // 6.1 s old
  const gone = await s.get("/live/cam/index.m3u8");
  assert.equal(gone.status, 502, "an origin that answers badly is a bad gateway");
  await gone.body?.cancel();
});

Deno.test("an origin that cannot be reached: the last playlist for three target durations, then 404", async () => {
  await using s = await setup();
  const dying = FakeOrigin.start();
  dying.files.set("/live/cam/index.m3u8", { body: fakePlaylist(1) });
  await s.claim("cam", {}, dying);
  await (await s.get("/live/cam/index.m3u8")).body?.cancel();
  await dying.close();

  s.clock.now += 5_900;
  const stale = await s.get("/live/cam/index.m3u8");
  assert.equal(stale.status, 200);
  assert.equal(stale.headers.get("x-cache"), "STALE");
  await stale.body?.cancel();

  s.clock.now += 200;
  const gone = await s.get("/live/cam/index.m3u8");
  assert.equal(gone.status, 404);
  assert.equal((await gone.json()).error.code, "stream_unreachable");
});

Deno.test("an origin that stalls is a 504 within the playlist timeout, or a stale copy", async () => {
  await using s = await setup({ playlistTimeoutMs: 200 });
  await s.claim("cam");
  s.origin.handler = () => ({ hang: true });
  const res = await s.get("/live/cam/index.m3u8");
  assert.equal(res.status, 504);
  await res.body?.cancel();
  // One attempt only: retrying an owner that timed out would double the wait.
  assert.equal(s.origin.count("/live/cam/index.m3u8"), 1);

  s.origin.handler = undefined;
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(1) });
  s.clock.now += 10_000;
  await (await s.get("/live/cam/index.m3u8")).body?.cancel();
  s.origin.handler = () => ({ hang: true });
  s.clock.now += 1_200;
  const stale = await s.get("/live/cam/index.m3u8");
  assert.equal(stale.headers.get("x-cache"), "STALE");
  await stale.body?.cancel();
});

Deno.test("two broadcasts of one name never share cache entries", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/1.ts", { body: fakeSegment(2, 1) });
  await s.claim("cam", { startedAt: 1 });
  assert.deepEqual(await bytes(await s.get("/live/cam/1.ts")), fakeSegment(2, 1));
  await s.registry.releaseStream("cam", "origin-1");
  s.origin.files.set("/live/cam/1.ts", { body: fakeSegment(2, 2) });
  await s.claim("cam", { startedAt: 2 });
  await registryEvents();
  const res = await s.get("/live/cam/1.ts");
  assert.equal(res.headers.get("x-cache"), "MISS");
  assert.deepEqual(await bytes(res), fakeSegment(2, 2));
});

Deno.test("signed playback: 403 without, with a forged or an expired token; 200 and signed URIs with a valid one", async () => {
  await using s = await setup({ signingKey: KEY });
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(10) });
  s.origin.files.set("/live/cam/10.ts", { body: fakeSegment(2) });
  await s.claim("cam");
  const now = Math.floor(s.clock.now / 1000);
  const valid = await signPlaybackToken(KEY, "cam", now + 60);
  const expired = await signPlaybackToken(KEY, "cam", now - 5);
  const forged = await signPlaybackToken("x".repeat(32), "cam", now + 60);
  const otherStream = await signPlaybackToken(KEY, "other", now + 60);

  for (
    const [query, code] of [
      ["", "token_required"],
      [`?token=${forged}`, "token_invalid"],
      [`?token=${otherStream}`, "token_invalid"],
      ["?token=garbage", "token_invalid"],
      [`?token=${expired}`, "token_expired"],
    ]
  ) {
    const res = await s.get(`/live/cam/index.m3u8${query}`);
    assert.equal(res.status, 403, query);
    assert.equal((await res.json()).error.code, code);
  }
  assert.equal(s.registry.gets, 0);

  const ok = await s.get(`/live/cam/index.m3u8?token=${valid}`);
  assert.equal(ok.status, 200);
  const text = await ok.text();
  assert.deepEqual(
    parsePlaylist(text).segments.map((seg) => seg.uri),
    [10, 11, 12].map((n) => `${n}.ts?token=${valid}`),
  );
  assert.equal((await s.get(`/live/cam/10.ts?token=${valid}`)).status, 200);
  const denied = await s.get("/live/cam/10.ts");
  assert.equal(denied.status, 403);
  await denied.body?.cancel();
});

Deno.test("master.m3u8 passes through with signed variant URIs; a stream's token plays its renditions", async () => {
  await using s = await setup({ signingKey: KEY });
  const master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nindex.m3u8\n" +
    "#EXT-X-STREAM-INF:BANDWIDTH=1\n../cam_480p/index.m3u8\n";
  s.origin.files.set("/live/cam/master.m3u8", { body: new TextEncoder().encode(master) });
  s.origin.files.set("/live/cam_480p/index.m3u8", { body: fakePlaylist(10) });
  await s.claim("cam");
  await s.claim("cam_480p");
  await s.claim("other_480p");
  const now = Math.floor(s.clock.now / 1000);
  const token = await signPlaybackToken(KEY, "cam", now + 60);
  const res = await s.get(`/live/cam/master.m3u8?token=${token}`);
  assert.equal(res.status, 200);
  assert.deepEqual(
    (await res.text()).split("\n").filter((l) => l !== "" && !l.startsWith("#")),
    [`index.m3u8?token=${token}`, `../cam_480p/index.m3u8?token=${token}`],
  );
  const rendition = await s.get(`/live/cam_480p/index.m3u8?token=${token}`);
  assert.equal(rendition.status, 200);
  await rendition.body?.cancel();
  const other = await s.get(`/live/other_480p/index.m3u8?token=${token}`);
  assert.equal(other.status, 403);
  await other.body?.cancel();
});

Deno.test("ll_master.m3u8 passes through like master.m3u8, its ll.m3u8 variant URIs signed", async () => {
  await using s = await setup({ signingKey: KEY });
  const master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nll.m3u8\n" +
    "#EXT-X-STREAM-INF:BANDWIDTH=1\n../cam_240p/ll.m3u8\n";
  s.origin.files.set("/live/cam/ll_master.m3u8", { body: new TextEncoder().encode(master) });
  await s.claim("cam");
  const token = await signPlaybackToken(KEY, "cam", Math.floor(s.clock.now / 1000) + 60);
  const res = await s.get(`/live/cam/ll_master.m3u8?token=${token}`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("cache-control") ?? "", /^public, max-age=\d$/);
  assert.deepEqual(
    (await res.text()).split("\n").filter((l) => l !== "" && !l.startsWith("#")),
    [`ll.m3u8?token=${token}`, `../cam_240p/ll.m3u8?token=${token}`],
  );
});

Deno.test("URLs over 2 KiB get 414 and request headers over 16 KiB get 431", async () => {
  await using s = await setup();
  const long = await s.get(`/live/cam/index.m3u8?pad=${"a".repeat(2100)}`);
  assert.equal(long.status, 414);
  await long.body?.cancel();
  const big = await s.get("/live/cam/index.m3u8", { headers: { "X-Pad": "a".repeat(17_000) } });
  assert.equal(big.status, 431);
  await big.body?.cancel();
  assert.equal(s.registry.gets, 0);
});

Deno.test("with the registry down, known streams keep playing and unknown ones get 503", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(1) });
  s.origin.files.set("/live/cam/1.ts", { body: fakeSegment(5) });
  await s.claim("cam");
  await (await s.get("/live/cam/index.m3u8")).body?.cancel();
  await (await s.get("/live/cam/1.ts")).body?.cancel();

  s.registry.setOnline(false);
  s.clock.now += 5_000; // past the lookup memo and the playlist's freshness
  s.monotonic.now += 5_000;
  assert.equal((await s.get("/live/cam/1.ts")).headers.get("x-cache"), "HIT");
  const playlist = await s.get("/live/cam/index.m3u8");
  assert.equal(playlist.status, 200);
  assert.equal(playlist.headers.get("x-cache"), "MISS");
  await playlist.body?.cancel();
  const unknown = await s.get("/live/other/index.m3u8");
  assert.equal(unknown.status, 503);
  assert.equal((await unknown.json()).error.code, "registry_unavailable");
});

Deno.test("OPTIONS answers a CORS preflight for media paths", async () => {
  await using s = await setup();
  const res = await s.get("/live/cam/index.m3u8", {
    method: "OPTIONS",
    headers: { "Access-Control-Request-Headers": "range" },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.equal(res.headers.get("access-control-allow-headers"), "range");
  assert.match(res.headers.get("access-control-allow-methods") ?? "", /GET/);
});

Deno.test("/healthz turns 503 when draining and /metrics reports cache outcomes and bytes", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/1.ts", { body: fakeSegment(10) });
  await s.claim("cam");
  await (await s.get("/live/cam/1.ts")).body?.cancel();
  await (await s.get("/live/cam/1.ts")).body?.cancel();
  const text = await (await s.get("/metrics")).text();
  assert.equal((await s.get("/healthz")).status, 200);
  assert.match(text, /cascade_edge_cache_results_total\{kind="segment",result="miss"\} 1/);
  assert.match(text, /cascade_edge_cache_results_total\{kind="segment",result="hit"\} 1/);
  assert.match(text, /cascade_edge_bytes_out_total 3760/);
  assert.match(text, /cascade_edge_requests_total\{status="200"\} 2/);
  assert.match(text, /cascade_edge_origin_fetch_seconds_count\{kind="segment"\} 1/);
  assert.match(text, /cascade_edge_cache_bytes [1-9]/);
  s.edge.drain();
  const draining = await s.get("/healthz");
  assert.equal(draining.status, 503);
  const body = await draining.json();
  assert.deepEqual({ ...body, uptimeSeconds: 0 }, {
    status: "draining",
    role: "edge",
    id: "edge",
    uptimeSeconds: 0,
  });
});

Deno.test("the heartbeat announces node:edge with viewers and egress, and stop() withdraws it", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/1.ts", { body: fakeSegment(10) });
  await s.claim("cam");
  for (let i = 0; i < 3; i++) await (await s.get("/live/cam/1.ts")).body?.cancel();
  const who = { id: "edge-a", url: "http://edge-a:8000", region: "eu", startedAt: 5 };
  const now = edgeNodeRecord(s.edge, who);
  assert.equal(now.kind, "edge");
  assert.ok(now.viewers > 0);
  assert.ok(now.egressBitsPerSecond > 0);
  assert.equal(now.load, now.viewers);

  const heartbeat = startEdgeHeartbeat(s.registry, s.edge, who, 50);
  const stored = await waitFor("node:edge:edge-a", () => s.registry.getNode("edge", "edge-a"), {
    timeoutMs: 30_000,
  });
  assert.equal(stored.url, "http://edge-a:8000");
  assert.equal(stored.region, "eu");
  await heartbeat.stop();
  assert.equal(await s.registry.getNode("edge", "edge-a"), null);
});

/** A finished broadcast's VOD playlist: every segment, `#EXT-X-PLAYLIST-TYPE:VOD`, ended. */
function fakeVod(first: number, count = 3): string {
  return fakePlaylist(first, count).replace(
    "#EXT-X-VERSION:3\n",
    "#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n",
  ) +
    "#EXT-X-ENDLIST\n";
}

function vod(name: string, origin: FakeOrigin, over: Partial<VodRecord> = {}): VodRecord {
  return {
    name,
    originId: "origin-1",
    originUrl: origin.url,
    manifest: `${origin.url}/live/${name}/vod.m3u8`,
    updatedAt: 5_000,
    targetDuration: 2,
    ...over,
  };
}

Deno.test("a name that is not live plays its VOD from the origin vod:{name} names", async () => {
  await using s = await setup();
  s.origin.files.set("/live/cam/vod.m3u8", { body: fakeVod(100) });
  s.origin.files.set("/live/cam/vod-100.m3u8", { body: fakeVod(100) });
  s.origin.files.set("/live/cam/101.ts", { body: fakeSegment(4) });
  assert.equal(await s.registry.announceVod(vod("cam", s.origin), 60_000), true);

  const first = await s.get("/live/cam/vod.m3u8");
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("x-cache"), "MISS");
  assert.equal(first.headers.get("cache-control"), "public, max-age=60");
  // Served as the origin wrote it: not renumbered into the name's live timeline.
  assert.equal(await first.text(), fakeVod(100));
  s.clock.now += 59_000;
  assert.equal((await s.get("/live/cam/vod.m3u8")).headers.get("x-cache"), "HIT");
  s.clock.now += 1_000;
  assert.equal((await s.get("/live/cam/vod.m3u8")).headers.get("x-cache"), "MISS");
  assert.equal(await (await s.get("/live/cam/vod-100.m3u8")).text(), fakeVod(100));

  const segment = await s.get("/live/cam/101.ts");
  assert.equal(segment.status, 200);
  assert.deepEqual(await bytes(segment), fakeSegment(4));
  assert.equal((await s.get("/live/cam/101.ts")).headers.get("x-cache"), "HIT");
  const missing = await s.get("/live/cam/999.ts");
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, "stream_not_found");
  // The live playlist is still "not live", and a name without a VOD is a 404 as before.
  const index = await s.get("/live/cam/index.m3u8");
  assert.equal((await index.json()).error.code, "stream_not_found");
  const none = await s.get("/live/other/vod.m3u8");
  assert.equal(none.status, 404);
  assert.equal((await none.json()).error.code, "stream_not_found");
});

Deno.test("the last broadcast's VOD plays while the name is live again on another origin", async () => {
  await using s = await setup();
  await using live = FakeOrigin.start();
  s.origin.files.set("/live/cam/vod.m3u8", { body: fakeVod(100) });
  s.origin.files.set("/live/cam/101.ts", { body: fakeSegment(4, 1) });
  live.files.set("/live/cam/index.m3u8", { body: fakePlaylist(500) });
  live.files.set("/live/cam/vod.m3u8", { body: fakeVod(50) });
  live.files.set("/live/cam/500.ts", { body: fakeSegment(4, 2) });
  await s.registry.announceVod(vod("cam", s.origin), 60_000);
  await s.claim("cam", { originId: "origin-2" }, live);

  assert.equal(await (await s.get("/live/cam/vod.m3u8")).text(), fakeVod(100));
  assert.equal(await (await s.get("/live/cam/index.m3u8")).text(), fakePlaylist(500));
  assert.deepEqual(await bytes(await s.get("/live/cam/500.ts")), fakeSegment(4, 2));
  // The live origin does not have the VOD's segment; the VOD's origin does.
  assert.deepEqual(await bytes(await s.get("/live/cam/101.ts")), fakeSegment(4, 1));
  assert.equal(live.count("/live/cam/101.ts"), 1);
  const neither = await s.get("/live/cam/999.ts");
  assert.equal(neither.status, 404);
  await neither.body?.cancel();
  assert.equal(live.count("/live/cam/vod.m3u8"), 0);
});

Deno.test("a VOD playlist written again is fetched again, and a VOD that moved is followed", async () => {
  await using s = await setup();
  await using second = FakeOrigin.start();
  s.origin.files.set("/live/cam/vod.m3u8", { body: fakeVod(100) });
  await s.registry.announceVod(vod("cam", s.origin), 60_000);
  assert.equal(await (await s.get("/live/cam/vod.m3u8")).text(), fakeVod(100));

  // A republish within the grace period rewrote it: discovery reports the new write time.
  s.origin.files.set("/live/cam/vod.m3u8", { body: fakeVod(100, 5) });
  await s.registry.announceVod(vod("cam", s.origin, { updatedAt: 6_000 }), 60_000);
  s.monotonic.now += 1_000; // past the lookup memo
  const rewritten = await s.get("/live/cam/vod.m3u8");
  assert.equal(rewritten.headers.get("x-cache"), "MISS");
  assert.equal(await rewritten.text(), fakeVod(100, 5));

  // Its origin died and another origin's VOD of the name took over, unheard of by the edge.
  second.files.set("/live/cam/vod.m3u8", { body: fakeVod(40) });
  s.registry.store.vods.set("cam", vod("cam", second, { originId: "origin-2" }), 60_000);
  await s.origin.close();
  s.clock.now += 61_000;
  const moved = await s.get("/live/cam/vod.m3u8");
  assert.equal(moved.status, 200);
  assert.equal(await moved.text(), fakeVod(40));
});
