/**
 * The `node:http` server in front of the edge, over real sockets: the acceptance case of
 * 500 viewers on one cold segment, routing of other paths to a fallback handler, the header
 * limit, and draining on close.
 */
import assert from "node:assert/strict";
import { quietLog } from "../../lib/common/testing/log.ts";
import { MemoryRegistry } from "@cascade/registry/memory";
import { FakeOrigin, fakeSegment } from "../testing/fake_origin.ts";
import { Edge } from "./edge.ts";
import { type EdgeServer, serveEdgeNode } from "./node_server.ts";

interface Setup extends AsyncDisposable {
  origin: FakeOrigin;
  edge: Edge;
  server: EdgeServer;
  url: string;
}

async function setup(fallback?: (req: Request) => Response | Promise<Response>): Promise<Setup> {
  const origin = FakeOrigin.start();
  const registry = new MemoryRegistry({ log: quietLog });
  await registry.claimStream({
    name: "cam",
    originId: "origin-1",
    originUrl: origin.url,
    manifest: `${origin.url}/live/cam/index.m3u8`,
    startedAt: 1,
    updatedAt: 1,
    targetDuration: 2,
    mediaSequence: 1,
  }, 60_000);
  const edge = new Edge({ registry, cacheBytes: 64 * 1024 * 1024, log: quietLog });
  await edge.start();
  const server = await serveEdgeNode({ edge, hostname: "127.0.0.1", port: 0, fallback });
  return {
    origin,
    edge,
    server,
    url: `http://127.0.0.1:${server.port}`,
    async [Symbol.asyncDispose]() {
      await server.close(1000);
      await edge.close();
      await registry.close();
      await origin.close();
    },
  };
}

Deno.test("serveEdgeNode: 500 concurrent viewers of one cold segment cost one origin request", async () => {
  await using s = await setup();
  const segment = fakeSegment(4357); // ~800 KB
  s.origin.files.set("/live/cam/42.ts", { body: segment, delay: 100 });
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: 500 });
  try {
    const responses = await Promise.all(
      Array.from({ length: 500 }, async () => {
        const res = await fetch(`${s.url}/live/cam/42.ts`, { client });
        return {
          status: res.status,
          cache: res.headers.get("x-cache"),
          body: new Uint8Array(await res.arrayBuffer()),
        };
      }),
    );
    assert.equal(s.origin.count("/live/cam/42.ts"), 1);
    assert.equal(responses.filter((r) => r.cache === "MISS").length, 1);
    for (const r of responses) {
      assert.equal(r.status, 200);
      assert.ok(r.cache === "MISS" || r.cache === "COALESCED" || r.cache === "HIT");
      assert.deepEqual(r.body, segment);
    }
  } finally {
    client.close();
  }
});

Deno.test("serveEdgeNode hands other paths to the fallback with method, query, body and cookies", async () => {
  await using s = await setup(async (req) => {
    const url = new URL(req.url);
    const body = req.method === "POST" ? await req.text() : "";
    const headers = new Headers({ "Content-Type": "text/plain" });
    headers.append("Set-Cookie", "a=1");
    headers.append("Set-Cookie", "b=2");
    return new Response(`${req.method} ${url.pathname}${url.search} ${body}`, {
      status: 201,
      headers,
    });
  });
  const res = await fetch(`${s.url}/api/v1/things?x=1`, { method: "POST", body: "hello" });
  assert.equal(res.status, 201);
  assert.equal(await res.text(), "POST /api/v1/things?x=1 hello");
  assert.deepEqual(res.headers.getSetCookie(), ["a=1", "b=2"]);
  const media = await fetch(`${s.url}/live/Bad!/index.m3u8`);
  assert.equal(media.status, 400);
  await media.body?.cancel();
});

Deno.test("serveEdgeNode answers 431 to request headers over 16 KiB and 414 to long URLs", async () => {
  await using s = await setup();
  const big = await fetch(`${s.url}/live/cam/index.m3u8`, {
    headers: { "X-Pad": "a".repeat(17_000) },
  });
  assert.equal(big.status, 431);
  await big.body?.cancel();
  const long = await fetch(`${s.url}/live/cam/index.m3u8?pad=${"a".repeat(3000)}`);
  assert.equal(long.status, 414);
  await long.body?.cancel();
});

Deno.test("serveEdgeNode.close() lets a response in progress finish, then stops", async () => {
  await using s = await setup();
  const { promise: release, resolve } = Promise.withResolvers<void>();
  s.origin.files.set("/live/cam/9.ts", { body: fakeSegment(50), delay: release });
  const pending = fetch(`${s.url}/live/cam/9.ts`);
  const deadline = Date.now() + 5000;
  while (s.server.inFlight === 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const closing = s.server.close(5000);
  assert.equal(s.edge.draining, true);
  resolve();
  const res = await pending;
  assert.equal(res.status, 200);
  assert.equal((await res.arrayBuffer()).byteLength, 50 * 188);
  await closing;
  await assert.rejects(fetch(`${s.url}/healthz`));
});

Deno.test("serveEdgeNode answers /healthz and /metrics as every role does, even with a fallback", async () => {
  await using s = await setup(() => new Response("fallback", { status: 418 }));
  const health = await fetch(`${s.url}/healthz`);
  assert.equal(health.status, 200);
  const body = await health.json();
  assert.deepEqual({ ...body, uptimeSeconds: 0 }, {
    status: "ok",
    role: "edge",
    id: "edge",
    uptimeSeconds: 0,
  });
  const metrics = await fetch(`${s.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^# TYPE cascade_edge_requests_total counter$/m);
  const other = await fetch(`${s.url}/other`);
  assert.equal(other.status, 418);
  await other.body?.cancel();
});
