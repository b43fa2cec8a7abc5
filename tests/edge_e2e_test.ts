/**
 * The edge in the real chain, in one process: ffmpeg publishes RTMP to a Cascade origin,
 * a discovery watcher on its media root claims the stream in a `MemoryRegistry`, and the
 * edge (on `node:http`, a random port) finds the origin through the registry. ffmpeg decodes
 * through the edge; the edge's bytes equal the origin's; 200 viewers of a fresh segment
 * cost the origin one request (counted on the origin's side); an origin that dies becomes
 * a 404 once its claim expires, with stale playlists meanwhile and never a hang; signed
 * playback refuses what it must.
 */
import { STALE_TARGETS } from "../edge/src/stale.ts";
import assert from "node:assert/strict";
import { quietLog } from "../lib/common/testing/log.ts";
import { MemoryRegistry, MemoryStore } from "@cascade/registry/memory";
import { signPlaybackToken } from "@cascade/common/playback_token";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { DiscoveryWatcher } from "@cascade/discovery/watcher";
import { Edge } from "../edge/src/edge.ts";
import { type EdgeServer, serveEdgeNode } from "../edge/src/node_server.ts";
import { CountingRegistry } from "../edge/testing/registry.ts";
import { assertDecodes, livePlaylist } from "./helpers/edge.ts";
import { startTestOrigin, type TestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { waitFor } from "./helpers/wait.ts";

const KEY = "signing-key-for-tests-0123456789abcdef";
/** How long a request may stay unanswered before it counts as a hang. */
const HANG_MS = 15_000;

interface Chain extends AsyncDisposable {
  origin: TestOrigin;
  /** Base URL of the origin's HTTP, as announced in the registry. */
  originUrl: string;
  /** Requests the origin's HTTP received, by path. */
  originRequests: Map<string, number>;
  /** Simulates `kill -9` of the origin: HTTP gone and its discovery silent. */
  crash(): Promise<void>;
  /** The edge's registry, counting lookups so tests can prove bad requests never reach it. */
  registry: CountingRegistry;
  edge: Edge;
  server: EdgeServer;
  edgeUrl: string;
}

async function startChain(opts: { ttlSeconds?: number; signingKey?: string } = {}): Promise<Chain> {
  const origin = await startTestOrigin({}, { listenHttp: false });
  const originRequests = new Map<string, number>();
  const originHttp = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (req) => {
      const path = new URL(req.url).pathname;
      originRequests.set(path, (originRequests.get(path) ?? 0) + 1);
      return origin.app.fetch(req);
    },
  );
  const originUrl = `http://127.0.0.1:${originHttp.addr.port}`;
  const store = new MemoryStore();
  const discoveryRegistry = new MemoryRegistry({ store, log: quietLog });
  const watcher = new DiscoveryWatcher({
    registry: discoveryRegistry,
    mediaRoot: origin.mediaRoot,
    originId: "origin-a",
    originUrl,
    ttlSeconds: opts.ttlSeconds ?? 10,
    log: quietLog,
  });
  await watcher.start();
  const registry = new CountingRegistry({ store, log: quietLog });
  const edge = new Edge({
    registry,
    cacheBytes: 64 * 1024 * 1024,
    log: quietLog,
    signingKey: opts.signingKey,
  });
  await edge.start();
  const server = await serveEdgeNode({ edge, hostname: "127.0.0.1", port: 0 });
  let crashed = false;
  return {
    origin,
    originUrl,
    originRequests,
    registry,
    edge,
    server,
    edgeUrl: `http://127.0.0.1:${server.port}`,
    async crash() {
      crashed = true;
      await originHttp.shutdown();
      // A closed registry refuses the watcher's refreshes and releases: the claim expires.
      await discoveryRegistry.close();
    },
    async [Symbol.asyncDispose]() {
      await server.close(1000);
      await edge.close();
      await watcher.stop();
      if (!crashed) await originHttp.shutdown();
      await origin[Symbol.asyncDispose]();
      await discoveryRegistry.close();
      await registry.close();
    },
  };
}

async function get(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
  const res = await fetch(url, init);
  return {
    status: res.status,
    headers: res.headers,
    body: new Uint8Array(await res.arrayBuffer()),
  };
}

/** Origin fetches the edge has made, failures included (from its own metrics). */
function originFetches(edge: Edge): number {
  const counts = edge.metrics.render().matchAll(
    /^cascade_edge_origin_fetch_seconds_count\{[^}]*\} (\d+)$/gm,
  );
  return [...counts].reduce((sum, m) => sum + Number(m[1]), 0);
}

