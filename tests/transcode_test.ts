/**
 * The adaptive-bitrate ladder end to end on a real origin node: a 720p ffmpeg publish with
 * `TRANSCODE_PROFILE=480p,240p` gets a master playlist of three variants whose segments
 * ffprobe sees at 720, 480 and 240 lines, which hls.js in headless Chromium plays and can be
 * forced through; killing a rendition's ffmpeg leaves the source's playlist advancing without a
 * hole and the rendition comes back; without ffmpeg the source is untouched and the transcoder
 * says it is unavailable; a publisher may not take a rendition's name.
 */
import assert from "node:assert/strict";
import { startTestOrigin, type TestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { probeJson } from "./helpers/decode.ts";
import { openBrowser } from "./helpers/browser.ts";
import { playEachLevel, servePlayerPage } from "./helpers/hls_page.ts";
import { waitFor } from "./helpers/wait.ts";

const PROFILE = { TRANSCODE_PROFILE: "480p,240p" };

async function text(url: string): Promise<string | undefined> {
  const res = await fetch(url);
  const body = await res.text();
  return res.ok ? body : undefined;
}

/** The master playlist's variant URIs, once it lists `count`. */
function masterWith(origin: TestOrigin, name: string, count: number): Promise<string[]> {
  return waitFor(`a master playlist of ${count} variants`, async () => {
    const master = await text(`${origin.httpUrl}/live/${name}/master.m3u8`);
    const uris = master?.split("\n").filter((l) => l !== "" && !l.startsWith("#")) ?? [];
    return uris.length === count ? uris : undefined;
  }, { timeoutMs: 20_000 });
}

/** Segment sequence numbers, durations and program date times of a media playlist. */
function segments(playlist: string): { seq: number; seconds: number; pdt: number }[] {
  const out: { seq: number; seconds: number; pdt: number }[] = [];
  let pdt = NaN;
  let seconds = NaN;
  for (const line of playlist.split("\n")) {
    if (line.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) pdt = Date.parse(line.slice(25));
    else if (line.startsWith("#EXTINF:")) seconds = parseFloat(line.slice(8));
    else if (/^\d+\.ts$/.test(line)) out.push({ seq: parseInt(line), seconds, pdt });
  }
  return out;
}

Deno.test("transcoder: a 720p publish gets a master of 720/480/240 variants hls.js plays at each level", async () => {
  await using origin = await startTestOrigin(PROFILE);
  await using _pub = publish(origin.rtmpUrl("test_key_1234"), {
    size: "1280x720",
    bitrate: "2000k",
  });
  const uris = await masterWith(origin, "alpha", 3);
  assert.deepEqual(uris, ["index.m3u8", "../alpha_480p/index.m3u8", "../alpha_240p/index.m3u8"]);
  const master = (await text(`${origin.httpUrl}/live/alpha/master.m3u8`))!;
  for (const attr of [":BANDWIDTH=", "AVERAGE-BANDWIDTH=", 'CODECS="avc1.', "FRAME-RATE="]) {
    assert.equal(master.split(attr).length - 1, 3, `${attr} on every variant:\n${master}`);
  }
  assert.match(master, /RESOLUTION=1280x720[\s\S]*RESOLUTION=854x480[\s\S]*RESOLUTION=426x240/);

  const heights = [];
  for (const uri of uris) {
    const base = new URL(uri, `${origin.httpUrl}/live/alpha/master.m3u8`);
    const list = (await text(base.href))!;
    const last = segments(list).at(-1)!;
    const info = await probeJson(
      new URL(`${last.seq}.ts`, base).href,
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=height",
    ) as { streams: { height: number }[] };
    heights.push(info.streams[0]!.height);
  }
  assert.deepEqual(heights, [720, 480, 240]);

  await using browser = await openBrowser();
  await using player = await servePlayerPage();
  const page = browser.page;
  await page.goto(player.url(`${origin.httpUrl}/live/alpha/master.m3u8`));
  await waitFor(
    "hls.js to load three levels",
    () => page.evaluate<boolean>("window.hls.levels.length === 3"),
    { timeoutMs: 15_000 },
  );
  const levelHeights = await playEachLevel(page);
  assert.deepEqual(levelHeights.toSorted((a, b) => a - b), [240, 480, 720]);
  assert.deepEqual(await page.evaluate("window.fatal"), []);
});

Deno.test("transcoder: a killed ffmpeg leaves the source playing without a hole and comes back", async () => {
  await using origin = await startTestOrigin({ TRANSCODE_PROFILE: "240p" });
  await using _pub = publish(origin.rtmpUrl("test_key_1234"), { size: "1280x720" });
  await masterWith(origin, "alpha", 2);
  const [pid] = origin.transcoder.pids();
  assert.ok(pid !== undefined);
  const before = segments((await text(`${origin.httpUrl}/live/alpha/index.m3u8`))!).at(-1)!;
  Deno.kill(pid, "SIGKILL");
  const rendition = `${origin.httpUrl}/live/alpha_240p/index.m3u8`;
  const lastRendition = segments((await text(rendition))!).at(-1)!.seq;
  await waitFor("a new ffmpeg for the rendition", () => {
    const pids = origin.transcoder.pids();
    return pids.length === 1 && pids[0] !== pid;
  }, { timeoutMs: 10_000 });
  await waitFor("the rendition to advance again", async () => {
    const last = segments((await text(rendition)) ?? "").at(-1);
    return last !== undefined && last.seq > lastRendition + 1;
  }, { timeoutMs: 15_000 });

  const source = (await text(`${origin.httpUrl}/live/alpha/index.m3u8`))!;
  assert.ok(!source.includes("#EXT-X-DISCONTINUITY\n"), source);
  const after = segments(source).filter((s) => s.seq >= before.seq);
  assert.ok(after.length >= 3, source);
  for (let i = 1; i < after.length; i++) {
    const [a, b] = [after[i - 1]!, after[i]!];
    assert.equal(b.seq, a.seq + 1, source);
    assert.ok(a.seconds < 2.5, `segment ${a.seq} of ${a.seconds} s:\n${source}`);
    assert.ok(
      Math.abs(b.pdt - a.pdt - a.seconds * 1000) < 100,
      `a hole before ${b.seq}:\n${source}`,
    );
  }
  assert.match(origin.metrics.render(), /cascade_transcode_restarts_total 1/);
});

Deno.test("transcoder: without ffmpeg the source is untouched and the transcoder says unavailable", async () => {
  await using origin = await startTestOrigin({
    ...PROFILE,
    TRANSCODE_FFMPEG: "/nonexistent/ffmpeg",
  });
  // Nothing is spawned at start: ffmpeg is checked when the first broadcast wants renditions.
  assert.equal(origin.transcoder.available, true);
  await using _pub = publish(origin.rtmpUrl("test_key_1234"));
  await waitFor(
    "the source's playlist",
    async () => (await text(`${origin.httpUrl}/live/alpha/index.m3u8`))?.includes(".ts"),
  );
  await waitFor("ffmpeg found missing", () => !origin.transcoder.available);
  assert.match(origin.metrics.render(), /cascade_transcode_available 0/);
  const master = await masterWith(origin, "alpha", 1);
  assert.deepEqual(master, ["index.m3u8"]);
  for (const name of ["beta", "alpha_480p"]) {
    const res = await fetch(`${origin.httpUrl}/live/${name}/master.m3u8`);
    assert.equal(res.status, 404, `${name}: not a live source`);
    await res.body?.cancel();
  }
  assert.equal(origin.hub.get("alpha_480p"), undefined);
});

Deno.test("transcoder: a publisher may not take a rendition's name", async () => {
  await using origin = await startTestOrigin({ PUBLISH_KEYS: "test_key_1234=alpha_480p" });
  await using pub = publish(origin.rtmpUrl("test_key_1234"), { seconds: 5 });
  const status = await pub.status;
  assert.notEqual(status.code, 0);
  assert.equal(origin.hub.get("alpha_480p"), undefined);
  assert.equal(await text(`${origin.httpUrl}/live/alpha_480p/index.m3u8`), undefined);
});
