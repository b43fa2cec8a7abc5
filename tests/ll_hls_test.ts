/**
 * Low-Latency HLS at the origin, end to end: ffmpeg publishes a paced 30 fps stream with 2 s
 * keyframes over RTMP to an in-process origin, and
 * - a blocking reload asking for the next part is answered as soon as that part exists
 *   (within about a part target of being asked, measured), with the part in the answer;
 * - a player-like loop of blocking reloads judges every reload with `LlPlaylistChecker`;
 * - ffmpeg decodes `ll.m3u8` (init segment and fMP4 segments) without a complaint;
 * - hls.js with `lowLatencyMode` plays `ll.m3u8` straight from the origin in Chromium, less
 *   than 3 s behind live (wall clock against the playhead's program date time);
 * - the publisher's clean stop ends the playlist.
 */
import assert from "node:assert/strict";
import { parseLlPlaylist } from "@cascade/media/hls/ll_playlist";
import { LlPlaylistChecker } from "../lib/media/hls/testing/ll_check.ts";
import { openBrowser } from "./helpers/browser.ts";
import { type PlayerSample, servePlayerPage } from "./helpers/hls_page.ts";
import { decodeErrors } from "./helpers/decode.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { waitFor } from "./helpers/wait.ts";

const PART_TARGET_MS = 333;

/** `_HLS_msn` and `_HLS_part` of the part a playlist hints at. */
function hinted(text: string): { msn: number; part: number } {
  const hint = parseLlPlaylist(text).preloadHint!;
  const m = /_p(\d+)\.(\d+)\.m4s$/.exec(hint)!;
  return { msn: Number(m[1]), part: Number(m[2]) };
}

Deno.test({
  name:
    "LL-HLS origin: blocking reloads answer with the next part, every reload is valid, ffmpeg decodes, hls.js plays under 3 s behind",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using origin = await startTestOrigin({ HLS_LL: "true" });
  const base = `${origin.httpUrl}/live/alpha/ll.m3u8`;
  const ffmpeg = publish(origin.rtmpUrl("test_key_1234"), { fps: 30 });
  try {
    // Two complete segments, so that ffmpeg's live start has something to stand on.
    let text = await waitFor("ll.m3u8 with two complete segments", async () => {
      const res = await fetch(base);
      const body = await res.text();
      return res.ok && parseLlPlaylist(body).segments.filter((s) => s.uri).length >= 2
        ? body
        : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100 });

    // Blocking reloads for the next part, one after another, as hls.js asks.
    const waits: number[] = [];
    for (let i = 0; i < 9; i++) {
      const { msn, part } = hinted(text);
      const asked = performance.now();
      const res = await fetch(`${base}?_HLS_msn=${msn}&_HLS_part=${part}`);
      waits.push(performance.now() - asked);
      text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal(res.headers.get("cache-control"), "public, max-age=60");
      assert.ok(
        text.includes(`_p${msn}.${part}.m4s"`) || new RegExp(`_s${msn}\\.m4s`).test(text),
        `the answer lists part ${msn}.${part}`,
      );
    }
    const sorted = [...waits].sort((a, b) => a - b);
    console.log(`blocking reload waits, ms: ${waits.map((w) => w.toFixed(0)).join(" ")}`);
    // A part is due every PART-TARGET: the origin answers when it exists, so the typical wait is
    // below that. One late answer on a loaded machine (the encoder itself starved) is no fault;
    // an answer held until the 503 deadline (3 target durations) would be.
    const median = sorted[Math.floor(sorted.length / 2)]!;
    assert.ok(
      median <= PART_TARGET_MS + 100,
      `the median answer within PART-TARGET + 100 ms: ${median.toFixed(0)} ms`,
    );
    assert.ok(sorted.at(-1)! < 3 * 3000, `no answer held to the deadline: ${sorted.at(-1)} ms`);

    // A player-like reload loop, checked strictly, while ffmpeg and hls.js play.
    const checker = new LlPlaylistChecker("origin alpha");
    const loopUntil = performance.now() + 10_000;
    const reloads = (async () => {
      let last = text;
      checker.reload(last);
      while (performance.now() < loopUntil) {
        const { msn, part } = hinted(last);
        const res = await fetch(`${base}?_HLS_msn=${msn}&_HLS_part=${part}`);
        last = await res.text();
        assert.equal(res.status, 200, last);
        checker.reload(last);
      }
    })();
    const decoded = decodeErrors(base, { seconds: 4 });

    await using browser = await openBrowser();
    await using page = await servePlayerPage();
    await browser.page.goto(page.url(base, { lowLatency: true }));
    const latency = await waitFor("hls.js to play 4 s", async () => {
      const state = await browser.page.evaluate<PlayerSample>("window.sample()");
      return state.t >= 4 && state.pdt !== null ? state : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    console.log(
      `hls.js lowLatencyMode: ${
        latency.pdt!.toFixed(2)
      } s behind the program date time, hls.latency ${latency.latency?.toFixed(2)} s`,
    );
    assert.deepEqual(await browser.page.evaluate("window.fatal"), []);
    assert.deepEqual(browser.pageErrors, []);
    assert.ok(latency.pdt! < 3, `hls.js plays less than 3 s behind live: ${latency.pdt} s`);

    assert.equal(await decoded, "", "ffmpeg decodes ll.m3u8 cleanly");
    await reloads;
    assert.ok(checker.reloads >= 20, `${checker.reloads} reloads checked`);

    await ffmpeg.stop("SIGINT");
    await waitFor("ENDLIST after the publisher stopped", async () => {
      const res = await fetch(base);
      const body = await res.text();
      return res.ok && parseLlPlaylist(body).ended ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
  } finally {
    await ffmpeg.stop();
  }
});
