/**
 * Origin failover without a reset, on the local cluster (real origins, edges, API and Redis):
 * hls.js in Chromium plays a stream through an edge while the origin holding it is killed
 * with SIGKILL. Either the encoder moves to the other origin within 2 s, or a second encoder
 * already publishes the same key there as a hot standby (shown in `GET /api/v1/live`). Every
 * playlist poll at the edge meanwhile answers 2xx, media and discontinuity sequences never go
 * back, the new origin's playlist continues after one discontinuity, and hls.js plays on with
 * no fatal error and no freeze over 3 s.
 */
import assert from "node:assert/strict";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { RedisRegistry } from "@cascade/registry/redis";
import { quietLog } from "../lib/common/testing/log.ts";
import { openBrowser } from "./helpers/browser.ts";
import { startCluster, type TestCluster } from "./helpers/cluster.ts";
import { type PlayerSample, servePlayerPage } from "./helpers/hls_page.ts";
import { publish } from "./helpers/media.ts";
import { waitFor } from "./helpers/wait.ts";

/** Longest the playhead may stand still once playing. */
const MAX_FREEZE_MS = 3_000;

interface Poll {
  status: number;
  mediaSequence: number;
  discontinuitySequence: number;
  lastSequence: number;
  discontinuities: number;
}

