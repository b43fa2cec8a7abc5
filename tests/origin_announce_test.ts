/**
 * A Cascade origin announces its streams from its packager's events, with no file watcher:
 * real ffmpeg, a real redis-server. The claim appears once the first segment is listed,
 * every new playlist refreshes it (and publishes `stream.update` with the playlist's time),
 * the publisher stopping releases it, and after a Redis outage the stream is announced again
 * while packaging went on throughout.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { RedisRegistry, type RegistryEvent } from "@cascade/registry";
import { startTestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { RedisServer } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

async function listedSegments(mediaRoot: string, name: string): Promise<number> {
  try {
    const text = await Deno.readTextFile(join(mediaRoot, name, "index.m3u8"));
    const p = parsePlaylist(text);
    return p.mediaSequence + p.segments.length;
  } catch {
    return 0;
  }
}

Deno.test("an origin claims at its first segment, updates on each playlist and releases at the end", async () => {
  await using redis = await RedisServer.start();
  const registry = new RedisRegistry({ url: redis.url, prefix: "a1:" });
  const listener = new RedisRegistry({ url: redis.url, prefix: "a1:" });
  const events: RegistryEvent[] = [];
  // As an edge serving the stream hears it: updates travel on the stream's own channel only.
  const off = await listener.subscribeStream("alpha", (e) => void events.push(e));
  try {
    await using origin = await startTestOrigin({ NODE_ID: "origin-a", HLS_LL: "true" }, {
      registry,
    });
    const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 9 });
    const first = await waitFor("stream:alpha", () => registry.getStream("alpha"), {
      timeoutMs: 20_000,
      intervalMs: 20,
    });
    assert.equal(first.originId, "origin-a");
    assert.equal(first.manifest, `${origin.httpUrl}/live/alpha/index.m3u8`);
    assert.equal(first.ll, true, "the origin serves ll.m3u8");
    const firstPlaylist = parsePlaylist(
      await Deno.readTextFile(join(origin.mediaRoot, "alpha", "index.m3u8")),
    );
    assert.equal(first.mediaSequence, firstPlaylist.mediaSequence);
    assert.equal(first.targetDuration, firstPlaylist.targetDuration);

    // Later playlists refresh the claim with their own time, and edges hear of each.
    const updated = await waitFor("a newer playlist in stream:alpha", async () => {
      const r = await registry.getStream("alpha");
      return r && r.updatedAt > first.updatedAt ? r : undefined;
    }, { timeoutMs: 20_000, intervalMs: 20 });
    assert.equal(updated.startedAt, first.startedAt);
    await waitFor(
      "stream.update events",
      () => events.filter((e) => e.type === "stream.update").length >= 1,
    );
    const updates = events.filter((e) => e.type === "stream.update");
    const times = updates.map((e) => (e as { updatedAt: number }).updatedAt);
    assert.deepEqual(times, [...times].sort((a, b) => a - b), "updates arrive in order");

    assert.equal((await ff.status).code, 0, ff.output);
    await waitFor("stream:alpha to be released", async () => !(await registry.getStream("alpha")), {
      timeoutMs: 10_000,
      intervalMs: 20,
    });
    const text = await Deno.readTextFile(join(origin.mediaRoot, "alpha", "index.m3u8"));
    assert.match(text, /#EXT-X-ENDLIST/);
    await waitFor(
      "stream.down",
      () => events.some((e) => e.type === "stream.down" && e.reason === "released"),
    );
    assert.equal(events[0]?.type, "stream.up");
  } finally {
    off();
    await listener.close();
    await registry.close();
  }
});

Deno.test("an origin re-announces its live stream after a Redis outage; packaging goes on meanwhile", async () => {
  await using redis = await RedisServer.start();
  const registry = new RedisRegistry({ url: redis.url, prefix: "a2:" });
  try {
    await using origin = await startTestOrigin(
      // Timed refreshes come every TTL/4 = 30 s: within the wait, only the reconnect or the
      // next playlist can bring the claim back.
      { NODE_ID: "origin-b", STREAM_TTL_SECONDS: "120" },
      { registry },
    );
    const ff = publish(origin.rtmpUrl("test_key_1234"), {});
    try {
      await waitFor("stream:alpha", () => registry.getStream("alpha"), { timeoutMs: 20_000 });
      await redis.kill();
      const before = await listedSegments(origin.mediaRoot, "alpha");
      await waitFor(
        "two more segments listed while Redis is down",
        async () => (await listedSegments(origin.mediaRoot, "alpha")) >= before + 2,
        { timeoutMs: 20_000 },
      );
      // The restarted server is empty: only a re-announce can bring the claim back.
      await redis.restart();
      const back = await waitFor("stream:alpha again", () => registry.getStream("alpha"), {
        timeoutMs: 10_000,
        intervalMs: 20,
      });
      assert.equal(back.originId, "origin-b");
      assert.equal(ff.exited, false, "the publisher was never dropped");
    } finally {
      await ff.stop();
    }
  } finally {
    await registry.close();
  }
});
