/**
 * Going live from the browser, end to end: headless Chromium with a fake camera and
 * microphone opens the origin's `/broadcast`, types the stream key and presses "Go live";
 * the page encodes with WebCodecs and publishes over the origin's ingest WebSocket into the
 * same hub as RTMP. An in-process origin (static keys, see helpers/origin.ts) announces to an
 * in-memory registry, and an edge on that registry serves the stream:
 * - a wrong key shows the server's refusal on the page and creates nothing (no stream in the
 *   hub, no publish, no registry claim);
 * - with the right key the HLS playlist appears within 10 s of the click, ffprobe finds a
 *   video and an audio stream in a segment, and hls.js plays the stream through the edge in
 *   a second page;
 * - a second browser publishing the same name is refused (`already_live`) while the first
 *   stays live; "Stop" ends the playlist at once;
 * - no request URL the browser made carries a key.
 * And without a publish: a denied camera (`NotAllowedError`) and a browser without
 * `VideoEncoder` / `MediaStreamTrackProcessor` are each said on the page, naming what lacks;
 * the page's encoder pipeline, under a socket backlog over 4 MB, drops video (audio goes on)
 * and restarts it with a keyframe once the backlog drains.
 */
import assert from "node:assert/strict";
import { quietLog } from "../lib/common/testing/log.ts";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { MemoryRegistry, MemoryStore } from "@cascade/registry/memory";
import { Edge } from "../edge/src/edge.ts";
import { serveEdgeNode } from "../edge/src/node_server.ts";
import { FAKE_MEDIA_ARGS, openBrowser } from "./helpers/browser.ts";
import { probeStreams } from "./helpers/decode.ts";
import { type PlayerSample, servePlayerPage } from "./helpers/hls_page.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import type { Page } from "./helpers/playwright.ts";
import { GiveUp, waitFor } from "./helpers/wait.ts";

/** The test origin's static key for `alpha`. */
const KEY = "test_key_1234";
const NAME = "alpha";
const WRONG_KEY = "wrong_key_0000";

/**
 * Every URL a page asks for, WebSockets included (playwright reports them apart from
 * requests), and the text messages each of its sockets sent, by socket.
 */
function recordTraffic(page: Page, urls: string[], sent: string[][]): void {
  page.on("request", (r) => urls.push(r.url()));
  page.on("websocket", (ws) => {
    urls.push(ws.url());
    const texts: string[] = [];
    sent.push(texts);
    ws.on("framesent", (f) => {
      if (typeof f.payload === "string") texts.push(f.payload);
    });
  });
}

/** Opens the broadcast page and waits until the preview runs and "Go live" can be pressed. */
async function openBroadcast(page: Page, originUrl: string): Promise<void> {
  await page.goto(`${originUrl}/broadcast`);
  await page.waitForSelector("#golive:not([disabled])", { timeout: 15_000 });
}

/** Types `key`, presses "Go live" and waits for the page to settle on `state`. */
async function goLive(page: Page, key: string, state: "live" | "error"): Promise<void> {
  await page.fill("#key", key);
  await page.click("#golive");
  await page.waitForSelector(`#state[data-state="${state}"]`, { timeout: 15_000 });
}

