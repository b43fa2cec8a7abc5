/**
 * The dashboard's pictures in a real browser: headless Chromium opens the dashboard of a
 * stack mounted as the all-in-one node mounts it (dashboard, API, edge on one port) over an
 * in-process origin making thumbnails with the real ffmpeg, fed by an ffmpeg publisher. The
 * live stream's card shows its thumbnail (loaded through the edge) and graphs of bit rate,
 * keyframe interval and viewers with data; each node's card shows graphs of CPU and memory.
 * A screenshot is kept under test-artifacts/. The watch page takes the picture as its poster.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { loadConfig } from "@cascade/common/config";
import { log } from "@cascade/common/log";
import { MetricsRegistry } from "@cascade/common/metrics";
import { MemoryRegistry } from "@cascade/registry/memory";
import { apiConfigSchema } from "../api/src/config.ts";
import { startEdgeHeartbeat } from "../edge/src/announce.ts";
import { createEdge } from "../edge/src/app.ts";
import { createAllInOneApp } from "../node/all_in_one_app.ts";
import { openBrowser } from "./helpers/browser.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { waitFor } from "./helpers/wait.ts";
import { serveLoopback } from "./helpers/serve.ts";

const ARTIFACTS = new URL("../test-artifacts/", import.meta.url);

/** Points of the graph labelled `label` in the card `selector`, as the page drew them. */
const GRAPH_POINTS = `([selector, label]) => {
  const svg = document.querySelector(selector + ' svg[aria-label^="' + label + '"]');
  if (svg === null) return 0;
  const d = svg.querySelector("path")?.getAttribute("d") ?? "";
  return (d.match(/[ML]/g) ?? []).length;
}`;

Deno.test({
  name:
    "dashboard shows a live stream's thumbnail and graphs with data, nodes' usage graphs; watch poster",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const registry = new MemoryRegistry({ log });
  await using _registry = { [Symbol.asyncDispose]: () => registry.close() };
  await using origin = await startTestOrigin({ THUMBNAIL_SECONDS: "1", PUBLISH_AUTH: "open" }, {
    registry,
  });
  const edge = createEdge({ registry, cacheBytes: 16 * 2 ** 20, log });
  await edge.start();
  await using _edge = { [Symbol.asyncDispose]: () => edge.close() };
  const stopFeeds = new AbortController();
  const app = createAllInOneApp({
    registry,
    edge,
    hub: origin.hub,
    apiConfig: loadConfig(apiConfigSchema, {
      API_ADMIN_TOKEN: "pictures-test-admin-token-0123456789",
      LOG_LEVEL: "warn",
    }),
    log,
    metrics: new MetricsRegistry(),
    signal: stopFeeds.signal,
  });
  await using server = serveLoopback(app.fetch, stopFeeds);
  const url = server.url;
  const heartbeat = startEdgeHeartbeat(registry, edge, {
    id: "test-edge",
    url,
    region: "local",
    startedAt: Date.now(),
  }, 500);
  await using _heartbeat = { [Symbol.asyncDispose]: () => heartbeat.stop() };
  await using _ff = publish(origin.rtmpUrl("pictures"), { gop: 30 });
  await using browser = await openBrowser();
  const { page } = browser;
  await page.goto(`${url}/`);

  const row = '#stream-cards [data-stream="pictures"]';
  await waitFor("the stream's card", async () => (await page.locator(row).count()) === 1, {
    timeoutMs: 20_000,
  });
  const size = await waitFor("the thumbnail to load", async () => {
    const natural = await page.evaluate<[number, number]>(
      `(() => { const img = document.querySelector('${row} img.thumbnail');
        return img && img.complete ? [img.naturalWidth, img.naturalHeight] : [0, 0]; })()`,
    );
    return natural[0] > 0 ? natural : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  assert.deepEqual(size, [240, 180], "the 320×240 test pattern, 180 pixels high");
  const src = await page.getAttribute(`${row} img.thumbnail`, "src");
  assert.match(src ?? "", /^\/live\/pictures\/thumb\.jpg\?v=\d+$/, "through this host's edge");

  for (const label of ["Bitrate", "Keyframes", "Viewers"]) {
    await waitFor(`the stream's ${label} graph to have two points`, async () => {
      const points = await page.evaluate<number>(
        `(${GRAPH_POINTS})(${JSON.stringify([row, label])})`,
      );
      return points >= 2;
    }, { timeoutMs: 30_000, intervalMs: 250 });
  }
  for (const node of ["test-origin", "test-edge"]) {
    const nodeRow = `#node-cards [data-node="${node}"]`;
    for (const label of ["CPU", "Memory"]) {
      await waitFor(`${node}'s ${label} graph to have two points`, async () => {
        const points = await page.evaluate<number>(
          `(${GRAPH_POINTS})(${JSON.stringify([nodeRow, label])})`,
        );
        return points >= 2;
      }, { timeoutMs: 30_000, intervalMs: 250 });
    }
  }
  const cpu = await page.textContent(`#node-cards [data-node="test-edge"] .trend-value`);
  assert.match(cpu ?? "", /^CPU \d+ %$/);

  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({
    path: fileURLToPath(new URL("dashboard_pictures.png", ARTIFACTS)),
    fullPage: true,
  });

  // The watch page shows the same picture as its poster until the video plays.
  await page.goto(`${url}/watch/pictures`);
  const poster = await page.getAttribute("#video", "poster");
  assert.equal(poster, "/live/pictures/thumb.jpg");
  const type = await page.evaluate<string | null>(
    `fetch(${JSON.stringify(poster)}).then((r) => r.headers.get("content-type"))`,
  );
  assert.equal(type, "image/jpeg");
  assert.deepEqual(browser.pageErrors, []);
});
