/**
 * The origin in a registry, with real ffmpeg and a real redis-server: its embedded
 * discovery announces a stream within 1 s of the first playlist and withdraws it within
 * 1 s of the publisher stopping; it heartbeats its node record with the ingest URL; and a
 * `stream.kick` event drops the publisher within 2 s.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RedisRegistry } from "@cascade/registry";
import { startTestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { RedisServer } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

async function fileAppears(path: string): Promise<number> {
  return await waitFor(`${path} to appear`, async () => {
    try {
      await Deno.stat(path);
      return Date.now();
    } catch {
      return undefined;
    }
  }, { timeoutMs: 15_000, intervalMs: 10 });
}

Deno.test("an origin announces its stream in Redis within 1 s and withdraws it within 1 s", async () => {
  await using redis = await RedisServer.start();
  const registry = new RedisRegistry({ url: redis.url, prefix: "t1:" });
  try {
    await using origin = await startTestOrigin({ NODE_ID: "origin-a" }, { registry });
    const node = await waitFor("origin node record", () => registry.getNode("origin", "origin-a"));
    assert.equal(node.url, origin.httpUrl);
    assert.equal(node.rtmpUrl, `rtmp://127.0.0.1:${origin.rtmpPort}/live`);

    const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 6 });
    const playlistAt = await fileAppears(join(origin.mediaRoot, "alpha", "index.m3u8"));
    const record = await waitFor("stream:alpha", () => registry.getStream("alpha"), {
      intervalMs: 10,
    });
    const announcedAfter = Date.now() - playlistAt;
    assert.ok(announcedAfter < 1000, `announced ${announcedAfter} ms after the first playlist`);
    assert.equal(record.originId, "origin-a");
    assert.equal(record.originUrl, origin.httpUrl);
    assert.equal(record.manifest, `${origin.httpUrl}/live/alpha/index.m3u8`);

    assert.equal((await ff.status).code, 0, ff.output);
    const stoppedAt = Date.now();
    await waitFor("stream:alpha to go", async () => (await registry.getStream("alpha")) === null, {
      intervalMs: 10,
    });
    const goneAfter = Date.now() - stoppedAt;
    assert.ok(goneAfter < 1000, `withdrawn ${goneAfter} ms after the publisher stopped`);
  } finally {
    await registry.close();
  }
});

Deno.test("a stream.kick event drops the publisher within 2 s", async () => {
  await using redis = await RedisServer.start();
  const registry = new RedisRegistry({ url: redis.url, prefix: "t2:" });
  try {
    await using origin = await startTestOrigin({ NODE_ID: "origin-b" }, { registry });
    await using ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 30 });
    await waitFor("stream live", () => origin.hub.get("alpha"));
    const kickedAt = Date.now();
    await registry.kickStream("alpha");
    await waitFor("publisher dropped", () => !origin.hub.get("alpha"), { timeoutMs: 2000 });
    const status = await ff.status;
    assert.ok(Date.now() - kickedAt < 3000, "ffmpeg ends once dropped");
    assert.notEqual(status.code, 255, "ffmpeg was not killed by the test");
  } finally {
    await registry.close();
  }
});
