/**
 * A bare hls.js player page for tests and the benchmark, on a loopback port of its own: the
 * hls.js build Cascade ships (`/hls.js`) and a page (`/?src=…&ll=1`) that plays `src`, with
 * `lowLatencyMode` when `ll=1`. The page exposes `window.hls`, `window.fatal` (details of fatal
 * errors) and `window.sample()` → `{t, latency, pdt}`: the playhead, hls.js's own latency
 * estimate (null before it has one) and wall clock minus the playhead's program date time
 * (null without `#EXT-X-PROGRAM-DATE-TIME`), in seconds.
 */
import { hlsJsUrl } from "../../web/assets.ts";
import type { Page } from "./playwright.ts";
import { waitFor } from "./wait.ts";

export interface PlayerSample {
  t: number;
  latency: number | null;
  pdt: number | null;
}

const PAGE = `<!doctype html>
<meta charset="utf-8"><video muted autoplay playsinline></video>
<script src="/hls.js"></script>
<script>
  const q = new URLSearchParams(location.search);
  const video = document.querySelector("video");
  const hls = new Hls({ lowLatencyMode: q.get("ll") === "1" });
  window.hls = hls;
  window.fatal = [];
  hls.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) window.fatal.push(d.details); });
  hls.loadSource(q.get("src"));
  hls.attachMedia(video);
  video.play().catch(() => {});
  window.sample = () => ({
    t: video.currentTime,
    latency: Number.isFinite(hls.latency) && hls.latency > 0 ? hls.latency : null,
    pdt: hls.playingDate ? (Date.now() - hls.playingDate.getTime()) / 1000 : null,
  });
</script>`;

export interface PlayerPage extends AsyncDisposable {
  /** The page's URL playing `src`. */
  url(src: string, opts?: { lowLatency?: boolean }): string;
}

export async function servePlayerPage(): Promise<PlayerPage> {
  const hlsJs = await Deno.readFile(hlsJsUrl());
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/hls.js"
        ? new Response(hlsJs, { headers: { "Content-Type": "text/javascript" } })
        : new Response(PAGE, { headers: { "Content-Type": "text/html" } }),
  );
  const base = `http://127.0.0.1:${server.addr.port}/`;
  return {
    url: (src, opts = {}) =>
      `${base}?ll=${opts.lowLatency ? "1" : "0"}&src=${encodeURIComponent(src)}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/**
 * Forces the page's hls.js (`window.hls`) to each of its levels in turn and waits until the
 * video shows that level's height and plays a second of it; returns the levels' heights.
 */
export async function playEachLevel(page: Page): Promise<number[]> {
  const heights = await page.evaluate<number[]>("window.hls.levels.map((l) => l.height)");
  for (const [index, height] of heights.entries()) {
    await page.evaluate(`window.hls.currentLevel = ${index}`);
    await waitFor(
      `the video to play level ${index} (${height} lines)`,
      () =>
        page.evaluate<boolean>(
          `document.querySelector("video").videoHeight === ${height} && window.hls.currentLevel === ${index}`,
        ),
      { timeoutMs: 20_000 },
    );
    const t = await page.evaluate<number>("document.querySelector('video').currentTime");
    await waitFor(
      `level ${index} to advance`,
      () => page.evaluate<boolean>(`document.querySelector('video').currentTime > ${t + 1}`),
      { timeoutMs: 10_000 },
    );
  }
  return heights;
}
