/**
 * Origin failover across processes: origin 1 is SIGKILLed mid-stream, so nothing releases its
 * claim and the stream must leave the registry by TTL alone (`STREAM_TTL_SECONDS=3`). The edge
 * must answer every request meanwhile and then 404 rather than hang on the dead origin, and
 * once the encoder reconnects to origin 2 the same edge URL must play again. How soon each
 * step happens is measured by the bench; here the deadlines are generous.
 */
import assert from "node:assert/strict";
import { quietLog } from "../lib/common/testing/log.ts";
import { RedisRegistry } from "@cascade/registry/redis";
import { startCluster } from "./helpers/cluster.ts";
import { decodeLive } from "./helpers/decode.ts";
import { publish } from "./helpers/media.ts";
import { GiveUp, waitFor } from "./helpers/wait.ts";

const TTL_SECONDS = 3;

/** The edge's status for `url`; an edge that leaves a request hanging ends the wait. */
async function edgeAnswer(url: string): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
    return res.status;
  } catch (err) {
    throw new GiveUp(`the edge did not answer ${url}: ${err}`);
  }
}

Deno.test("cluster: SIGKILL origin 1 → stream gone by TTL, edge answers 404; republish on origin 2 plays on the same edge URL", async () => {
  await using cluster = await startCluster({ env: { STREAM_TTL_SECONDS: String(TTL_SECONDS) } });
  const { info } = cluster;
  const registry = new RedisRegistry({ url: info.redisUrl, log: quietLog });
  try {
    const key = await cluster.createStream("cam2");
    const [origin1, origin2] = [info.origins[0]!, info.origins[1]!];
    const edgeUrl = `${info.edges[0]!.http}/live/cam2/index.m3u8`;

    await using first = publish(`${origin1.rtmp}/${key}`, { seconds: 90 });
    await waitFor("cam2 to play from origin 1 through the edge", async () => {
      first.giveUpIfExited();
      const res = await fetch(edgeUrl);
      return res.ok && (await res.text()).includes("#EXTINF");
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal((await registry.getStream("cam2"))?.originId, "origin-1");

    Deno.kill(origin1.pid, "SIGKILL");
    // Every request to the edge meanwhile gets an answer, whatever it is (`edgeAnswer` fails
    // the wait if one hangs); how fast is the bench's business.
    await waitFor("cam2 to leave the registry", async () => {
      await edgeAnswer(edgeUrl);
      return (await registry.getStream("cam2")) === null;
    }, { timeoutMs: (TTL_SECONDS + 30) * 1000, intervalMs: 100 });
    await waitFor("the edge to answer 404", async () => {
      return (await edgeAnswer(edgeUrl)) === 404;
    }, { timeoutMs: 30_000, intervalMs: 50 });
    await first.stop();

    await using second = publish(`${origin2.rtmp}/${key}`, { seconds: 90 });
    await waitFor("cam2 to be announced by origin 2", async () => {
      second.giveUpIfExited();
      return (await registry.getStream("cam2"))?.originId === "origin-2";
    }, { timeoutMs: 30_000, intervalMs: 200 });
    const decoded = await decodeLive(edgeUrl, 4);
    assert.ok(decoded >= 3.5, `decoded only ${decoded} s after the republish`);
  } finally {
    await registry.close();
  }
});
