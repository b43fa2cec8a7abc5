/**
 * Scenario 8: the memory of the all-in-one (`deno task start`) under a steady audience. The
 * node runs as a newcomer runs it, from a directory of its own (`roles.ts`); 8 ffmpeg
 * publishers loop the bench's clip into it and 40 viewers in this process (5 per stream) each
 * ask for their playlist through the node's one HTTP port every second and fetch every segment
 * they have not fetched yet, whole. The node's RSS is read every 5 s from the moment every
 * playlist answers. Memory that follows the live windows levels off once the windows are full;
 * a cache that keeps segments nobody will ask for again climbs until its cap, so the figures
 * are the level after the first minute and the slope of a least-squares line through it.
 */
import { publish } from "../tests/helpers/media.ts";
import type { TestProcess } from "../tests/helpers/process.ts";
import { delay, waitFor } from "../tests/helpers/wait.ts";
import { rssBytes } from "./proc.ts";
import { type AllInOneProcess, generatePublishKeys, startAllInOneRole } from "./roles.ts";

export interface AllInOneOptions {
  /** FLV clip the publishers loop with `-c copy`. */
  clip: string;
  publishers: number;
  viewersPerStream: number;
  /** How long RSS is sampled once every playlist answers. */
  seconds: number;
}

export interface RssSample {
  /** Seconds since the viewers started. */
  t: number;
  bytes: number;
}

export interface AllInOneRun {
  publishers: number;
  viewers: number;
  seconds: number;
  /** RSS once the node was ready, before any publisher. */
  rssIdleBytes: number;
  samples: RssSample[];
  /** Samples before this many seconds are the warm-up: windows filling, caches warming. */
  settleSeconds: number;
  /** Mean of the samples after the warm-up. */
  rssSettledBytes: number;
  /** Highest sample, warm-up included. */
  rssMaxBytes: number;
  /** Least-squares slope of the samples after the warm-up, bytes per minute. */
  slopeBytesPerMinute: number;
  viewing: ViewerTotals;
  /** Publishers that exited before the end (each one makes the run suspect). */
  publishersLost: number;
}

export interface ViewerTotals {
  playlists: number;
  segments: number;
  bytes: number;
  /** Failed requests and non-2xx answers, playlists and segments together. */
  errors: number;
  /** What those errors were, e.g. `segment 404` or `playlist TypeError`, with counts. */
  errorKinds: Record<string, number>;
}

function failed(totals: ViewerTotals, kind: string): void {
  totals.errors++;
  totals.errorKinds[kind] = (totals.errorKinds[kind] ?? 0) + 1;
}

const SAMPLE_MS = 5000;
const POLL_MS = 1000;
/** The warm-up the target allows; shorter runs take the first half instead. */
const SETTLE_SECONDS = 60;

/** A viewer: its playlist every second, then every segment it has not fetched yet, whole. */
async function view(playlistUrl: string, totals: ViewerTotals, signal: AbortSignal) {
  const fetched = new Set<string>();
  while (!signal.aborted) {
    const started = performance.now();
    try {
      const res = await fetch(playlistUrl, { signal });
      totals.playlists++;
      if (!res.ok) {
        failed(totals, `playlist ${res.status}`);
        await res.body?.cancel();
      } else {
        const uris = (await res.text()).split("\n").map((l) => l.trim())
          .filter((l) => l !== "" && !l.startsWith("#"));
        for (const uri of uris) {
          const url = new URL(uri, playlistUrl).href;
          if (fetched.has(url)) continue;
          fetched.add(url);
          const seg = await fetch(url, { signal });
          if (!seg.ok) {
            failed(totals, `segment ${seg.status}`);
            await seg.body?.cancel();
            continue;
          }
          totals.bytes += (await seg.arrayBuffer()).byteLength;
          totals.segments++;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      failed(totals, `fetch ${(err as Error).name}: ${(err as Error).message}`);
    }
    await delay(Math.max(0, POLL_MS - (performance.now() - started)));
  }
}

/** Slope of the least-squares line through the samples, bytes per second. */
export function leastSquaresSlope(samples: readonly RssSample[]): number {
  const n = samples.length;
  if (n < 2) return NaN;
  const mt = samples.reduce((a, s) => a + s.t, 0) / n;
  const mb = samples.reduce((a, s) => a + s.bytes, 0) / n;
  const cov = samples.reduce((a, s) => a + (s.t - mt) * (s.bytes - mb), 0);
  const vt = samples.reduce((a, s) => a + (s.t - mt) ** 2, 0);
  return vt > 0 ? cov / vt : NaN;
}

/** One run of the scenario; see the module comment. */
export async function runAllInOne(o: AllInOneOptions): Promise<AllInOneRun> {
  const workDir = await Deno.makeTempDir({ prefix: "cascade-bench-aio-" });
  const names = Array.from({ length: o.publishers }, (_, i) => `aio${i + 1}`);
  const keys = generatePublishKeys(names);
  const publishers: TestProcess[] = [];
  const stopViewers = new AbortController();
  const viewers: Promise<void>[] = [];
  let node: AllInOneProcess | undefined;
  try {
    const aio = node = await startAllInOneRole({ workDir, keys });
    const rssIdleBytes = await rssBytes(aio.pid);
    for (const name of names) {
      publishers.push(
        publish(`rtmp://127.0.0.1:${aio.rtmpPort}/live/${keys.get(name)}`, { clip: o.clip }),
      );
    }
    const playlist = (name: string) => `${aio.url}/live/${name}/index.m3u8`;
    await waitFor(
      `a playlist for each of ${o.publishers} streams from the all-in-one`,
      async () => {
        aio.proc.giveUpIfExited();
        const lost = publishers.find((p) => p.exited);
        if (lost) throw new Error(`A publisher exited: ${lost.output.slice(-500)}`);
        for (const name of names) {
          const res = await fetch(playlist(name));
          const text = await res.text();
          if (!res.ok || !text.includes("#EXTINF")) return false;
        }
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    const viewing: ViewerTotals = {
      playlists: 0,
      segments: 0,
      bytes: 0,
      errors: 0,
      errorKinds: {},
    };
    for (const name of names) {
      for (let i = 0; i < o.viewersPerStream; i++) {
        viewers.push(view(playlist(name), viewing, stopViewers.signal));
      }
    }
    const t0 = performance.now();
    const samples: RssSample[] = [];
    for (let next = SAMPLE_MS; next <= o.seconds * 1000; next += SAMPLE_MS) {
      await delay(Math.max(0, next - (performance.now() - t0)));
      aio.proc.giveUpIfExited();
      samples.push({ t: (performance.now() - t0) / 1000, bytes: await rssBytes(aio.pid) });
    }
    stopViewers.abort();
    await Promise.all(viewers);

    const settleSeconds = Math.min(SETTLE_SECONDS, o.seconds / 2);
    const settled = samples.filter((s) => s.t > settleSeconds);
    return {
      publishers: o.publishers,
      viewers: viewers.length,
      seconds: o.seconds,
      rssIdleBytes,
      samples,
      settleSeconds,
      rssSettledBytes: settled.reduce((a, s) => a + s.bytes, 0) / settled.length,
      rssMaxBytes: Math.max(...samples.map((s) => s.bytes)),
      slopeBytesPerMinute: leastSquaresSlope(settled) * 60,
      viewing,
      publishersLost: publishers.filter((p) => p.exited).length,
    };
  } finally {
    stopViewers.abort();
    await Promise.all(viewers);
    await Promise.all(publishers.map((p) => p.stop()));
    await node?.stop();
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  }
}
