/**
 * The origin in a registry, with real ffmpeg and a real redis-server: its embedded
 * discovery announces a stream once the first playlist is written and releases it (rather
 * than leaving it to expire) when the publisher stops; it heartbeats its node record with the
 * ingest URL; and a `stream.kick` event drops the publisher. How soon is the bench's business:
 * the deadlines here are generous.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RedisRegistry, type RegistryEvent } from "@cascade/registry";
import { startTestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { RedisServer } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

/** Generous: under `--parallel` on two busy cores a second can become ten. */
const DEADLINE_MS = 20_000;

Deno.test("an origin announces its stream in Redis after its first playlist and releases it when the publisher stops", async () => {
  await using redis = await RedisServer.start();
  const registry = new RedisRegistry({ url: redis.url, prefix: "t1:" });
  try {
    await using origin = await startTestOrigin({ NODE_ID: "origin-a" }, { registry });
    const node = await waitFor("origin node record", () => registry.getNode("origin", "origin-a"));
    assert.equal(node.url, origin.httpUrl);
    assert.equal(node.rtmpUrl, `rtmp://127.0.0.1:${origin.rtmpPort}/live`);

    const downs: RegistryEvent[] = [];
    await registry.subscribe((e) => e.type === "stream.down" && downs.push(e));
    await using ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 6 });
    const record = await waitFor("stream:alpha", () => registry.getStream("alpha"), {
      timeoutMs: DEADLINE_MS,
      intervalMs: 10,
    });
    // Announced from the playlist: it is on disk by the time the record is.
    await Deno.stat(join(origin.mediaRoot, "alpha", "index.m3u8"));
    assert.equal(record.originId, "origin-a");
    assert.equal(record.originUrl, origin.httpUrl);
    assert.equal(record.manifest, `${origin.httpUrl}/live/alpha/index.m3u8`);

    assert.equal((await ff.status).code, 0, ff.output);
    const down = await waitFor("stream.down of alpha", () => downs[0], {
      timeoutMs: DEADLINE_MS,
      intervalMs: 10,
    });
    assert.equal(down.type === "stream.down" && down.reason, "released", "not left to expire");
    assert.equal(await registry.getStream("alpha"), null);
  } finally {
    await registry.close();
  }
});

Deno.test("a stream.kick event drops the publisher", async () => {
  await using redis = await RedisServer.start();
  const registry = new RedisRegistry({ url: redis.url, prefix: "t2:" });
  try {
    await using origin = await startTestOrigin({ NODE_ID: "origin-b" }, { registry });
    // Publishes until stopped: the only way for it to end on its own is being dropped.
    await using ff = publish(origin.rtmpUrl("test_key_1234"));
    await waitFor("stream live", () => origin.hub.get("alpha"), { timeoutMs: DEADLINE_MS });
    await registry.kickStream("alpha");
    await waitFor("publisher dropped", () => !origin.hub.get("alpha"), {
      timeoutMs: DEADLINE_MS,
    });
    const status = await waitFor("ffmpeg to end once dropped", () => ff.exited && ff.status, {
      timeoutMs: DEADLINE_MS,
    });
    assert.notEqual(status.code, 255, "ffmpeg was not killed by the test");
  } finally {
    await registry.close();
  }
});
