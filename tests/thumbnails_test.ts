/**
 * Thumbnails with a real origin, a real ffmpeg publisher and the real ffmpeg behind
 * `/live/{name}/thumb.jpg`: the picture is a JPEG of the configured height that changes while
 * the stream runs, answers conditional requests, goes when the stream ends, reaches viewers
 * through an edge that caches it for a few seconds at most, and a missing
 * ffmpeg leaves publishing untouched while the origin says thumbnails are unavailable.
 */
import assert from "node:assert/strict";
import { log } from "@cascade/common/log";
import { MemoryRegistry } from "@cascade/registry/memory";
import { createEdge } from "../edge/src/app.ts";
import { serveEdgeNode } from "../edge/src/node_server.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { probeJson } from "./helpers/decode.ts";
import { waitFor } from "./helpers/wait.ts";

const THUMBS = { THUMBNAIL_SECONDS: "1", THUMBNAIL_HEIGHT: "180" };

async function thumbnail(url: string): Promise<{ bytes: Uint8Array; etag: string } | undefined> {
  const res = await fetch(url);
  if (res.status !== 200) {
    await res.body?.cancel();
    return undefined;
  }
  assert.equal(res.headers.get("content-type"), "image/jpeg");
  return { bytes: new Uint8Array(await res.arrayBuffer()), etag: res.headers.get("etag") ?? "" };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

Deno.test("thumb.jpg is a 180-pixel JPEG that changes while the stream runs", async () => {
  await using origin = await startTestOrigin(THUMBS);
  const url = `${origin.httpUrl}/live/alpha/thumb.jpg`;
  const before = await fetch(url);
  assert.equal(before.status, 404, "no thumbnail before the stream");
  await before.body?.cancel();
  // Keyframe every second, so each interval has a new one to picture.
  await using _ff = publish(origin.rtmpUrl("test_key_1234"), { gop: 30, size: "640x360" });
  const first = await waitFor("a first thumbnail", () => thumbnail(url), { timeoutMs: 20_000 });
  assert.equal(first.bytes[0], 0xff, "SOI marker");
  assert.equal(first.bytes[1], 0xd8, "SOI marker");
  const path = await Deno.makeTempFile({ suffix: ".jpg" });
  try {
    await Deno.writeFile(path, first.bytes);
    const info = await probeJson(path, "-show_streams") as {
      streams: { codec_name: string; width: number; height: number }[];
    };
    assert.equal(info.streams[0]?.codec_name, "mjpeg");
    assert.equal(info.streams[0]?.height, 180);
    assert.equal(info.streams[0]?.width, 320, "the aspect ratio is kept");
  } finally {
    await Deno.remove(path);
  }
  const res = await fetch(url, { headers: { "If-None-Match": first.etag } });
  assert.ok([200, 304].includes(res.status));
  await res.body?.cancel();
  assert.match(res.headers.get("cache-control") ?? "", /max-age=1\b/);
  const second = await waitFor("a different thumbnail", async () => {
    const t = await thumbnail(url);
    return t && t.etag !== first.etag && !sameBytes(t.bytes, first.bytes) ? t : undefined;
  }, { timeoutMs: 20_000 });
  assert.notEqual(second.etag, first.etag);
  const again = await fetch(url, { headers: { "If-None-Match": second.etag } });
  await again.body?.cancel();
  if (again.headers.get("etag") === second.etag) assert.equal(again.status, 304);
});

Deno.test("the thumbnail goes when the stream ends", async () => {
  await using origin = await startTestOrigin(THUMBS);
  const url = `${origin.httpUrl}/live/alpha/thumb.jpg`;
  const ff = publish(origin.rtmpUrl("test_key_1234"), { gop: 30 });
  try {
    await waitFor("a thumbnail", () => thumbnail(url), { timeoutMs: 20_000 });
  } finally {
    await ff[Symbol.asyncDispose]();
  }
  await waitFor("the thumbnail to go", async () => {
    const res = await fetch(url);
    await res.body?.cancel();
    return res.status === 404;
  }, { timeoutMs: 20_000 });
});

Deno.test("a missing ffmpeg leaves publishing untouched and reports thumbnails unavailable", async () => {
  await using origin = await startTestOrigin({
    ...THUMBS,
    THUMBNAIL_FFMPEG: "/nonexistent/ffmpeg",
  });
  await using _ff = publish(origin.rtmpUrl("test_key_1234"), { gop: 30 });
  const metric = async () =>
    (await (await fetch(`${origin.httpUrl}/metrics`)).text())
      .match(/^cascade_thumbnails_available (\d)/m)?.[1];
  assert.equal(await metric(), "1", "available until ffmpeg is first needed");
  const playlist = await waitFor("the live playlist", async () => {
    const res = await fetch(`${origin.httpUrl}/live/alpha/index.m3u8`);
    const text = await res.text();
    return res.status === 200 && text.includes(".ts") ? text : undefined;
  }, { timeoutMs: 20_000 });
  assert.match(playlist, /#EXTINF/);
  const res = await fetch(`${origin.httpUrl}/live/alpha/thumb.jpg`);
  assert.equal(res.status, 404, "asked for, the picture cannot be made");
  await res.body?.cancel();
  assert.equal(await metric(), "0");
  const after = await fetch(`${origin.httpUrl}/live/alpha/index.m3u8`);
  assert.equal(after.status, 200, "the stream goes on");
  await after.body?.cancel();
});

Deno.test("with THUMBNAIL_SECONDS=0 thumb.jpg is not served", async () => {
  await using origin = await startTestOrigin();
  await using _ff = publish(origin.rtmpUrl("test_key_1234"), { gop: 30 });
  await waitFor("the live playlist", async () => {
    const res = await fetch(`${origin.httpUrl}/live/alpha/index.m3u8`);
    await res.body?.cancel();
    return res.status === 200;
  }, { timeoutMs: 20_000 });
  const res = await fetch(`${origin.httpUrl}/live/alpha/thumb.jpg`);
  assert.equal(res.status, 404);
  await res.body?.cancel();
  const metrics = await (await fetch(`${origin.httpUrl}/metrics`)).text();
  assert.match(metrics, /^cascade_thumbnails_available 0/m);
});

Deno.test("an edge serves thumb.jpg from the stream's origin, cached for a few seconds", async () => {
  const registry = new MemoryRegistry({ log });
  // Closed last, once the origin has released its stream.
  await using _registry = { [Symbol.asyncDispose]: () => registry.close() };
  await using origin = await startTestOrigin(THUMBS, { registry });
  const edge = createEdge({ registry, cacheBytes: 16 * 2 ** 20, log });
  await edge.start();
  const server = await serveEdgeNode({ edge, hostname: "127.0.0.1", port: 0 });
  try {
    await using _ff = publish(origin.rtmpUrl("test_key_1234"), { gop: 30 });
    const url = `http://127.0.0.1:${server.port}/live/alpha/thumb.jpg`;
    const first = await waitFor("a thumbnail through the edge", async () => {
      const res = await fetch(url);
      if (res.status !== 200) {
        await res.body?.cancel();
        return undefined;
      }
      return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
    }, { timeoutMs: 20_000 });
    assert.equal(first.res.headers.get("content-type"), "image/jpeg");
    assert.deepEqual([...first.bytes.subarray(0, 2)], [0xff, 0xd8]);
    const maxAge = Number(/max-age=(\d+)/.exec(first.res.headers.get("cache-control") ?? "")?.[1]);
    assert.ok(maxAge >= 0 && maxAge <= 5, `max-age ${maxAge}`);
    const cached = await fetch(url);
    await cached.body?.cancel();
    assert.match(cached.headers.get("x-cache") ?? "", /HIT|MISS|COALESCED/);
    const etag = first.res.headers.get("etag")!;
    await waitFor("a newer thumbnail through the edge", async () => {
      const res = await fetch(url);
      const bytes = new Uint8Array(await res.arrayBuffer());
      return res.status === 200 && res.headers.get("etag") !== etag &&
        !sameBytes(bytes, first.bytes);
    }, { timeoutMs: 30_000, intervalMs: 250 });
    const wrong = await fetch(`http://127.0.0.1:${server.port}/live/nobody/thumb.jpg`);
    assert.equal(wrong.status, 404);
    await wrong.body?.cancel();
  } finally {
    await server.close(1000);
    await edge.close();
  }
});