/** Polls the edge's playlist every 250 ms, as a player does, keeping every answer. */
function pollEdge(url: string): { polls: Poll[]; stop(): Promise<void> } {
  const polls: Poll[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      if (res.ok) {
        const p = parsePlaylist(text);
        polls.push({
          status: res.status,
          mediaSequence: p.mediaSequence,
          discontinuitySequence: p.discontinuitySequence,
          lastSequence: p.mediaSequence + p.segments.length - 1,
          discontinuities: p.segments.filter((s) => s.discontinuity).length,
        });
      } else {
        polls.push({
          status: res.status,
          mediaSequence: -1,
          discontinuitySequence: -1,
          lastSequence: -1,
          discontinuities: 0,
        });
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    polls,
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Samples the player every 250 ms: the longest wall time its playhead stood still. */
function watchPlayer(sample: () => Promise<PlayerSample>) {
  let running = true;
  let last = { t: -1, at: performance.now() };
  let longestFreezeMs = 0;
  let playedSeconds = 0;
  const loop = (async () => {
    while (running) {
      const s = await sample();
      const now = performance.now();
      if (s.t > last.t) {
        if (last.t >= 0) playedSeconds += s.t - last.t;
        last = { t: s.t, at: now };
      } else if (last.t > 0) {
        longestFreezeMs = Math.max(longestFreezeMs, now - last.at);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    get playedSeconds() {
      return playedSeconds;
    },
    get longestFreezeMs() {
      return longestFreezeMs;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Asserts the polls saw only 2xx and sequences that never went back; returns the last. */
function assertContinuous(polls: Poll[]): Poll {
  assert.ok(polls.length > 20, `${polls.length} polls`);
  const failed = polls.filter((p) => p.status >= 300);
  assert.deepEqual(failed.map((p) => p.status), [], "every playlist poll answered 2xx");
  for (let i = 1; i < polls.length; i++) {
    const [a, b] = [polls[i - 1]!, polls[i]!];
    assert.ok(
      b.mediaSequence >= a.mediaSequence,
      `media sequence ${a.mediaSequence} → ${b.mediaSequence}`,
    );
    assert.ok(
      b.discontinuitySequence >= a.discontinuitySequence,
      `discontinuity sequence ${a.discontinuitySequence} → ${b.discontinuitySequence}`,
    );
    assert.ok(
      b.lastSequence >= a.lastSequence,
      `newest segment ${a.lastSequence} → ${b.lastSequence}`,
    );
  }
  return polls.at(-1)!;
}

async function failover(
  cluster: TestCluster,
  name: string,
  move: (key: string) => Promise<AsyncDisposable>,
  before?: (key: string) => Promise<AsyncDisposable>,
): Promise<void> {
  const { info } = cluster;
  const registry = new RedisRegistry({ url: info.redisUrl, log: quietLog });
  try {
    const key = await cluster.createStream(name);
    const [origin1] = info.origins;
    const edgeUrl = `${info.edges[0]!.http}/live/${name}/index.m3u8`;
    await using _first = publish(`${origin1!.rtmp}/${key}`, { seconds: 120 });
    await waitFor(`${name} to be claimed by origin 1`, async () => {
      return (await registry.getStream(name))?.originId === origin1!.id;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    await using _standby = before ? await before(key) : undefined;

    // The viewer joins a running stream, as most do: with a few segments listed, hls.js starts
    // its default three target durations behind the live edge. (One that joined in the first
    // seconds plays from the first segment, ~2 s behind, and freezes ~2.8 s while the encoder
    // reconnects and the new origin cuts its first 2 s segment.)
    await waitFor("the edge to list 4 segments", async () => {
      const res = await fetch(edgeUrl);
      return res.ok && parsePlaylist(await res.text()).segments.length >= 4;
    }, { timeoutMs: 30_000, intervalMs: 250 });
    await using browser = await openBrowser();
    await using page = await servePlayerPage();
    await browser.page.goto(page.url(edgeUrl));
    const player = watchPlayer(() => browser.page.evaluate<PlayerSample>("window.sample()"));
    await waitFor("hls.js to play 4 s", () => player.playedSeconds >= 4, {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
    const edge = pollEdge(edgeUrl);
    await waitFor("a few polls", () => edge.polls.length >= 4, { timeoutMs: 10_000 });
    const before1 = edge.polls.at(-1)!;

    Deno.kill(originPid(cluster, origin1!.id), "SIGKILL");
    await using _moved = await move(key);
    const killedAt = player.playedSeconds;
    const taken = await waitFor("the stream to be served by another origin", async () => {
      const record = await registry.getStream(name);
      return record !== null && record.originId !== origin1!.id ? record : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    // The new origin's own playlist continues the old one's numbers (not its own, which are
    // time-based and far above): the registry record carried them over.
    const own = parsePlaylist(await (await fetch(taken.manifest)).text());
    assert.ok(
      own.mediaSequence > before1.lastSequence && own.mediaSequence <= before1.lastSequence + 10,
      `origin ${taken.originId} continues after ${before1.lastSequence}: ${own.mediaSequence}`,
    );
    assert.ok(own.segments[0]!.discontinuity || own.discontinuitySequence > 0);
    await waitFor(
      "hls.js to play 10 s past the kill",
      () => player.playedSeconds >= killedAt + 10,
      {
        timeoutMs: 40_000,
        intervalMs: 200,
      },
    );
    await edge.stop();
    await player.stop();

    const last = assertContinuous(edge.polls);
    assert.ok(last.lastSequence > before1.lastSequence + 2, "the playlist went on");
    const newDiscontinuities = last.discontinuitySequence + last.discontinuities -
      (before1.discontinuitySequence + before1.discontinuities);
    assert.equal(newDiscontinuities, 1, "one discontinuity for the move");
    assert.deepEqual(await browser.page.evaluate("window.fatal"), [], "no fatal hls.js error");
    assert.ok(
      player.longestFreezeMs <= MAX_FREEZE_MS,
      `the playhead stood still for ${Math.round(player.longestFreezeMs)} ms`,
    );
    console.log(
      `failover of ${name}: longest freeze ${Math.round(player.longestFreezeMs)} ms, ` +
        `${edge.polls.length} polls all 2xx, segment ${before1.lastSequence} → ${last.lastSequence}`,
    );
  } finally {
    await registry.close();
  }
}

/** The PID of the origin `id` runs as now. */
function originPid(cluster: TestCluster, id: string): number {
  return cluster.info.origins.find((o) => o.id === id)!.pid;
}

Deno.test("SIGKILL of the stream's origin, encoder republishing to the other within 2 s: all 2xx, sequences continue, hls.js plays on", async () => {
  await using cluster = await startCluster();
  const origin2 = cluster.info.origins[1]!;
  await failover(cluster, "cam1", (key) => {
    // The encoder reconnects to the other origin at once (within the 2 s of the issue).
    return Promise.resolve(publish(`${origin2.rtmp}/${key}`, { seconds: 120 }));
  });
});

Deno.test("two encoders on one key: the second origin stands by (API), takes over on SIGKILL of the first with one discontinuity", async () => {
  await using cluster = await startCluster();
  const origin2 = cluster.info.origins[1]!;
  await failover(
    cluster,
    "cam2",
    () => Promise.resolve({ [Symbol.asyncDispose]: () => Promise.resolve() }),
    async (key) => {
      const standby = publish(`${origin2.rtmp}/${key}`, { seconds: 120 });
      await waitFor("GET /api/v1/live to list origin 2 as standby", async () => {
        const res = await fetch(`${cluster.info.api.http}/api/v1/live`);
        const body = await res.json();
        const stream = body.streams.find((s: { name: string }) => s.name === "cam2");
        return stream?.standby?.includes(origin2.id) && stream.originId !== origin2.id;
      }, { timeoutMs: 30_000, intervalMs: 250 });
      return standby;
    },
  );
});
