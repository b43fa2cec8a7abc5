/**
 * Origin failover across processes: origin 1 is SIGKILLed mid-stream, so nothing releases its
 * claim and the stream must leave the registry by TTL alone (`STREAM_TTL_SECONDS=3`, within
 * TTL + 1 s). The edge must then answer 404 quickly rather than wait on the dead origin, and
 * once the encoder reconnects to origin 2 the same edge URL must play again.
 */
import assert from "node:assert/strict";
import { quietLog } from "@cascade/registry/contract";
import { RedisRegistry } from "@cascade/registry/redis";
import { decode, startCluster } from "./helpers/cluster.ts";
import { publish } from "./helpers/media.ts";
import { waitFor } from "./helpers/wait.ts";

const TTL_SECONDS = 3;

async function timedFetch(url: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  await res.body?.cancel();
  return { status: res.status, ms: performance.now() - started };
}

Deno.test("cluster: SIGKILL origin 1 → stream gone within TTL + 1 s, edge 404s fast; republish on origin 2 plays on the same edge URL", async () => {
  await using cluster = await startCluster({ env: { STREAM_TTL_SECONDS: String(TTL_SECONDS) } });
  const { info } = cluster;
  const registry = new RedisRegistry({ url: info.redisUrl, log: quietLog });
  try {
    const key = await cluster.createStream("cam2");
    const [origin1, origin2] = [info.origins[0]!, info.origins[1]!];
    const edgeUrl = `${info.edges[0]!.http}/live/cam2/index.m3u8`;

    await using first = publish(`${origin1.rtmp}/${key}`, { seconds: 90 });
    await waitFor("cam2 to play from origin 1 through the edge", async () => {
      if (first.exited) throw new Error(`ffmpeg exited:\n${first.output}`);
      const res = await fetch(edgeUrl);
      return res.ok && (await res.text()).includes("#EXTINF");
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal((await registry.getStream("cam2"))?.originId, "origin-1");

    Deno.kill(origin1.pid, "SIGKILL");
    const killedAt = performance.now();
    // Every answer the edge gives meanwhile comes quickly, whatever it is.
    let slowest = 0;
    await waitFor("cam2 to leave the registry", async () => {
      slowest = Math.max(slowest, (await timedFetch(edgeUrl)).ms);
      return (await registry.getStream("cam2")) === null;
    }, { timeoutMs: (TTL_SECONDS + 5) * 1000, intervalMs: 100 });
    const goneAfter = performance.now() - killedAt;
    assert.ok(goneAfter <= (TTL_SECONDS + 1) * 1000, `stream left after ${goneAfter} ms`);

    const notFound = await waitFor("the edge to answer 404", async () => {
      const answer = await timedFetch(edgeUrl);
      slowest = Math.max(slowest, answer.ms);
      return answer.status === 404 && answer;
    }, { timeoutMs: 2000, intervalMs: 50 });
    assert.ok(notFound.ms < 500, `the edge took ${notFound.ms} ms to answer 404`);
    assert.ok(slowest < 2500, `an edge answer took ${slowest} ms while origin 1 was dead`);
    await first.stop();

    await using second = publish(`${origin2.rtmp}/${key}`, { seconds: 90 });
    await waitFor("cam2 to be announced by origin 2", async () => {
      if (second.exited) throw new Error(`ffmpeg exited:\n${second.output}`);
      return (await registry.getStream("cam2"))?.originId === "origin-2";
    }, { timeoutMs: 30_000, intervalMs: 200 });
    const decoded = await decode(edgeUrl, 4);
    assert.ok(decoded >= 3.5, `decoded only ${decoded} s after the republish`);
  } finally {
    await registry.close();
  }
});