Deno.test({
  name:
    "browser ingest: a wrong key is refused and creates nothing; the key goes live within 10 s, probes as video + audio, plays through the edge; a second publisher is refused; no URL carries a key",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const store = new MemoryStore();
  const registry = new MemoryRegistry({ store, log: quietLog });
  const edgeRegistry = new MemoryRegistry({ store, log: quietLog });
  const edge = new Edge({ registry: edgeRegistry, cacheBytes: 64 * 1024 * 1024, log: quietLog });
  try {
    await using origin = await startTestOrigin({}, { registry });
    await edge.start();
    const server = await serveEdgeNode({ edge, hostname: "127.0.0.1", port: 0 });
    await using _server = { [Symbol.asyncDispose]: () => server.close() };
    const edgeUrl = `http://127.0.0.1:${server.port}`;
    await using browser = await openBrowser({ args: FAKE_MEDIA_ARGS });
    await using player = await servePlayerPage();
    const context = browser.page.context();
    const requested: string[] = [];
    const socketTexts: string[][] = [];
    const page = browser.page;
    recordTraffic(page, requested, socketTexts);
    await openBroadcast(page, origin.httpUrl);
    const unsupported = await page.getAttribute("#message", "data-code");
    assert.notEqual(unsupported, "unsupported", await page.textContent("#message") ?? "");

    // A wrong key: the server's refusal on the page, and nothing anywhere.
    await goLive(page, WRONG_KEY, "error");
    assert.equal(await page.getAttribute("#message", "data-code"), "unauthorized");
    assert.match(await page.textContent("#message") ?? "", /stream key was refused/);
    assert.equal(origin.hub.size, 0, "no stream in the hub");
    assert.equal(origin.received.size, 0, "no publish started");
    assert.deepEqual(await registry.listStreams(), [], "no stream in the registry");

    // The right key: live, and the playlist within 10 s of the click.
    const playlistUrl = `${origin.httpUrl}/live/${NAME}/index.m3u8`;
    const clickedAt = performance.now();
    await goLive(page, KEY, "live");
    const playlist = await waitFor("the browser's stream to list a segment", async () => {
      const res = await fetch(playlistUrl);
      const text = await res.text();
      return res.ok && parsePlaylist(text).segments.length > 0 ? parsePlaylist(text) : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100 });
    const appearedMs = performance.now() - clickedAt;
    console.log(`playlist listed a segment ${appearedMs.toFixed(0)} ms after "Go live"`);
    assert.equal(await page.textContent("#state"), `Live as ${NAME}`);

    assert.ok(playlist.segments.length > 0);
    // Opus reaches the hub through the origin's ffmpeg transcoder, which takes a moment to
    // start: the newest segment is the one to hold both tracks.
    const codecs = await waitFor("a segment with a video and an audio stream", async () => {
      const latest = parsePlaylist(await (await fetch(playlistUrl)).text()).segments.at(-1);
      if (latest === undefined) return undefined;
      const { codecs } = await probeStreams(new URL(latest.uri, playlistUrl).href);
      return codecs.length === 2 ? codecs : undefined;
    }, { timeoutMs: 15_000, intervalMs: 500 });
    assert.deepEqual(codecs, ["aac", "h264"]);
    await waitFor("the page to show the bit rate it sends", async () => {
      return Number(await page.getAttribute("#bitrate", "data-bps")) > 50_000;
    }, { timeoutMs: 10_000, intervalMs: 200 });
    assert.ok(await registry.getStream(NAME), "the origin claimed the stream");

    // hls.js plays the stream through the edge, in a second page.
    {
      const viewer = await context.newPage();
      await viewer.goto(player.url(`${edgeUrl}/live/${NAME}/index.m3u8`));
      const sample = () => viewer.evaluate<PlayerSample>("window.sample()");
      // A fatal hls.js error ends the wait at once, naming it.
      const playing = async (from: number) => {
        const fatal = await viewer.evaluate<string[]>("window.fatal");
        if (fatal.length > 0) throw new GiveUp(`hls.js failed: ${fatal.join(", ")}`);
        const { t } = await sample();
        return t > from ? t : undefined;
      };
      const started = await waitFor("hls.js to start playing", () => playing(0), {
        timeoutMs: 30_000,
        intervalMs: 200,
      });
      await waitFor("hls.js to play 2 s on", () => playing(started + 2), {
        timeoutMs: 20_000,
        intervalMs: 200,
      });
      assert.deepEqual(await viewer.evaluate<string[]>("window.fatal"), []);
      await viewer.close();
    }

    // A second browser publisher on the live name is refused; the first stays live.
    {
      const second = await context.newPage();
      recordTraffic(second, requested, socketTexts);
      await openBroadcast(second, origin.httpUrl);
      await goLive(second, KEY, "error");
      assert.equal(await second.getAttribute("#message", "data-code"), "already_live");
      assert.match(await second.textContent("#message") ?? "", /already live/);
      await second.close();
    }
    assert.equal(await page.getAttribute("#state", "data-state"), "live");

    // Stop: a clean end, the playlist gets ENDLIST at once.
    await page.click("#stop");
    await page.waitForSelector('#state[data-state="idle"]', { timeout: 10_000 });
    await waitFor("the playlist to end", async () => {
      return parsePlaylist(await (await fetch(playlistUrl)).text()).ended;
    }, { timeoutMs: 10_000, intervalMs: 100 });

    // Pages, modules and the three sockets were all seen; none of their URLs has a key.
    assert.ok(requested.some((u) => u.includes("/broadcast/assets/broadcast.js")), "recorded");
    assert.equal(requested.filter((u) => new URL(u).pathname === "/ingest/ws").length, 3);
    for (const url of requested) {
      assert.ok(!url.includes(KEY) && !url.includes(WRONG_KEY), `a key in ${url}`);
    }
    // Each socket carried its key in its first message and in no other.
    assert.equal(socketTexts.length, 3);
    for (const texts of socketTexts) {
      assert.equal(JSON.parse(texts[0]!).type, "publish");
      assert.ok(texts.slice(1).every((t) => !t.includes(KEY) && !t.includes(WRONG_KEY)));
    }
    assert.deepEqual(browser.pageErrors, []);
  } finally {
    await edge.close();
    await edgeRegistry.close();
    await registry.close();
  }
});

