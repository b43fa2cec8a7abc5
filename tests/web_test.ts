/**
 * The watch page and the dashboard in a real browser: headless Chromium from Debian's
 * `chromium` package driven by playwright-core, against a real stack on one random port
 * as the all-in-one node mounts it (watch page, dashboard, API, edge), fed by an
 * in-process origin announcing in a MemoryRegistry, and ffmpeg as the
 * encoder. The watch page plays, shows a latency, goes offline when the publisher stops
 * and resumes by itself; it plays `ll.m3u8` when the edge serves one and `index.m3u8` when
 * not or when LL fails; the dashboard follows streams up and down within 3 s; a stream
 * created in the dashboard publishes with the key it showed; no key or token is ever in
 * what the server sends. With signed playback, the watch page without a token says it
 * needs a signed link, and the unlocked dashboard's watch link carries one and plays.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { openBrowser, videoTime, waitForPlayback, watchState } from "./helpers/browser.ts";
import type { Page } from "./helpers/playwright.ts";
import { loadConfig } from "@cascade/common/config";
import { log } from "@cascade/common/log";
import { MetricsRegistry } from "@cascade/common/metrics";
import { signPlaybackToken } from "@cascade/common/playback_token";
import { MemoryRegistry } from "@cascade/registry/memory";
import { apiConfigSchema } from "../api/src/config.ts";
import { createApiAuthorizerFor } from "../api/src/publish.ts";
import { hashStreamKey } from "../api/src/stream_keys.ts";
import { startEdgeHeartbeat } from "../edge/src/announce.ts";
import { createEdge } from "../edge/src/app.ts";
import { createAllInOneApp } from "../node/all_in_one_app.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin, type TestOrigin } from "./helpers/origin.ts";
import type { TestProcess } from "./helpers/process.ts";
import { waitFor } from "./helpers/wait.ts";

const ADMIN_TOKEN = "web-test-admin-token-0123456789";
const SIGNING_KEY = "web-test-playback-signing-key-0123456789";
const ALPHA_KEY = "test_key_1234";
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url);

interface WebStack extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`: pages, API and edge. */
  url: string;
  origin: TestOrigin;
  registry: MemoryRegistry;
  /** Resolves once `name` is live in the registry. */
  live(name: string): Promise<void>;
}

/**
 * Everything the all-in-one node serves, on one random port, over an in-process origin;
 * with `signingKey`, playback is signed as `PLAYBACK_SIGNING_KEY` makes it; `transcode` is
 * `alpha`'s own transcode profile.
 */
