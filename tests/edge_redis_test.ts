/**
 * The edge as operators run it (`deno run edge/main.ts`) in the real chain: ffmpeg → origin
 * process (announcing from its packager) → redis-server → edge process. The edge serves the
 * origin's bytes and ffmpeg decodes through it; it announces `node:edge:{id}`; an origin
 * killed with SIGKILL becomes a 404 once its claim expires (`STREAM_TTL_SECONDS`); the
 * publisher coming back on a second origin plays again at the same URL after a
 * discontinuity, without a sequence reset; SIGTERM withdraws the edge. Also: the lookup path through `RedisRegistry`
 * while Redis is down, and the exit code of an edge without `REDIS_URL`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { quietLog } from "../lib/common/testing/log.ts";
import { RedisRegistry } from "@cascade/registry/redis";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { Edge } from "../edge/src/edge.ts";
import { createEdgeApp } from "../edge/src/app.ts";
import { FakeOrigin, fakePlaylist, fakeSegment } from "../edge/testing/fake_origin.ts";
import { streamRecord } from "../edge/testing/registry.ts";
import { assertDecodes, livePlaylist, withinDeadline } from "./helpers/edge.ts";
import { publish } from "./helpers/media.ts";
import { freePort } from "./helpers/ports.ts";
import { runProcess, startProcess, type TestProcess } from "./helpers/process.ts";
import { type RedisServer, startRedis } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

const ORIGIN_MAIN = fileURLToPath(new URL("../origin/main.ts", import.meta.url));
const EDGE_MAIN = fileURLToPath(new URL("../edge/main.ts", import.meta.url));
const TTL_SECONDS = 2;

interface OriginProcess extends AsyncDisposable {
  proc: TestProcess;
  httpUrl: string;
  rtmpUrl(key: string): string;
}

async function startOriginProcess(redis: RedisServer, prefix: string, id: string) {
  const mediaRoot = await Deno.makeTempDir({ prefix: "cascade-edge-origin-" });
  const httpPort = freePort();
  const rtmpPort = freePort();
  const proc = await startProcess(Deno.execPath(), {
    args: ["run", "-A", ORIGIN_MAIN],
    env: {
      REDIS_URL: redis.url,
      REDIS_PREFIX: prefix,
      NODE_ID: id,
      RTMP_HOST: "127.0.0.1",
      RTMP_PORT: String(rtmpPort),
      ORIGIN_HTTP_HOST: "127.0.0.1",
      ORIGIN_HTTP_PORT: String(httpPort),
      MEDIA_ROOT: mediaRoot,
      PUBLISH_AUTH: "static",
      PUBLISH_KEYS: "test_key_1234=alpha",
      STREAM_TTL_SECONDS: String(TTL_SECONDS),
      LOG_FORMAT: "json",
    },
    readyPort: httpPort,
    timeoutMs: 60_000,
  });
  await waitFor(`${id} to listen for RTMP`, async () => {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port: rtmpPort })).close();
      return true;
    } catch {
      return false;
    }
  });
  return {
    proc,
    httpUrl: `http://127.0.0.1:${httpPort}`,
    rtmpUrl: (key: string) => `rtmp://127.0.0.1:${rtmpPort}/live/${key}`,
    async [Symbol.asyncDispose]() {
      await proc.stop("SIGKILL");
      await Deno.remove(mediaRoot, { recursive: true }).catch(() => {});
    },
  } satisfies OriginProcess;
}

async function text(url: string): Promise<{ status: number; body: string; cache: string | null }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text(), cache: res.headers.get("x-cache") };
}

async function bytes(url: string): Promise<Uint8Array> {
  return new Uint8Array(await (await fetch(url)).arrayBuffer());
}

Deno.test("edge process in the Redis chain: same bytes as the origin, 404 once the claim of an origin killed with -9 expires, failover to a second origin after a discontinuity", async () => {
  await using redis = await startRedis();
  const prefix = "edge1:";
  const registry = new RedisRegistry({ url: redis.url, prefix, log: quietLog });
  try {
    const edgePort = freePort();
    await using originA = await startOriginProcess(redis, prefix, "origin-a");
    await using edge = await startProcess(Deno.execPath(), {
      args: ["run", "-A", EDGE_MAIN],
      env: {
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        EDGE_HOST: "127.0.0.1",
        EDGE_PORT: String(edgePort),
        NODE_ID: "edge-1",
        REGION: "eu-west",
        LOG_FORMAT: "json",
      },
      readyLine: /"event":"edge\.listening"/,
      timeoutMs: 60_000,
    });
    const edgeUrl = `http://127.0.0.1:${edgePort}`;
    const url = `${edgeUrl}/live/alpha/index.m3u8`;

    const node = await waitFor("node:edge:edge-1", () => registry.getNode("edge", "edge-1"));
    assert.equal(node.url, edgeUrl);
    // The edge also serves the watch page and the player it loads.
    const page = await fetch(`${edgeUrl}/watch/alpha`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /vendor\/hls\.min\.js/);
    assert.equal(node.region, "eu-west");

    await using ffA = publish(originA.rtmpUrl("test_key_1234"), { seconds: 120 });
    await livePlaylist(url, 3);
    await assertDecodes(url, 10);

    const agreed = await waitFor("edge and origin playlists to agree", async () => {
      const [e, o] = await Promise.all([
        text(url),
        text(`${originA.httpUrl}/live/alpha/index.m3u8`),
      ]);
      return e.status === 200 && e.body === o.body ? parsePlaylist(e.body) : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    const segment = agreed.segments.at(-1)!.uri;
    assert.deepEqual(
      await bytes(`${edgeUrl}/live/alpha/${segment}`),
      await bytes(`${originA.httpUrl}/live/alpha/${segment}`),
    );

    const before = await livePlaylist(url, 1);
    await originA.proc.stop("SIGKILL");
    await waitFor("the edge to answer 404", async () => (await text(url)).status === 404, {
      timeoutMs: TTL_SECONDS * 1000 + 30_000,
      intervalMs: 50,
    });
    // The 404 comes once the claim is gone, not while the stream is still claimed.
    assert.equal(await registry.getStream("alpha"), null);
    await ffA.stop("SIGKILL");

    await using originB = await startOriginProcess(redis, prefix, "origin-b");
    await using _ffB = publish(originB.rtmpUrl("test_key_1234"), { seconds: 120 });
    const after = await livePlaylist(url, 1);
    const lastBefore = before.segments.at(-1)!;
    assert.ok(
      after.mediaSequence > lastBefore.sequence,
      `sequence continues: ${after.mediaSequence} after ${lastBefore.sequence}`,
    );
    assert.equal(
      after.segments[0]!.discontinuity,
      true,
      "the new broadcast starts a discontinuity",
    );
    assert.ok(after.discontinuitySequence >= before.discontinuitySequence);
    const first = await fetch(`${edgeUrl}/live/alpha/${after.segments[0]!.uri}`);
    assert.equal(first.status, 200);
    await first.body?.cancel();

    await edge.stop("SIGTERM", 15_000);
    assert.equal((await edge.status).code, 0, edge.output.slice(-2000));
    assert.equal(await registry.getNode("edge", "edge-1"), null);
  } finally {
    await registry.close();
  }
});

Deno.test("through RedisRegistry: a memoized stream keeps playing while Redis is down, others get 503, all is back after", async () => {
  await using redis = await startRedis();
  await using origin = FakeOrigin.start();
  origin.files.set("/live/cam/index.m3u8", { body: fakePlaylist(1) });
  origin.files.set("/live/cam/1.ts", { body: fakeSegment(20) });
  origin.files.set("/live/other/index.m3u8", { body: fakePlaylist(5) });
  const registry = new RedisRegistry({ url: redis.url, prefix: "edge2:", log: quietLog });
  const claim = (name: string) => registry.claimStream(streamRecord(name, origin.url), 60_000);
  const edge = new Edge({ registry, cacheBytes: 16 * 1024 * 1024, log: quietLog });
  try {
    await edge.start();
    const app = createEdgeApp(edge);
    await claim("cam");
    assert.equal((await app.request("/live/cam/index.m3u8")).status, 200);
    assert.equal((await app.request("/live/cam/1.ts")).status, 200);

    await redis.kill();
    // Refused while Redis is still down, not held until it comes back.
    const unknown = await withinDeadline(
      Promise.resolve(app.request("/live/other/index.m3u8")),
      15_000,
      "an unknown stream while Redis is down",
    );
    assert.equal(unknown.status, 503);
    assert.equal((await unknown.json()).error.code, "registry_unavailable");
    await waitFor("the memo to lapse and the edge to refetch on the known record", async () => {
      const res = await app.request("/live/cam/index.m3u8");
      await res.body?.cancel();
      return res.status === 200 && origin.count("/live/cam/index.m3u8") > 1;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    const cached = await app.request("/live/cam/1.ts");
    assert.equal(cached.status, 200);
    assert.equal(cached.headers.get("x-cache"), "HIT");

    await redis.restart();
    await waitFor("Redis to take a claim again", async () => (await claim("other")).ok);
    await waitFor("the other stream to play", async () => {
      const res = await app.request("/live/other/index.m3u8");
      await res.body?.cancel();
      return res.status === 200;
    }, { timeoutMs: 10_000, intervalMs: 100 });
  } finally {
    await edge.close();
    await registry.close();
  }
});

Deno.test("a lone edge without REDIS_URL exits with code 2 and one line naming it", async () => {
  // An empty value counts as unset.
  const r = await runProcess(Deno.execPath(), ["run", "-A", EDGE_MAIN], {
    env: { REDIS_URL: "" },
    timeoutMs: 60_000,
  });
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.trim().split("\n");
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^Invalid REDIS_URL: required/);
});