Deno.test("ffmpeg decodes 10 s through the edge, whose bytes are the origin's, and 200 viewers of a new segment cost one origin request", async () => {
  await using chain = await startChain();
  await using _ff = publish(chain.origin.rtmpUrl("test_key_1234"), { seconds: 60 });
  await livePlaylist(`${chain.edgeUrl}/live/alpha/index.m3u8`, 3);
  await assertDecodes(`${chain.edgeUrl}/live/alpha/index.m3u8`, 10);

  // The playlist is the origin's, byte for byte (once both show the same moment).
  await waitFor("edge and origin playlists to agree", async () => {
    const [e, o] = await Promise.all([
      get(`${chain.edgeUrl}/live/alpha/index.m3u8`),
      get(`${chain.originUrl}/live/alpha/index.m3u8`),
    ]);
    return e.status === 200 &&
      new TextDecoder().decode(e.body) === new TextDecoder().decode(o.body);
  }, { timeoutMs: 10_000, intervalMs: 100 });

  // A segment no one has asked for yet: the newest one of the next playlist.
  const before = parsePlaylist(
    new TextDecoder().decode((await get(`${chain.originUrl}/live/alpha/index.m3u8`)).body),
  );
  const lastSeen = before.segments.at(-1)!.sequence;
  const next = await waitFor("a new segment", async () => {
    const p = parsePlaylist(
      new TextDecoder().decode((await get(`${chain.originUrl}/live/alpha/index.m3u8`)).body),
    );
    return p.segments.find((s) => s.sequence > lastSeen);
  }, { timeoutMs: 10_000, intervalMs: 100 });
  const path = `/live/alpha/${next.uri}`;
  assert.equal(chain.originRequests.get(path) ?? 0, 0);
  const viewers = await Promise.all(Array.from({ length: 200 }, () => get(chain.edgeUrl + path)));
  assert.equal(chain.originRequests.get(path), 1);
  const fromOrigin = await get(chain.originUrl + path);
  const results = viewers.map((v) => v.headers.get("x-cache"));
  assert.equal(results.filter((r) => r === "MISS").length, 1);
  assert.ok(results.every((r) => r === "MISS" || r === "COALESCED" || r === "HIT"));
  for (const v of viewers) {
    assert.equal(v.status, 200);
    assert.deepEqual(v.body, fromOrigin.body);
  }

  // Bad names and files are answered without a lookup or an origin request.
  const lookups = chain.registry.gets;
  const originTotal = [...chain.originRequests.values()].reduce((a, b) => a + b, 0);
  for (
    const [bad, status] of [
      ["/live/ALPHA/index.m3u8", 400],
      ["/live/alpha/..%2f..%2fsecret", 400],
      ["/live/alpha/index.php", 404],
      ["/live/alpha/12.mp4", 404],
    ] as const
  ) {
    const res = await get(chain.edgeUrl + bad);
    assert.equal(res.status, status, bad);
  }
  assert.equal(chain.registry.gets, lookups);
  assert.equal([...chain.originRequests.values()].reduce((a, b) => a + b, 0), originTotal);
});

Deno.test("an origin that dies: stale playlist for at most three target durations, then 404 once its claim expires, never a hang", async () => {
  const ttlSeconds = 3;
  await using chain = await startChain({ ttlSeconds });
  await using _ff = publish(chain.origin.rtmpUrl("test_key_1234"), { seconds: 60 });
  const playlist = await livePlaylist(`${chain.edgeUrl}/live/alpha/index.m3u8`, 2);
  const target = playlist.targetDuration;
  // A fresh copy in the cache, fetched right now.
  await waitFor("a fresh playlist fetch", async () => {
    const res = await get(`${chain.edgeUrl}/live/alpha/index.m3u8`);
    return res.headers.get("x-cache") === "MISS";
  }, { timeoutMs: 10_000, intervalMs: 50 });
  const cachedAt = performance.now();
  await chain.crash();
  const crashedAt = performance.now();

  const seen: { at: number; status: number; cache: string | null }[] = [];
  const hangs: string[] = [];
  await waitFor("the edge to answer 404", async () => {
    const t0 = performance.now();
    // A hang is a request still unanswered long after every origin timeout of the edge.
    const res = await get(`${chain.edgeUrl}/live/alpha/index.m3u8`, {
      signal: AbortSignal.timeout(HANG_MS),
    }).catch((err) => {
      hangs.push(String(err));
      return null;
    });
    if (res === null) return false;
    seen.push({ at: t0 - crashedAt, status: res.status, cache: res.headers.get("x-cache") });
    return res.status === 404;
  }, { timeoutMs: ttlSeconds * 1000 + 30_000, intervalMs: 100 });
  assert.deepEqual(hangs, []);
  // The 404 comes once the claim is gone, not while the stream is still claimed.
  assert.equal(await chain.registry.getStream("alpha"), null);
  for (const s of seen) {
    assert.ok([200, 404, 502].includes(s.status), `status ${s.status}`);
    if (s.cache === "STALE") {
      assert.ok(
        s.at + crashedAt - cachedAt <= STALE_TARGETS * target * 1000 + 100,
        "stale beyond three target durations",
      );
    }
  }
  assert.ok(seen.some((s) => s.cache === "STALE"), JSON.stringify(seen));

  // Gone is final: no origin is tried any more.
  const fetches = originFetches(chain.edge);
  assert.equal((await get(`${chain.edgeUrl}/live/alpha/1.ts`)).status, 404);
  assert.equal(originFetches(chain.edge), fetches);
});

Deno.test("signed playback through the chain: 403 without a valid token, ffmpeg plays the signed URL", async () => {
  await using chain = await startChain({ signingKey: KEY });
  await using _ff = publish(chain.origin.rtmpUrl("test_key_5678"), { seconds: 40 });
  const token = await signPlaybackToken(KEY, "beta", Math.floor(Date.now() / 1000) + 600);
  const expired = await signPlaybackToken(KEY, "beta", Math.floor(Date.now() / 1000) - 1);
  const playlist = await livePlaylist(`${chain.edgeUrl}/live/beta/index.m3u8?token=${token}`, 2);
  for (const segment of playlist.segments) assert.match(segment.uri, /^\d+\.ts\?token=/);

  for (const query of ["", `?token=${expired}`, `?token=${token.slice(0, -2)}xx`]) {
    assert.equal((await get(`${chain.edgeUrl}/live/beta/index.m3u8${query}`)).status, 403);
  }
  const bare = playlist.segments[0]!.uri.split("?")[0];
  assert.equal((await get(`${chain.edgeUrl}/live/beta/${bare}`)).status, 403);

  await assertDecodes(`${chain.edgeUrl}/live/beta/index.m3u8?token=${token}`, 4);
});