Deno.test({
  name:
    "the broadcast page says plainly when the camera is denied and when the browser lacks an encoder",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using origin = await startTestOrigin();
  {
    // A fake camera, but no automatic grant: headless Chromium denies the prompt.
    await using browser = await openBrowser({ args: ["--use-fake-device-for-media-stream"] });
    const page = browser.page;
    await page.goto(`${origin.httpUrl}/broadcast`);
    await page.waitForSelector('#state[data-state="error"]', { timeout: 15_000 });
    assert.equal(await page.getAttribute("#message", "data-code"), "NotAllowedError");
    assert.match(await page.textContent("#message") ?? "", /access was denied/);
    assert.equal(await page.getAttribute("#golive", "disabled"), "");
    assert.deepEqual(browser.pageErrors, []);
  }
  {
    await using browser = await openBrowser({ args: FAKE_MEDIA_ARGS });
    const page = browser.page;
    await page.addInitScript(
      "delete globalThis.VideoEncoder; delete globalThis.MediaStreamTrackProcessor;",
    );
    await page.goto(`${origin.httpUrl}/broadcast`);
    await page.waitForSelector('#state[data-state="error"]', { timeout: 15_000 });
    assert.equal(await page.getAttribute("#message", "data-code"), "unsupported");
    const text = await page.textContent("#message") ?? "";
    assert.match(text, /VideoEncoder/);
    assert.match(text, /MediaStreamTrackProcessor/);
    assert.doesNotMatch(text, /AudioEncoder/, "only what is missing is named");
    assert.equal(await page.getAttribute("#golive", "disabled"), "");
    assert.deepEqual(browser.pageErrors, []);
  }
});

Deno.test({
  name:
    "the page's pipeline drops video while the socket's backlog is over 4 MB and restarts it with a keyframe",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using origin = await startTestOrigin();
  await using browser = await openBrowser({ args: FAKE_MEDIA_ARGS });
  const page = browser.page;
  await page.goto(`${origin.httpUrl}/broadcast`);
  // The page's own encoder module, driven with a socket whose backlog the test sets.
  await page.evaluate(`(async () => {
    const href = document.querySelector('link[rel="modulepreload"]').href;
    const { Pipeline } = await import(href);
    const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    const log = [];
    const state = { log, backlog: 0 };
    state.pipeline = new Pipeline(media.getVideoTracks()[0], media.getAudioTracks()[0], {
      send(m) {
        if (typeof m === "string") return log.push(JSON.parse(m).type);
        const b = new Uint8Array(m);
        log.push(b[0] === 2 ? "audio" : b[1] & 1 ? "key" : "video");
      },
      backlog: () => state.backlog,
      onDropping: (dropping) => log.push(dropping ? "drop" : "resume"),
      onError: (e) => log.push("error: " + e.message),
    });
    window.test = state;
  })()`);
  const log = () => page.evaluate<string[]>("window.test.log");
  const count = (entries: string[], ...kinds: string[]) =>
    entries.filter((e) => kinds.includes(e)).length;
  await waitFor("video and audio to flow", async () => {
    const l = await log();
    return count(l, "video", "key") >= 10 && count(l, "audio") >= 10;
  }, { timeoutMs: 15_000, intervalMs: 100 });

  await page.evaluate("window.test.backlog = 5 * 1024 * 1024");
  await waitFor("10 video frames dropped", async () => count(await log(), "drop") >= 10, {
    timeoutMs: 15_000,
    intervalMs: 100,
  });
  await page.evaluate("window.test.backlog = 0");
  const after = await waitFor("video to resume", async () => {
    const l = await log();
    return l.includes("resume") ? l : undefined;
  }, { timeoutMs: 15_000, intervalMs: 100 });

  const firstDrop = after.indexOf("drop");
  const resumed = after.indexOf("resume");
  const between = after.slice(firstDrop, resumed);
  assert.equal(count(between, "video"), 0, "no delta frame while dropping");
  assert.equal(count(between, "key"), 1, "video restarts with one keyframe");
  assert.equal(between.filter((e) => e !== "drop").at(-1), "key", "the keyframe ends the gap");
  assert.ok(count(between, "audio") > 0, "audio kept flowing");
  assert.equal(after.filter((e) => e.startsWith("error")).length, 0, after.join(" "));
  const firstVideo = after.findIndex((e) => e === "video" || e === "key");
  assert.ok(after.indexOf("video-config") < firstVideo, "video's config before its frames");
  assert.equal(after[firstVideo], "key", "video starts with a keyframe");
  assert.ok(after.indexOf("audio-config") < after.indexOf("audio"), "audio's config first");
  await page.evaluate("window.test.pipeline.stop()");
  assert.deepEqual(browser.pageErrors, []);
});
