/**
 * VOD acceptance with real encoders and ffmpeg: a `vod.m3u8` over a finished broadcast's
 * segments is served by the origin and decodes end to end; with `KEEP_HLS=true` the
 * packager keeps every segment past the live window and the republish grace period and
 * writes `vod.m3u8` itself, and once the broadcast is over the origin's discovery announces
 * it as `vod:{name}` so that it plays through an edge; `HLS_DVR_SECONDS` widens the live
 * window for rewind.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import { quietLog } from "../lib/common/testing/log.ts";
import { MemoryRegistry } from "@cascade/registry/memory";
import { createEdge, createEdgeApp } from "../edge/src/app.ts";
import { LIVE_PLAYLIST, VOD_PLAYLIST, vodPlaylistName } from "@cascade/media/hls/layout";
import { writeVodPlaylist } from "../origin/src/vod.ts";
import { decodeWhole } from "./helpers/decode.ts";
import { captureLog } from "./helpers/log.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin, type TestOrigin } from "./helpers/origin.ts";
import { waitFor } from "./helpers/wait.ts";

async function fetchPlaylist(url: string): Promise<LivePlaylist | undefined> {
  const res = await fetch(url);
  if (!res.ok) {
    await res.body?.cancel();
    return undefined;
  }
  assert.equal(res.headers.get("content-type"), "application/vnd.apple.mpegurl");
  return parsePlaylist(await res.text());
}

/** Decodes all of `url`, which must print nothing, and returns its probed duration. */
async function decodeClean(url: string): Promise<number> {
  const { errors, seconds } = await decodeWhole(url);
  assert.equal(errors, "", `ffmpeg -v error prints nothing for ${url}`);
  return seconds;
}

function waitEnded(origin: TestOrigin, name: string) {
  return waitFor(`${name} playlist to end`, async () => {
    const p = await fetchPlaylist(`${origin.httpUrl}/live/${name}/index.m3u8`);
    return p?.ended ? p : undefined;
  }, { timeoutMs: 15_000 });
}

Deno.test("a vod.m3u8 of a finished broadcast is served by the origin and decodes", async () => {
  // A window large enough to keep every segment of this broadcast, and a long grace.
  await using origin = await startTestOrigin({
    HLS_LIST_SIZE: "100",
    REPUBLISH_GRACE_SECONDS: "120",
  });
  const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 10 });
  assert.equal((await ff.status).code, 0, ff.output);
  const live = await waitEnded(origin, "alpha");
  const dir = join(origin.mediaRoot, "alpha");
  const name = await writeVodPlaylist(dir, live.segments, live.targetDuration);
  assert.equal(name, vodPlaylistName(live.segments[0]!.sequence));
  for (const file of [VOD_PLAYLIST, name]) {
    const vod = (await fetchPlaylist(`${origin.httpUrl}/live/alpha/${file}`))!;
    assert.equal(vod.playlistType, "VOD");
    assert.equal(vod.ended, true);
    assert.deepEqual(vod.segments.map((s) => s.uri), live.segments.map((s) => s.uri));
    assert.equal(vod.mediaSequence, live.segments[0]!.sequence);
  }
  const seconds = await decodeClean(`${origin.httpUrl}/live/alpha/${VOD_PLAYLIST}`);
  assert.ok(Math.abs(seconds - 10) < 1.5, `vod lasts ${seconds} s`);
});

Deno.test({
  name: "KEEP_HLS keeps every segment after the grace period and writes vod.m3u8",
  async fn() {
    const log = captureLog();
    await using origin = await startTestOrigin({
      KEEP_HLS: "true",
      HLS_LIST_SIZE: "3",
      REPUBLISH_GRACE_SECONDS: "1",
      RECORD: "none",
    }, { log });
    const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 16 });
    assert.equal((await ff.status).code, 0, ff.output);
    const live = await waitEnded(origin, "alpha");
    const vodUrl = `${origin.httpUrl}/live/alpha/${VOD_PLAYLIST}`;
    const vod = await waitFor("vod.m3u8", () => fetchPlaylist(vodUrl));
    assert.equal(vod.playlistType, "VOD");
    assert.ok(vod.ended);
    assert.ok(
      vod.segments.length > live.segments.length,
      `vod lists ${vod.segments.length}, the live window ${live.segments.length}`,
    );
    assert.equal(vod.segments.at(-1)!.uri, live.segments.at(-1)!.uri);
    // Past the republish grace period the directory, the playlists and every segment stay.
    const dir = join(origin.mediaRoot, "alpha");
    await waitFor("the grace period to end with the files kept", () => log.events("hls.kept")[0], {
      timeoutMs: 15_000,
    });
    assert.deepEqual(log.events("hls.removed"), []);
    await Deno.stat(join(dir, LIVE_PLAYLIST));
    for (const s of vod.segments) await Deno.stat(join(dir, s.uri));
    const seconds = await decodeClean(vodUrl);
    assert.ok(Math.abs(seconds - 16) < 1.5, `vod lasts ${seconds} s`);

    // The next broadcast on the name gets its own VOD playlist; the first one stays.
    const first = vodPlaylistName(vod.segments[0]!.sequence);
    const again = publish(origin.rtmpUrl("test_key_1234"), { seconds: 4 });
    assert.equal((await again.status).code, 0, again.output);
    const second = await waitFor("the second broadcast's vod.m3u8", async () => {
      const p = await fetchPlaylist(vodUrl);
      return p && p.segments[0]!.sequence > vod.segments.at(-1)!.sequence ? p : undefined;
    }, { timeoutMs: 20_000 });
    assert.ok(second.segments.length >= 1);
    const kept = (await fetchPlaylist(`${origin.httpUrl}/live/alpha/${first}`))!;
    assert.equal(kept.segments.length, vod.segments.length);
  },
});