async function startWebStack(signingKey?: string, transcode?: string): Promise<WebStack> {
  const registry = new MemoryRegistry({ log });
  // `alpha` is an API-managed stream whose key the test knows.
  await registry.putStreamConfig({
    name: "alpha",
    keyHash: await hashStreamKey(ALPHA_KEY),
    createdAt: Date.now(),
    disabled: false,
    record: false,
    ...(transcode !== undefined ? { transcode } : {}),
  });
  const origin = await startTestOrigin({ HLS_LL: "true" }, {
    registry,
    auth: createApiAuthorizerFor(registry, { log }),
  });
  const edge = createEdge({ registry, cacheBytes: 64 * 2 ** 20, log, signingKey });
  await edge.start();
  const stopFeeds = new AbortController();
  const app = createAllInOneApp({
    registry,
    edge,
    hub: origin.hub,
    apiConfig: loadConfig(apiConfigSchema, {
      API_ADMIN_TOKEN: ADMIN_TOKEN,
      PLAYBACK_SIGNING_KEY: signingKey,
      LOG_LEVEL: "warn",
    }),
    log,
    metrics: new MetricsRegistry(),
    signal: stopFeeds.signal,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const heartbeat = startEdgeHeartbeat(registry, edge, {
    id: "test-edge",
    url,
    region: "local",
    startedAt: Date.now(),
  });
  return {
    url,
    origin,
    registry,
    async live(name) {
      await waitFor(`${name} to be live`, async () => (await registry.getStream(name)) !== null, {
        timeoutMs: 20_000,
      });
    },
    async [Symbol.asyncDispose]() {
      stopFeeds.abort();
      await heartbeat.stop();
      await server.shutdown();
      await edge.close();
      await origin[Symbol.asyncDispose]();
      await registry.close();
    },
  };
}

/**
 * Asserts the watch page chose the playlist the edge offers: `ll.m3u8` when the edge serves
 * one (unless LL failed on the page, which then says so), `index.m3u8` otherwise.
 */
async function assertProtocol(page: Page, stack: WebStack, name: string): Promise<void> {
  const res = await fetch(`${stack.url}/live/${name}/ll.m3u8`);
  await res.body?.cancel();
  const protocol = await page.getAttribute("#watch", "data-protocol");
  const failed = await page.getAttribute("#watch", "data-low-latency-failed");
  assert.equal(
    protocol === "llhls" || failed === "true",
    res.status === 200,
    `protocol ${protocol} (LL failed: ${failed}) with ll.m3u8 answered ${res.status}`,
  );
  if (failed !== "true" && res.status !== 200) assert.equal(protocol, "hls");
}

/** Stops a publisher if it still runs. */
function stopping(ff: () => TestProcess | undefined): AsyncDisposable {
  return { [Symbol.asyncDispose]: async () => void await ff()?.stop() };
}

Deno.test({
  name: "watch page plays live with hls.js, shows latency, goes offline and resumes by itself",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using stack = await startWebStack();
  let ff: TestProcess | undefined = publish(stack.origin.rtmpUrl(ALPHA_KEY));
  await using _ff = stopping(() => ff);
  await using browser = await openBrowser();
  const { page } = browser;

  await stack.live("alpha");
  await page.goto(`${stack.url}/watch/alpha`);
  await waitForPlayback(page, 4, { what: "playback", timeoutMs: 20_000 });
  assert.equal(await page.getAttribute("#watch", "data-engine"), "hls.js");
  assert.equal(
    await page.getAttribute("#watch", "data-fatal-errors"),
    "0",
    "no fatal hls.js error",
  );
  await assertProtocol(page, stack, "alpha");
  const latency = await waitFor("a latency readout", async () => {
    const seconds = await page.getAttribute("#latency", "data-seconds");
    return seconds === null ? undefined : Number(seconds);
  });
  assert.ok(latency >= 0 && latency < 12, `latency ${latency} s`);
  assert.match(await page.textContent("#latency") ?? "", /^\d+\.\d s$/);
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: fileURLToPath(new URL("watch.png", ARTIFACTS)) });

  // Anything a reload would lose: it must survive going offline and coming back.
  await page.evaluate("window.cascadeTestMarker = 'same document'");
  const stoppedAt = performance.now();
  await ff.stop();
  ff = undefined;
  await waitFor("the page to show offline", async () => (await watchState(page)) === "offline", {
    timeoutMs: Math.max(0, 10_000 - (performance.now() - stoppedAt)),
  });
  assert.match(await page.textContent("#overlay") ?? "", /ended|offline/);

  ff = publish(stack.origin.rtmpUrl(ALPHA_KEY));
  await waitForPlayback(page, 2, { what: "resumed playback", timeoutMs: 30_000 });
  assert.equal(await page.evaluate("window.cascadeTestMarker"), "same document");
  assert.equal(await page.isVisible("#error"), false);
  assert.deepEqual(browser.pageErrors, []);
});

