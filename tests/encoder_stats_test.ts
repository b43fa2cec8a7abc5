/**
 * Operators see encoder problems, end to end: a real origin (HLS_SEGMENT_SECONDS=2) announcing
 * in a real redis-server, the API and the dashboard over the same Redis, and two ffmpeg
 * publishers at 30 fps — one with a keyframe every 150 frames (5 s), one every 60 (2 s).
 * `/api/v1/live` and the admin stream view report each one's measured keyframe interval
 * (within 10 %), frame rate, codecs, picture size and bit rate; only the 5 s one carries the
 * `keyframe_interval` warning, and the dashboard in Chromium shows that warning with its fix.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Hono } from "hono";
import { loadConfig } from "@cascade/common/config";
import { MetricsRegistry } from "@cascade/common/metrics";
import { RedisRegistry } from "@cascade/registry/redis";
import { quietLog } from "../lib/common/testing/log.ts";
import { createApiApp } from "../api/src/app.ts";
import { apiConfigSchema } from "../api/src/config.ts";
import { hashStreamKey } from "../api/src/stream_keys.ts";
import { dashboardRoutes } from "../web/routes.ts";
import { openBrowser } from "./helpers/browser.ts";
import { FFMPEG } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { TestProcess } from "./helpers/process.ts";
import { startRedis } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";
import { serveLoopback } from "./helpers/serve.ts";

const ADMIN_TOKEN = "encoder-stats-admin-token-0123456789";
/** Keys `startTestOrigin` maps to `alpha` and `beta`. */
const ALPHA_KEY = "test_key_1234";
const BETA_KEY = "test_key_5678";
const ARTIFACTS = new URL("../test-artifacts/", import.meta.url);
const WIDTH = 480;
const HEIGHT = 270;

/** ffmpeg publishing generated 30 fps H.264 + AAC with a keyframe every `gop` frames. */
function encoder(url: string, gop: number): TestProcess {
  const args = ["-hide_banner", "-nostats", "-loglevel", "warning", "-re"];
  args.push("-f", "lavfi", "-i", `testsrc2=size=${WIDTH}x${HEIGHT}:rate=30`);
  args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100");
  args.push("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency");
  args.push("-pix_fmt", "yuv420p", "-b:v", "500k");
  args.push("-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0");
  args.push("-c:a", "aac", "-b:a", "64k", "-ar", "44100", "-ac", "2", "-f", "flv", url);
  return new TestProcess(FFMPEG, { args });
}

interface EncoderFields {
  name: string;
  keyframeInterval: number | null;
  frameRate: number | null;
  codecs: string | null;
  width: number | null;
  height: number | null;
  bitrate: number | null;
  warnings: { code: string; message: string }[];
}

function near(actual: number | null, expected: number, tolerance: number, what: string): void {
  assert.ok(
    actual !== null && Math.abs(actual - expected) <= expected * tolerance,
    `${what}: ${actual}, expected ${expected} ± ${tolerance * 100} %`,
  );
}

/** The figures every measured stream shows, whatever its keyframe interval. */
function assertMeasured(s: EncoderFields): void {
  near(s.frameRate, 30, 0.05, `${s.name} frameRate`);
  assert.equal(s.width, WIDTH);
  assert.equal(s.height, HEIGHT);
  assert.match(s.codecs ?? "", /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/);
  // 500 kb/s of video asked, 64 kb/s of audio: the encoder is not exact at this size.
  assert.ok(s.bitrate !== null && s.bitrate > 150_000 && s.bitrate < 3_000_000, `${s.bitrate}`);
}

const KEYFRAME_WARNING =
  /^Keyframe interval 5 s — set 2 s in OBS → Settings → Output \(ffmpeg: -g 60\)$/;

