/**
 * The whole path through separate processes, as `deno task cluster` runs them: the API hands
 * out a stream key, ffmpeg publishes to origin 1 (which asks the API, `PUBLISH_AUTH=api`),
 * discovery announces the stream, the API lists it and points the viewer at an edge, and
 * ffmpeg decodes ten seconds through that edge. Then Ctrl-C's SIGTERM must stop every process
 * the cluster started, and the cluster must exit 0.
 */
import assert from "node:assert/strict";
import { processAlive, startCluster } from "./helpers/cluster.ts";
import { decodeLive } from "./helpers/decode.ts";
import { publish } from "./helpers/media.ts";
import { waitFor } from "./helpers/wait.ts";

interface LiveList {
  streams: { name: string; originId: string; hls: string; playbackUrl: string }[];
}

Deno.test("cluster: API key → origin 1 → /api/v1/live → edge plays 10 s; SIGTERM stops everything", async () => {
  await using cluster = await startCluster();
  const { info } = cluster;
  const key = await cluster.createStream("cam1");
  const origin1 = info.origins[0]!;

  await using ffmpeg = publish(`${origin1.rtmp}/${key}`, { seconds: 90 });
  const listed = await waitFor("/api/v1/live to list cam1", async () => {
    ffmpeg.giveUpIfExited();
    const res = await fetch(`${info.api.http}/api/v1/live`);
    const live: LiveList = await res.json();
    return live.streams.find((s) => s.name === "cam1");
  }, { timeoutMs: 30_000, intervalMs: 200 });
  assert.equal(listed.originId, "origin-1");

  const res = await fetch(listed.playbackUrl);
  const playback = await res.json();
  assert.equal(res.status, 200, JSON.stringify(playback));
  assert.equal(playback.live, true);
  const edgeUrls = info.edges.map((e) => `${e.http}/live/cam1/index.m3u8`);
  assert.ok(edgeUrls.includes(playback.hls), `${playback.hls} is not on an edge`);
  assert.ok(!JSON.stringify(playback).includes(key), "the key must not reach playback");

  const decoded = await decodeLive(playback.hls, 10);
  assert.ok(decoded >= 9.5, `decoded only ${decoded} s through the edge`);

  await ffmpeg.stop();
  assert.ok(!cluster.process.output.includes(key), "the key must not reach any log");
  const pids = cluster.pids();
  assert.ok(pids.every(processAlive), "every role is still running before the stop");
  const status = await cluster.stop();
  assert.equal(status.code, 0, cluster.process.output.slice(-3000));
  assert.deepEqual(pids.filter(processAlive), [], "processes left behind by the cluster");
});
