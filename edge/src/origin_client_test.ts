import assert from "node:assert/strict";
import { FakeOrigin, fakeSegment } from "../testing/fake_origin.ts";
import { OriginClient, OriginFetchError } from "./origin_client.ts";

async function failure(p: Promise<unknown>): Promise<OriginFetchError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OriginFetchError, String(err));
    return err;
  }
  assert.fail("expected an OriginFetchError");
}

Deno.test("OriginClient.get() returns a whole body and reuses its connection", async () => {
  await using origin = FakeOrigin.start();
  const client = new OriginClient();
  try {
    const body = fakeSegment(50);
    origin.files.set("/live/a/1.ts", { body });
    assert.deepEqual((await client.get(origin.url, "/live/a/1.ts", 1000)).body, body);
    assert.deepEqual((await client.get(origin.url, "/live/a/1.ts", 1000)).body, body);
    assert.equal((await client.get(origin.url, "/live/a/2.ts", 1000)).status, 404);
    assert.equal(client.pools, 1);
  } finally {
    await client.close();
  }
});

Deno.test("OriginClient.get() keeps the path prefix of the origin URL", async () => {
  await using origin = FakeOrigin.start();
  const client = new OriginClient();
  try {
    origin.files.set("/cdn/live/a/index.m3u8", { body: "#EXTM3U\n" });
    const res = await client.get(`${origin.url}/cdn/`, "/live/a/index.m3u8", 1000);
    assert.equal(new TextDecoder().decode(res.body), "#EXTM3U\n");
  } finally {
    await client.close();
  }
});

Deno.test("OriginClient.get() classifies what goes wrong", async () => {
  await using origin = FakeOrigin.start();
  const client = new OriginClient({ maxBodyBytes: 10_000 });
  try {
    origin.files.set("/cut.ts", { body: fakeSegment(40), cutAt: 1000 });
    origin.files.set("/busy.ts", { status: 503, body: "busy" });
    origin.files.set("/big.ts", { body: fakeSegment(100) });
    origin.files.set("/slow.ts", { hang: true });
    assert.equal((await failure(client.get(origin.url, "/cut.ts", 1000))).reason, "truncated");
    const busy = await failure(client.get(origin.url, "/busy.ts", 1000));
    assert.equal(busy.reason, "status");
    assert.equal(busy.status, 503);
    assert.equal((await failure(client.get(origin.url, "/big.ts", 1000))).reason, "too_large");
    const t0 = performance.now();
    assert.equal((await failure(client.get(origin.url, "/slow.ts", 200))).reason, "timeout");
    assert.ok(performance.now() - t0 < 1000);
  } finally {
    await client.close();
  }
});

Deno.test("OriginClient.get() fails with reason connect when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const client = new OriginClient({ connectTimeoutMs: 500 });
  try {
    const err = await failure(client.get(`http://127.0.0.1:${port}`, "/x.ts", 1000));
    assert.equal(err.reason, "connect");
  } finally {
    await client.close();
  }
});

Deno.test("OriginClient.get() sends the query, returns Cache-Control, holds in a pool of its own", async () => {
  await using origin = FakeOrigin.start();
  const client = new OriginClient({ connectionsPerOrigin: 1 });
  try {
    const held = Promise.withResolvers<void>();
    origin.files.set("/live/a/ll.m3u8?_HLS_msn=5&_HLS_part=0", {
      body: "#EXTM3U\n",
      headers: { "Cache-Control": "public, max-age=60" },
      delay: held.promise,
    });
    origin.files.set("/live/a/1.ts", { body: fakeSegment(2) });
    const blocking = client.get(origin.url, "/live/a/ll.m3u8?_HLS_msn=5&_HLS_part=0", 5000, true);
    // The only ordinary connection is free: a held request does not queue a segment.
    assert.equal((await client.get(origin.url, "/live/a/1.ts", 1000)).status, 200);
    assert.equal(client.pools, 2);
    held.resolve();
    const res = await blocking;
    assert.equal(res.cacheControl, "public, max-age=60");
    assert.equal((await client.get(origin.url, "/live/a/1.ts", 1000)).cacheControl, null);
  } finally {
    await client.close();
  }
});