Deno.test({
  name: "/api/v1/live, the admin view and the dashboard show measured keyframe intervals and warn",
  sanitizeOps: false,
  sanitizeResources: false,
}, async (t) => {
  await using redis = await startRedis();
  const registry = new RedisRegistry({ url: redis.url, prefix: "encoder:", log: quietLog });
  await using _registry = { [Symbol.asyncDispose]: () => registry.close() };
  await using origin = await startTestOrigin(
    { HLS_SEGMENT_SECONDS: "2", STREAM_TTL_SECONDS: "10" },
    { registry, log: quietLog },
  );
  // `alpha` is also an API-managed stream, so that its admin view exists.
  await registry.putStreamConfig({
    name: "alpha",
    keyHash: await hashStreamKey(ALPHA_KEY),
    createdAt: Date.now(),
    disabled: false,
    record: false,
  });
  const stopFeeds = new AbortController();
  const app = new Hono();
  app.route(
    "/",
    createApiApp({
      registry,
      config: loadConfig(apiConfigSchema, { API_ADMIN_TOKEN: ADMIN_TOKEN, LOG_LEVEL: "warn" }),
      log: quietLog,
      metrics: new MetricsRegistry(),
    }),
  );
  // No in-process stats: the dashboard shows what the origin put in the Redis record.
  app.route(
    "/",
    dashboardRoutes({
      registry,
      log: quietLog,
      probeNodes: false,
      scrapeOriginMetrics: false,
      refreshMs: 500,
      signal: stopFeeds.signal,
    }),
  );
  await using server = serveLoopback(app.fetch, stopFeeds);
  const url = server.url;

  const long = encoder(origin.rtmpUrl(ALPHA_KEY), 150);
  const short = encoder(origin.rtmpUrl(BETA_KEY), 60);
  await using _encoders = {
    [Symbol.asyncDispose]: async () => void await Promise.all([long.stop(), short.stop()]),
  };

  const measured = (s: EncoderFields | undefined) =>
    s !== undefined && s.keyframeInterval !== null && s.frameRate !== null && s.bitrate !== null;
  const live = await waitFor("both streams measured in /api/v1/live", async () => {
    const body = await (await fetch(`${url}/api/v1/live`)).json();
    const byName = new Map<string, EncoderFields>(
      body.streams.map((s: EncoderFields) => [s.name, s]),
    );
    return measured(byName.get("alpha")) && measured(byName.get("beta")) ? byName : undefined;
  }, { timeoutMs: 60_000, intervalMs: 250 });

  await t.step("-g 150 at 30 fps: a 5 s keyframe interval and its warning", () => {
    const alpha = live.get("alpha")!;
    near(alpha.keyframeInterval, 5, 0.1, "alpha keyframeInterval");
    assertMeasured(alpha);
    assert.equal(alpha.warnings.length, 1, JSON.stringify(alpha.warnings));
    assert.equal(alpha.warnings[0]!.code, "keyframe_interval");
    assert.match(alpha.warnings[0]!.message, KEYFRAME_WARNING);
  });

  await t.step("-g 60 at 30 fps: a 2 s keyframe interval and no warning", () => {
    const beta = live.get("beta")!;
    near(beta.keyframeInterval, 2, 0.1, "beta keyframeInterval");
    assertMeasured(beta);
    assert.deepEqual(beta.warnings, []);
  });

  await t.step("the admin view of a live stream reports the same", async () => {
    const res = await fetch(`${url}/api/v1/streams/alpha`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(res.status, 200);
    const view = await res.json();
    assert.equal(view.live, true);
    near(view.keyframeInterval, 5, 0.1, "admin view keyframeInterval");
    assertMeasured({ ...view, name: "alpha" });
    assert.match(view.warnings[0]?.message ?? "", KEYFRAME_WARNING);
  });

  await t.step("the dashboard shows the warning with its fix, for alpha only", async () => {
    await using browser = await openBrowser();
    const { page } = browser;
    await page.goto(`${url}/`);
    const warnings = await waitFor("the warning on the dashboard", async () => {
      const items = await page.locator("#live-warnings li").allTextContents();
      return (await page.isVisible("#live-warnings")) && items.length > 0 ? items : undefined;
    }, { timeoutMs: 15_000 });
    assert.equal(warnings.length, 1, JSON.stringify(warnings));
    assert.match(
      warnings[0]!,
      /^alpha: Keyframe interval 5 s — set 2 s in OBS → Settings → Output/,
    );
    const alphaKeyframes = page.locator('#live-rows tr[data-stream="alpha"] td').nth(4);
    assert.match(await alphaKeyframes.textContent() ?? "", /^\d+\.\d s$/);
    assert.match(await alphaKeyframes.getAttribute("class") ?? "", /\bwarn\b/);
    const betaCells = await page.locator('#live-rows tr[data-stream="beta"] td').allTextContents();
    assert.match(betaCells[4] ?? "", /^2\.\d s$/, JSON.stringify(betaCells));
    assert.match(betaCells[5] ?? "", /^\d+(\.\d+)? fps$/);
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({
      path: fileURLToPath(new URL("encoder-warning.png", ARTIFACTS)),
      fullPage: true,
    });
    assert.deepEqual(browser.pageErrors, []);
  });
});
