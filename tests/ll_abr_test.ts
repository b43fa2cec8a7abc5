/**
 * Adaptive bitrate over Low-Latency HLS on a real origin node (`HLS_LL=true`,
 * `TRANSCODE_PROFILE=240p`, a 720p ffmpeg publish): `ll_master.m3u8` lists the source's and the
 * rendition's `ll.m3u8` with the same attributes as `master.m3u8` (which keeps its TS
 * variants); each LL playlist reports where the other rung stands, as that rung's own playlist
 * says within a part; and hls.js in headless Chromium with `lowLatencyMode` plays the LL master
 * at each level with no fatal error.
 */
import assert from "node:assert/strict";
import { parseLlPlaylist, type RenditionReport } from "@cascade/media/hls/ll_playlist";
import { startTestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { openBrowser } from "./helpers/browser.ts";
import { playEachLevel, servePlayerPage } from "./helpers/hls_page.ts";
import { waitFor } from "./helpers/wait.ts";

async function text(url: string): Promise<string | undefined> {
  const res = await fetch(url);
  const body = await res.text();
  return res.ok ? body : undefined;
}

function uris(playlist: string): string[] {
  return playlist.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
}

/** The parts a playlist lists, oldest first, as `msn.part`. */
function listedParts(playlist: string): string[] {
  const out: string[] = [];
  for (const s of parseLlPlaylist(playlist).segments) {
    s.parts.forEach((_, i) => out.push(`${s.sequence}.${i}`));
  }
  return out;
}

/**
 * How many parts the playlist at `url` is ahead of what `report` said of it a moment before;
 * -1 when the reported part is not one it lists.
 */
async function partsAhead(url: string, report: RenditionReport): Promise<number> {
  const parts = listedParts((await text(url))!);
  const at = parts.indexOf(`${report.lastMsn}.${report.lastPart}`);
  return at < 0 ? -1 : parts.length - 1 - at;
}

Deno.test("LL ABR: ll_master lists each rung's ll.m3u8, rendition reports track the siblings, hls.js plays each level", async () => {
  await using origin = await startTestOrigin({ HLS_LL: "true", TRANSCODE_PROFILE: "240p" });
  await using _pub = publish(origin.rtmpUrl("test_key_1234"), { size: "1280x720" });
  const base = `${origin.httpUrl}/live/alpha`;
  // Rates and frame rates are the hub's measurements, which come a moment after the first part.
  const master = await waitFor("an LL master playlist of two measured variants", async () => {
    const body = await text(`${base}/ll_master.m3u8`);
    return body !== undefined && uris(body).length === 2 &&
        body.split("FRAME-RATE=").length === 3
      ? body
      : undefined;
  }, { timeoutMs: 20_000 });
  assert.deepEqual(uris(master), ["ll.m3u8", "../alpha_240p/ll.m3u8"]);
  for (const attr of [":BANDWIDTH=", "AVERAGE-BANDWIDTH=", 'CODECS="avc1.', "FRAME-RATE="]) {
    assert.equal(master.split(attr).length - 1, 2, `${attr} on every variant:\n${master}`);
  }
  assert.match(master, /RESOLUTION=1280x720[\s\S]*RESOLUTION=426x240/);
  // The TS master keeps its TS variants (listed once the rendition's first segment is out,
  // later than its first LL part).
  await waitFor("the TS master's two variants", async () => {
    const ts = uris((await text(`${base}/master.m3u8`)) ?? "");
    return ts.length === 2 ? ts : undefined;
  }, { timeoutMs: 20_000 }).then((ts) =>
    assert.deepEqual(ts, ["index.m3u8", "../alpha_240p/index.m3u8"])
  );
  const missing = await fetch(`${origin.httpUrl}/live/alpha_240p/ll_master.m3u8`);
  assert.equal(missing.status, 404, "a rendition has no master of its own");
  await missing.body?.cancel();

  // Each playlist reports the other rung; what it says is at most one part behind what that
  // rung's own playlist lists right after (both keep advancing).
  for (let i = 0; i < 5; i++) {
    for (const [self, sibling] of [["alpha", "alpha_240p"], ["alpha_240p", "alpha"]] as const) {
      const own = parseLlPlaylist((await text(`${origin.httpUrl}/live/${self}/ll.m3u8`))!);
      assert.equal(own.renditionReports.length, 1, `${self} reports one sibling`);
      const report = own.renditionReports[0]!;
      assert.equal(report.uri, `../${sibling}/ll.m3u8`);
      const ahead = await partsAhead(`${origin.httpUrl}/live/${sibling}/ll.m3u8`, report);
      assert.ok(ahead === 0 || ahead === 1, `${self}'s report of ${sibling} is ${ahead} parts off`);
    }
  }

  await using browser = await openBrowser();
  await using player = await servePlayerPage();
  const page = browser.page;
  await page.goto(player.url(`${base}/ll_master.m3u8`, { lowLatency: true }));
  await waitFor(
    "hls.js to load two levels",
    () => page.evaluate<boolean>("window.hls.levels.length === 2"),
    { timeoutMs: 15_000 },
  );
  const levelHeights = await playEachLevel(page);
  assert.deepEqual(levelHeights.toSorted((a, b) => a - b), [240, 720]);
  assert.equal(await page.evaluate<boolean>("window.hls.lowLatencyMode"), true);
  assert.deepEqual(await page.evaluate("window.fatal"), []);
});