Deno.test({
  name: "dashboard lists a stream within 3 s of publish and drops it within 3 s of stop",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using stack = await startWebStack();
  await using browser = await openBrowser();
  const { page } = browser;
  await page.goto(`${stack.url}/`);
  await waitFor("the dashboard to connect", async () => {
    return (await page.textContent("#connection")) === "Live updates";
  });
  await waitFor("the origin and the edge to be listed as healthy", async () => {
    const rows = await page.locator("#node-rows tr").allTextContents();
    return rows.length === 2 && rows.every((r) => r.includes("Healthy"));
  });

  let publishStarted = 0;
  stack.origin.hub.on((e) => {
    if (e.type === "publish.start" && e.stream.info.name === "alpha") {
      publishStarted = performance.now();
    }
  });
  let ff: TestProcess | undefined = publish(stack.origin.rtmpUrl(ALPHA_KEY));
  await using _ff = stopping(() => ff);
  const row = page.locator('#live-rows tr[data-stream="alpha"]');
  await waitFor("alpha to be listed", async () => (await row.count()) === 1, {
    timeoutMs: 20_000,
    intervalMs: 20,
  });
  const listedAfter = performance.now() - publishStarted;
  assert.ok(
    publishStarted > 0 && listedAfter <= 3000,
    `listed ${Math.round(listedAfter)} ms after publish`,
  );

  const cells = await waitFor("bit rate and picture size", async () => {
    const texts = await row.locator("th, td").allTextContents();
    return texts[3] !== "–" && texts[4]?.includes("320×240") ? texts : undefined;
  });
  assert.equal(cells[0], "alpha");
  assert.match(cells[1]!, /^test-origin/);
  assert.match(cells[2]!, /^test-edge \(local\)$/);
  assert.match(cells[3]!, /^\d+ kb\/s$|^\d+\.\d Mb\/s$/);
  assert.match(cells[4]!, /H\.264 .*AAC/);
  // Keyframe interval and frame rate, once the hub has measured them.
  assert.match(cells[5]!, /^–$|^\d+\.\d s$/);
  assert.match(cells[6]!, /^–$|^\d+(\.\d+)? fps$/);
  assert.match(cells[7]!, /^\d+ s$/);
  assert.match(cells[8]!, /^≈ \d+$/);
  assert.equal(await row.locator("a").getAttribute("href"), "/watch/alpha");
  await Deno.mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({
    path: fileURLToPath(new URL("dashboard.png", ARTIFACTS)),
    fullPage: true,
  });

  const stoppedAt = performance.now();
  await ff.stop();
  ff = undefined;
  await waitFor("alpha to be dropped", async () => (await row.count()) === 0, {
    timeoutMs: Math.max(0, 3000 - (performance.now() - stoppedAt)),
    intervalMs: 20,
  });
  assert.equal(await page.isVisible("#live-empty"), true);
  assert.deepEqual(browser.pageErrors, []);
});

Deno.test({
  name:
    "dashboard creates a stream whose key publishes, rotates and disables it; no secret in the page",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using stack = await startWebStack();
  await using browser = await openBrowser();
  const { page } = browser;
  page.on("dialog", (dialog) => void dialog.accept());
  await page.goto(`${stack.url}/`);

  await page.fill("#token-input", ADMIN_TOKEN);
  await page.click("#token-form button[type=submit]");
  await page.locator("#admin-panel").waitFor({ state: "visible" });
  assert.equal(
    await page.inputValue("#token-input"),
    "",
    "the typed token is not kept in the form",
  );

  await page.fill("#new-name", "gamma");
  await page.click("#create-form button[type=submit]");
  await page.locator("#key-panel").waitFor({ state: "visible" });
  const key = await page.inputValue("#obs-key");
  const server = await page.inputValue("#obs-server");
  assert.match(key, /^sk_[A-Za-z0-9_-]{43}$/);
  assert.equal(server, `rtmp://127.0.0.1:${stack.origin.rtmpPort}/live`);
  assert.equal(await page.textContent("#key-stream"), "gamma");

  // What the server sends holds neither the key nor the token.
  for (const path of ["/", "/assets/dashboard.js", "/api/v1/dashboard", "/watch/gamma"]) {
    const text = await (await fetch(`${stack.url}${path}`)).text();
    assert.ok(!text.includes(key), `${path} holds no stream key`);
    assert.ok(!text.includes(ADMIN_TOKEN), `${path} holds no admin token`);
  }
  assert.ok(!(await page.content()).includes(ADMIN_TOKEN), "the page holds no admin token");

  let ff: TestProcess | undefined = publish(`${server}/${key}`);
  await using _ff = stopping(() => ff);
  const liveRow = page.locator('#live-rows tr[data-stream="gamma"]');
  await waitFor("gamma to be live in the dashboard", async () => (await liveRow.count()) === 1, {
    timeoutMs: 20_000,
  });
  const configRow = page.locator('#config-rows tr[data-stream="gamma"]');
  await waitFor("gamma to be shown live among the configured streams", async () => {
    return (await configRow.locator(".badge").textContent()) === "Live";
  });

  await page.click("#key-done");
  assert.equal(await page.isVisible("#key-panel"), false);
  assert.ok(!(await page.content()).includes(key), "the key is gone once saved");

  await page.click('#config-rows button[data-action="rotate"][data-stream="gamma"]');
  await page.locator("#key-panel").waitFor({ state: "visible" });
  const rotated = await page.inputValue("#obs-key");
  assert.match(rotated, /^sk_/);
  assert.notEqual(rotated, key);
  await page.click("#key-done");

  // Disabling kicks the running broadcast: it leaves the live list.
  await page.click('#config-rows button[data-action="disable"][data-stream="gamma"]');
  await waitFor("gamma to be disabled", async () => {
    return (await configRow.locator(".badge").textContent()) === "Disabled";
  });
  await waitFor("the kicked broadcast to leave the live list", async () => {
    return (await liveRow.count()) === 0;
  }, { timeoutMs: 10_000 });
  await ff.status;
  ff = undefined;
  assert.equal(await page.isVisible("#admin-message"), false);
  assert.deepEqual(browser.pageErrors, []);
});

