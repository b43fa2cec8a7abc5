/**
 * Scenario 9: how far behind live hls.js plays, in headless Chromium, for the same `-c copy`
 * publisher of the clip into three setups started fresh one after another:
 *
 * - Cascade LL-HLS: `ll.m3u8` (origin with `HLS_LL=true`) through `deno task edge` (Redis),
 *   hls.js `lowLatencyMode: true`;
 * - Cascade HLS: `index.m3u8` through the same edge, hls.js defaults;
 * - nginx-rtmp HLS: its `index.m3u8` served from its `hls_path` by a small static file server
 *   in this process (nginx-rtmp serves no HTTP itself), hls.js defaults.
 *
 * The page is the bench's own, served with the hls.js build Cascade ships by a small server in
 * this process, so the figure does not depend on the watch page. Once playback has advanced, it is sampled every second:
 * `hls.latency` (hls.js's distance behind the live edge it estimates from the playlist and its
 * age; the same method for every server) and, where the playlist carries
 * `#EXT-X-PROGRAM-DATE-TIME` (Cascade stamps it with the ingest wall clock; nginx-rtmp writes
 * none), wall clock minus the playhead's program date time. Both are reported as p50 / p95.
 * After the Cascade LL sampling, `edge/bench/ll_viewers.ts` plays the same stream with many
 * simulated LL viewers through the edge and counts the origin requests per part.
 */
import { join } from "node:path";
import { openBrowser } from "../tests/helpers/browser.ts";
import { type PlayerSample, servePlayerPage } from "../tests/helpers/hls_page.ts";
import { publish } from "../tests/helpers/media.ts";
import type { TestProcess } from "../tests/helpers/process.ts";
import { freePort } from "../tests/helpers/ports.ts";
import { delay, waitFor } from "../tests/helpers/wait.ts";
import { percentile } from "./latency.ts";
import { type LlViewersResult, runLlViewers } from "../edge/bench/ll_viewers.ts";
import { startTarget } from "./servers.ts";

export type LatencySetup = "cascade-ll" | "cascade-ts" | "nginx-rtmp";
export const LATENCY_SETUPS: readonly LatencySetup[] = ["cascade-ll", "cascade-ts", "nginx-rtmp"];

export interface PlayerLatency {
  setup: LatencySetup;
  /** `hls.latency` samples, seconds. */
  hlsLatency: { p50: number; p95: number; n: number } | null;
  /** Wall clock minus the playhead's program date time, seconds (null without PDT). */
  pdtLatency: { p50: number; p95: number; n: number } | null;
  fatalErrors: number;
  /** Cascade LL only: `viewers` simulated LL viewers on the same stream through the edge. */
  llViewers?: LlViewersResult;
  /** Why the setup gave no figures, if it did not. */
  error?: string;
}

export interface PlayerLatencyOptions {
  clip: string;
  /** Seconds sampled once playback advanced. */
  seconds: number;
  /** LL viewers simulated after the Cascade LL sampling (0: none), and for how long. */
  llViewers: number;
  llViewerSeconds: number;
}

const STREAM = "latency";

function summary(values: number[]): { p50: number; p95: number; n: number } | null {
  if (values.length === 0) return null;
  return { p50: percentile(values, 50), p95: percentile(values, 95), n: values.length };
}

/** Serves `root` read-only with CORS, for nginx-rtmp's HLS files. */
function staticServer(root: string): { url: string; close(): Promise<void> } {
  const port = freePort();
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(join(root, path));
      const type = path.endsWith(".m3u8") ? "application/vnd.apple.mpegurl" : "video/mp2t";
      return new Response(body, {
        headers: {
          "content-type": type,
          "access-control-allow-origin": "*",
          "cache-control": "no-cache",
        },
      });
    } catch {
      return new Response("not found", {
        status: 404,
        headers: { "access-control-allow-origin": "*" },
      });
    }
  });
  return { url: `http://127.0.0.1:${port}`, close: () => server.shutdown() };
}

/** Plays `src` in Chromium and samples its latency for `seconds` once it advanced 2 s. */
async function sampleLatency(
  pageUrl: string,
  seconds: number,
): Promise<Omit<PlayerLatency, "setup">> {
  await using browser = await openBrowser();
  const { page } = browser;
  await page.goto(pageUrl);
  const sample = () =>
    page.evaluate<PlayerSample & { fatal: number }>(
      "({ ...window.sample(), fatal: window.fatal.length })",
    );
  await waitFor("playback to advance 2 s", async () => (await sample()).t > 2, {
    timeoutMs: 60_000,
    intervalMs: 250,
  });
  const hlsLatency: number[] = [];
  const pdtLatency: number[] = [];
  let fatal = 0;
  for (let i = 0; i < seconds; i++) {
    await delay(1000);
    const s = await sample();
    if (s.latency !== null) hlsLatency.push(s.latency);
    if (s.pdt !== null) pdtLatency.push(s.pdt);
    fatal = s.fatal;
  }
  return { hlsLatency: summary(hlsLatency), pdtLatency: summary(pdtLatency), fatalErrors: fatal };
}

/** Scenario 9 for each setup in turn. */
export async function measurePlayerLatency(o: PlayerLatencyOptions): Promise<PlayerLatency[]> {
  const out: PlayerLatency[] = [];
  for (const setup of LATENCY_SETUPS) {
    const dir = await Deno.makeTempDir({ prefix: "cascade-bench-latency-" });
    await Deno.mkdir(join(dir, "media"));
    let publisher: TestProcess | undefined;
    const nginx = setup === "nginx-rtmp";
    const target = await startTarget(nginx ? "nginx-rtmp" : "cascade", {
      mediaRoot: join(dir, "media"),
      workDir: dir,
      names: [STREAM],
      originFlags: [],
      // LL-HLS is off by default (its cost is in rows 1 and 6 when on); this scenario needs it.
      originEnv: setup === "cascade-ll" ? { HLS_LL: "true" } : undefined,
    });
    const files = nginx ? staticServer(join(dir, "media")) : undefined;
    try {
      publisher = publish(
        `rtmp://127.0.0.1:${target.rtmpPort}/${target.publishPath(STREAM)}`,
        { clip: o.clip, seconds: 3600 },
      );
      const base = files?.url ?? target.edgeUrl!;
      const playlist = nginx
        ? `${base}/${STREAM}/index.m3u8`
        : `${base}/live/${STREAM}/${setup === "cascade-ll" ? "ll" : "index"}.m3u8`;
      await waitFor("the playlist", async () => {
        const res = await fetch(playlist).catch(() => null);
        await res?.body?.cancel();
        return res?.ok;
      }, { timeoutMs: 30_000, intervalMs: 200 });
      await using player = await servePlayerPage();
      {
        const url = player.url(playlist, { lowLatency: setup === "cascade-ll" });
        const latency = await sampleLatency(url, o.seconds);
        const llViewers = setup === "cascade-ll" && o.llViewers > 0
          ? await runLlViewers({
            edgeUrl: target.edgeUrl!,
            name: STREAM,
            viewers: o.llViewers,
            durationMs: o.llViewerSeconds * 1000,
          })
          : undefined;
        out.push({ setup, ...latency, ...(llViewers ? { llViewers } : {}) });
      }
    } catch (err) {
      out.push({
        setup,
        hlsLatency: null,
        pdtLatency: null,
        fatalErrors: 0,
        error: (err as Error).message,
      });
    } finally {
      await publisher?.stop();
      await files?.close();
      await target.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
  return out;
}
