/**
 * The nginx configurations of `nginx/`, rendered and run by a real nginx inside the cluster
 * (`--nginx`). The nginx-rtmp origin asks the API about a key and relays the stream to its
 * HLS application under the public name; the discovery process beside it announces the
 * stream and an edge plays it. The load balancer in front of the edges sends every request
 * of a stream to one edge, passes the edges' CORS and cache headers through, and when that
 * edge dies it moves the stream to the other one without a failed request. No key, right or
 * wrong, may appear in any process's log.
 */
import assert from "node:assert/strict";
import { quietLog } from "../lib/common/testing/log.ts";
import { RedisRegistry } from "@cascade/registry/redis";
import { startCluster } from "./helpers/cluster.ts";
import { decodeLive } from "./helpers/decode.ts";
import { publish } from "./helpers/media.ts";
import { waitFor } from "./helpers/wait.ts";

async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(path)) names.push(entry.name);
  return names.sort();
}

/** The upstreams the balancer's access log names for `stream`, in order. */
function upstreamsOf(output: string, stream: string): string[] {
  const re = new RegExp(`stream=${stream} upstream=(\\S+)`, "g");
  return Array.from(output.matchAll(re), (m) => m[1]!);
}

Deno.test("cluster with nginx: nginx-rtmp origin → discovery → edge; load balancer affinity, headers and failover", async (t) => {
  await using cluster = await startCluster({ nginx: true });
  const { info } = cluster;
  const nginx = info.nginx!;
  const registry = new RedisRegistry({ url: info.redisUrl, log: quietLog });
  const key = await cluster.createStream("cam3");
  await using ffmpeg = publish(`${nginx.origin.rtmp}/${key}`, { seconds: 120 });

  try {
    await t.step(
      "nginx-rtmp writes HLS under the public name and discovery announces it",
      async () => {
        const record = await waitFor("cam3 in the registry", async () => {
          ffmpeg.giveUpIfExited();
          return (await registry.getStream("cam3")) ?? undefined;
        }, { timeoutMs: 30_000, intervalMs: 200 });
        assert.equal(record.originId, "nginx-rtmp");
        assert.equal(record.manifest, `${nginx.origin.http}/live/cam3/index.m3u8`);
        const hls = `${info.dir}/media/nginx-rtmp`;
        assert.deepEqual(await listDir(hls), ["cam3"]);
        for (const name of await listDir(`${hls}/cam3`)) {
          assert.match(name, /^(index\.m3u8|\d+\.ts)$/);
        }
        const res = await fetch(record.manifest);
        assert.equal(res.headers.get("content-type"), "application/vnd.apple.mpegurl");
        assert.equal(res.headers.get("access-control-allow-origin"), "*");
        assert.ok(!(await res.text()).includes(key), "the key must not reach the playlist");
      },
    );

    await t.step("the edge the API chooses plays it", async () => {
      const res = await fetch(`${info.api.http}/api/v1/streams/cam3/playback`);
      const playback = await res.json();
      assert.equal(res.status, 200, JSON.stringify(playback));
      const decoded = await decodeLive(playback.hls, 6);
      assert.ok(decoded >= 5.5, `decoded only ${decoded} s through the edge`);
    });

    const lbUrl = `${nginx.loadBalancer.http}/live/cam3/index.m3u8`;
    let chosen = "";
    await t.step(
      "the load balancer keeps a stream on one edge and passes headers through",
      async () => {
        const viaLb = await fetch(lbUrl);
        await viaLb.body?.cancel();
        assert.equal(viaLb.status, 200);
        for (let i = 0; i < 5; i++) await (await fetch(lbUrl)).body?.cancel();
        await (await fetch(`${nginx.loadBalancer.http}/watch/cam3`)).body?.cancel();
        const upstreams = await waitFor("6 playlist and 1 page lines in the access log", () => {
          const seen = upstreamsOf(cluster.process.output, "cam3");
          return seen.length >= 7 && seen;
        });
        chosen = upstreams[0]!;
        assert.deepEqual(new Set(upstreams), new Set([chosen]), "one stream, one edge");
        assert.ok(info.edges.some((e) => e.http === `http://${chosen}`), `${chosen} is no edge`);

        const direct = await fetch(`http://${chosen}/live/cam3/index.m3u8`);
        await direct.body?.cancel();
        for (const header of ["cache-control", "access-control-allow-origin", "content-type"]) {
          assert.equal(viaLb.headers.get(header), direct.headers.get(header), header);
        }
        const preflight = await fetch(lbUrl, {
          method: "OPTIONS",
          headers: { origin: "https://player.example", "access-control-request-method": "GET" },
        });
        await preflight.body?.cancel();
        assert.equal(preflight.headers.get("access-control-allow-origin"), "*");
      },
    );

    await t.step(
      "when that edge dies the balancer moves the stream without a failed request",
      async () => {
        const dead = info.edges.find((e) => e.http === `http://${chosen}`)!;
        const logged = upstreamsOf(cluster.process.output, "cam3").length;
        Deno.kill(dead.pid, "SIGKILL");
        for (let i = 0; i < 5; i++) {
          const res = await fetch(lbUrl);
          const body = await res.text();
          assert.equal(res.status, 200, body);
          assert.ok(body.includes("#EXTINF"));
        }
        const after = await waitFor("the 5 requests in the access log", () => {
          const seen = upstreamsOf(cluster.process.output, "cam3");
          return seen.length >= logged + 5 && seen.at(-1);
        });
        assert.notEqual(after, chosen);
        const decoded = await decodeLive(lbUrl, 4);
        assert.ok(decoded >= 3.5, `decoded only ${decoded} s through the balancer`);
      },
    );
    await t.step("a wrong key is refused and no log line names it", async () => {
      const wrongKey = `sk_${"W".repeat(43)}`;
      await using refused = publish(`${nginx.origin.rtmp}/${wrongKey}`, { seconds: 30 });
      const status = await waitFor("ffmpeg to be refused", () => refused.exited && refused.status, {
        timeoutMs: 15_000,
      });
      assert.notEqual(status.code, 0);
      await waitFor(
        "the API to log the refusal",
        () => /publish\.refused/.test(cluster.process.output),
      );
      assert.deepEqual(await listDir(`${info.dir}/media/nginx-rtmp`), ["cam3"]);
      for (const secret of [key, wrongKey]) {
        assert.ok(!cluster.process.output.includes(secret), "a key reached a log line");
      }
    });
  } finally {
    await registry.close();
  }
});
