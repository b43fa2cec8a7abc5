/**
 * VOD acceptance with real encoders and ffmpeg: a `vod.m3u8` over a finished broadcast's
 * segments is served by the origin and decodes end to end; with `KEEP_HLS=true` the
 * packager keeps every segment past the live window and the republish grace period and
 * writes `vod.m3u8` itself; `HLS_DVR_SECONDS` widens the live window for rewind.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import { VOD_PLAYLIST, vodPlaylistName, writeVodPlaylist } from "../origin/src/vod.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin, type TestOrigin } from "./helpers/origin.ts";
import { runProcess } from "./helpers/process.ts";
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

/** Decodes `url` with ffmpeg (nothing may be printed) and returns the probed duration. */
async function decode(url: string): Promise<number> {
  const r = await runProcess("ffmpeg", ["-v", "error", "-i", url, "-f", "null", "-"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "", `ffmpeg -v error prints nothing for ${url}`);
  const probe = await runProcess("ffprobe", [
    ...["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", url],
  ]);
  return Number(probe.stdout.trim());
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
  const seconds = await decode(`${origin.httpUrl}/live/alpha/${VOD_PLAYLIST}`);
  assert.ok(Math.abs(seconds - 10) < 1.5, `vod lasts ${seconds} s`);
});

Deno.test({
  name: "KEEP_HLS keeps every segment after the grace period and writes vod.m3u8",
  async fn() {
    await using origin = await startTestOrigin({
      KEEP_HLS: "true",
      HLS_LIST_SIZE: "3",
      REPUBLISH_GRACE_SECONDS: "1",
      RECORD: "none",
    });
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
    await waitFor("the grace period to pass", async () => {
      const st = await Deno.stat(join(dir, "index.m3u8"));
      return Date.now() - st.mtime!.getTime() > 2500;
    }, { timeoutMs: 10_000 });
    for (const s of vod.segments) await Deno.stat(join(dir, s.uri));
    const seconds = await decode(vodUrl);
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
    assert.ok(listed >= 18, `the live playlist lists ${listed} s`);
  },
});