Deno.test({
  name: "watch page plays ll.m3u8 when the edge serves it, index.m3u8 when it is missing or fails",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using stack = await startWebStack();
  const ff = publish(stack.origin.rtmpUrl(ALPHA_KEY));
  await using _ff = stopping(() => ff);
  await using browser = await openBrowser();
  const { page } = browser;
  await stack.live("alpha");
  const watch = async (what: string) => {
    await page.goto(`${stack.url}/watch/alpha`);
    await waitForPlayback(page, 2, { what, timeoutMs: 30_000 });
    assert.equal(await page.getAttribute("#watch", "data-engine"), "hls.js");
    return {
      protocol: await page.getAttribute("#watch", "data-protocol"),
      failed: await page.getAttribute("#watch", "data-low-latency-failed"),
      label: await page.textContent("#latency-label"),
    };
  };
  const LL_ROUTE = "**/live/alpha/ll.m3u8*";
  let llRequests = 0;

  // Offered: whatever the edge answers for ll.m3u8 is played with lowLatencyMode. As a
  // stand-in for the origin's LL playlist, this one is the TS playlist under the LL name
  // (the first test plays the origin's own ll.m3u8 wherever it serves one).
  await page.route(LL_ROUTE, async (route) => {
    llRequests++;
    const url = route.request().url().replace("/ll.m3u8", "/index.m3u8");
    await route.fulfill({ response: await route.fetch({ url }) });
  });
  assert.deepEqual(await watch("LL playback"), {
    protocol: "llhls",
    failed: null,
    label: "Latency (LL-HLS)",
  });
  assert.ok(llRequests >= 2, `the page checked and hls.js loaded ll.m3u8 (${llRequests})`);
  assert.equal(await page.getAttribute("#watch", "data-fatal-errors"), "0");
  await waitFor("a latency readout", async () => {
    return await page.getAttribute("#latency", "data-seconds") !== null;
  });
  await page.unroute(LL_ROUTE);

  // Not offered (an nginx-rtmp origin, HLS_LL=false): the edge answers 404.
  llRequests = 0;
  await page.route(LL_ROUTE, async (route) => {
    llRequests++;
    await route.fulfill({ status: 404, contentType: "application/json", body: "{}" });
  });
  assert.deepEqual(await watch("TS playback"), { protocol: "hls", failed: null, label: "Latency" });
  assert.ok(llRequests >= 1, "the page asked for ll.m3u8 first");
  await page.unroute(LL_ROUTE);

  // Offered but unplayable: hls.js fails on it, and the page plays index.m3u8 at once.
  await page.route(LL_ROUTE, (route) =>
    route.fulfill({
      contentType: "application/vnd.apple.mpegurl",
      body: "#EXTM3U\n# nothing to play\n",
    }));
  assert.deepEqual(await watch("TS playback after LL failed"), {
    protocol: "hls",
    failed: "true",
    label: "Latency",
  });
  assert.equal(await page.getAttribute("#watch", "data-fatal-errors"), "1");
  assert.equal(await page.isVisible("#error"), false);
  assert.deepEqual(browser.pageErrors, []);
});

