/**
 * A Redis restart in the middle of a broadcast: the cluster runs against an external
 * redis-server (`REDIS_URL`), which is killed and brought back empty on the same port while
 * ffmpeg publishes to origin 1 and another ffmpeg watches through an edge. The origin's
 * discovery must announce the stream again once Redis answers, and the viewer must decode
 * its whole 14 s without an error.
 */
import assert from "node:assert/strict";
import { quietLog } from "../lib/common/testing/log.ts";
import { RedisRegistry } from "@cascade/registry/redis";
import { startCluster } from "./helpers/cluster.ts";
import { Viewer } from "./helpers/decode.ts";
import { publish } from "./helpers/media.ts";
import { RedisServer } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

const VIEW_SECONDS = 14;

Deno.test("cluster: Redis restarted mid-stream → stream announced again, playback through the edge goes on", async () => {
  await using redis = await RedisServer.start();
  await using cluster = await startCluster({ env: { REDIS_URL: redis.url } });
  const { info } = cluster;
  assert.equal(info.redisPid, null, "the cluster must use REDIS_URL, not start its own");
  const registry = new RedisRegistry({ url: redis.url, log: quietLog });
  try {
    const key = await cluster.createStream("cam4");
    await using ffmpeg = publish(`${info.origins[0]!.rtmp}/${key}`, { seconds: 90 });
    const edgeUrl = `${info.edges[0]!.http}/live/cam4/index.m3u8`;
    await waitFor("cam4 to play through the edge", async () => {
      ffmpeg.giveUpIfExited();
      const res = await fetch(edgeUrl);
      return res.ok && (await res.text()).includes("#EXTINF");
    }, { timeoutMs: 30_000, intervalMs: 200 });

    // The viewer is live at the edge of the playlist, so it keeps reading through the outage.
    await using viewer = new Viewer(edgeUrl, VIEW_SECONDS);
    await waitFor("the viewer to decode past the buffered segments", () => {
      viewer.process.giveUpIfExited();
      return viewer.decodedSeconds > 0;
    }, { timeoutMs: 20_000, intervalMs: 100 });

    await redis.kill();
    await redis.restart();
    // The restarted Redis is empty, so a record can only come from announcing again. How
    // soon is the bench's business; the deadline is generous so that two busy cores do not
    // fail the test.
    const record = await waitFor("cam4 to be announced again", async () => {
      return (await registry.getStream("cam4")) ?? undefined;
    }, { timeoutMs: 20_000, intervalMs: 50 });
    assert.equal(record.originId, "origin-1");

    const decoded = await viewer.finished(VIEW_SECONDS * 1000 + 30_000);
    assert.ok(decoded >= VIEW_SECONDS - 0.5, `the viewer decoded only ${decoded} s`);
    assert.equal(ffmpeg.exited, false, "the publisher must not have been dropped");
  } finally {
    await registry.close();
  }
});