/** An edge over `registry` on a random loopback port. */
async function startEdge(registry: MemoryRegistry): Promise<AsyncDisposable & { url: string }> {
  const edge = createEdge({ registry, cacheBytes: 64 * 2 ** 20, log: quietLog });
  await edge.start();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createEdgeApp(edge).fetch,
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await edge.close();
    },
  };
}

Deno.test({
  name: "KEEP_HLS: after stop, vod.m3u8 decodes end to end through the edge",
  async fn() {
    const registry = new MemoryRegistry({ log: quietLog });
    try {
      await using origin = await startTestOrigin({
        KEEP_HLS: "true",
        HLS_LIST_SIZE: "3",
        REPUBLISH_GRACE_SECONDS: "1",
        RECORD: "none",
      }, { registry });
      await using edge = await startEdge(registry);
      const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 9 });
      await waitFor("alpha to be live", () => registry.getStream("alpha"), { timeoutMs: 15_000 });
      assert.equal((await ff.status).code, 0, ff.output);
      const announced = await waitFor("alpha to be over and its VOD announced", async () => {
        const [live, vod] = await Promise.all([
          registry.getStream("alpha"),
          registry.getVod("alpha"),
        ]);
        return live === null && vod;
      }, { timeoutMs: 15_000 });
      assert.equal(announced.originUrl, origin.httpUrl);
      assert.equal(announced.manifest, `${origin.httpUrl}/live/alpha/${VOD_PLAYLIST}`);
      const gone = await fetch(`${edge.url}/live/alpha/index.m3u8`);
      assert.equal(gone.status, 404, "the live playlist is not live any more");
      await gone.body?.cancel();

      const vodUrl = `${edge.url}/live/alpha/${VOD_PLAYLIST}`;
      const vod = (await fetchPlaylist(vodUrl))!;
      assert.equal(vod.playlistType, "VOD");
      assert.ok(vod.ended);
      const atOrigin = await fetchPlaylist(`${origin.httpUrl}/live/alpha/${VOD_PLAYLIST}`);
      assert.deepEqual(vod, atOrigin, "the edge serves the origin's VOD playlist as written");
      assert.ok(vod.segments.length > 3, `${vod.segments.length} segments, more than the window`);
      const listed = vod.segments.reduce((sum, s) => sum + s.duration, 0);
      const seconds = await decodeClean(vodUrl);
      assert.ok(Math.abs(seconds - 9) < 1.5, `vod lasts ${seconds} s through the edge`);
      assert.ok(Math.abs(seconds - listed) < 0.5, `decoded ${seconds} s, listed ${listed} s`);
      const perBroadcast = `${edge.url}/live/alpha/${vodPlaylistName(vod.segments[0]!.sequence)}`;
      assert.equal((await fetchPlaylist(perBroadcast))?.segments.length, vod.segments.length);
    } finally {
      await registry.close();
    }
  },
});

Deno.test({
  name: "HLS_DVR_SECONDS widens the live window for rewind",
  async fn() {
    await using origin = await startTestOrigin({
      HLS_LIST_SIZE: "3",
      HLS_DVR_SECONDS: "20",
      RECORD: "none",
    });
    const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 26 });
    assert.equal((await ff.status).code, 0, ff.output);
    const live = await waitEnded(origin, "alpha");
    const listed = live.segments.reduce((sum, s) => sum + s.duration, 0);
    // 20 s of DVR over 2 s segments widens the list of 3 to ceil(20 / 2) = 10 segments. The
    // 26 s broadcast (a keyframe every 2 s) makes 13 segments of one 2 s GOP each, so the
    // ended playlist lists the newest 10: 20 s, give or take a late or missing frame.
    assert.equal(live.segments.length, 10, `the live playlist lists ${live.segments.length}`);
    assert.ok(Math.abs(listed - 20) < 0.25, `the live playlist lists ${listed} s`);
  },
});