Deno.test({
  name: "watch page falls back to the browser's own HLS player without hls.js",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using stack = await startWebStack();
  const ff = publish(stack.origin.rtmpUrl(ALPHA_KEY));
  await using _ff = stopping(() => ff);
  await using browser = await openBrowser();
  const { page } = browser;
  // As in a browser without Media Source Extensions: hls.js never arrives.
  await page.route("**/vendor/hls.min.js*", (route) => route.abort());
  assert.notEqual(
    await page.evaluate(
      "document.createElement('video').canPlayType('application/vnd.apple.mpegurl')",
    ),
    "",
    "this Chromium plays HLS natively",
  );
  await stack.live("alpha");
  await page.goto(`${stack.url}/watch/alpha`);
  await waitForPlayback(page, 2, { what: "native playback", timeoutMs: 20_000 });
  assert.equal(await page.getAttribute("#watch", "data-engine"), "native");
  await assertProtocol(page, stack, "alpha");
  assert.deepEqual(browser.pageErrors, []);
});

Deno.test({
  name:
    "signed playback: the watch page without a token asks for a signed link; the dashboard's link plays",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  await using stack = await startWebStack(SIGNING_KEY);
  const ff = publish(stack.origin.rtmpUrl(ALPHA_KEY));
  await using _ff = stopping(() => ff);
  await using browser = await openBrowser();
  const { page } = browser;
  await stack.live("alpha");

  await page.goto(`${stack.url}/watch/alpha`);
  await waitFor("the page to refuse", async () => (await watchState(page)) === "error");
  assert.match(await page.textContent("#error") ?? "", /needs a signed link/);
  assert.equal(await videoTime(page), 0);

  await page.goto(`${stack.url}/watch/alpha?token=1.${"A".repeat(43)}`);
  await waitFor("the page to refuse a forged token", async () => {
    return /does not allow watching/.test(await page.textContent("#error") ?? "");
  });

  await page.goto(`${stack.url}/`);
  await page.fill("#token-input", ADMIN_TOKEN);
  await page.click("#token-form button[type=submit]");
  await page.locator("#admin-panel").waitFor({ state: "visible" });
  const watchLink = page.locator('#live-rows tr[data-stream="alpha"] a');
  await watchLink.waitFor({ state: "visible", timeout: 20_000 });
  assert.equal(await watchLink.getAttribute("href"), "/watch/alpha", "the page holds no token");
  await watchLink.click();
  await page.waitForURL(/\/watch\/alpha\?token=\d+\.[A-Za-z0-9_-]{43}$/);
  await waitForPlayback(page, 2, { what: "signed playback", timeoutMs: 20_000 });
  assert.equal(await page.isVisible("#error"), false);
  assert.deepEqual(browser.pageErrors, []);
});

Deno.test({
  name: "watch page plays the LL master playlist of a stream with renditions and shows the rung",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  // TRANSCODE_PROFILE is unset (none): the rendition comes from alpha's own stream config.
  await using stack = await startWebStack(SIGNING_KEY, "240p");
  await using _ff = publish(stack.origin.rtmpUrl(ALPHA_KEY), { size: "640x360" });
  await using browser = await openBrowser();
  const { page } = browser;
  await stack.live("alpha_240p");
  const token = await signPlaybackToken(SIGNING_KEY, "alpha", Math.floor(Date.now() / 1000) + 600);
  await page.goto(`${stack.url}/watch/alpha?token=${token}`);
  await waitForPlayback(page, 2, { what: "playback", timeoutMs: 30_000 });
  // The web stack's origin serves LL-HLS: the rungs play from ll_master.m3u8.
  assert.equal(await page.getAttribute("#watch", "data-protocol"), "llabr");
  assert.equal(await page.textContent("#latency-label"), "Latency (LL-HLS)");
  const level = await waitFor("the rung shown beside the latency", async () => {
    const text = await page.textContent("#level");
    return (await page.isVisible("#level")) && text ? text : undefined;
  });
  assert.match(level, /^(360|240)p · \d+\.\d Mb\/s$/);
  assert.ok(await page.getAttribute("#latency", "data-seconds") !== null, "latency shown too");
  assert.deepEqual(browser.pageErrors, []);
});
