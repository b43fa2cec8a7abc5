/**
 * What thumbnails cost: N publishers looping the bench clip into the shipped origin
 * (`deno task origin` with Redis, `roles.ts`), three times: thumbnails off
 * (`THUMBNAIL_SECONDS=0`); on with nobody asking (the shipped default with no dashboard open);
 * and on with a dashboard's worth of requests (every stream's `thumb.jpg` every
 * `THUMBNAIL_SECONDS`). CPU from `/proc` over the same window; the origin's ffmpeg children
 * count too (their time is the origin's `cutime`/`cstime` once reaped), so the differences
 * are everything thumbnails add, per stream, in percent of one core, with the pictures made
 * in the window to show the work was done.
 */
import { startRedis } from "../tests/helpers/redis.ts";
import { publish } from "../tests/helpers/media.ts";
import type { TestProcess } from "../tests/helpers/process.ts";
import { delay, waitFor } from "../tests/helpers/wait.ts";
import { CLK_TCK } from "./proc.ts";
import { generatePublishKeys, startOriginRole } from "./roles.ts";

export interface ThumbnailRun {
  /** `THUMBNAIL_SECONDS` of the run; 0 is off. */
  thumbnailSeconds: number;
  /** Whether every stream's picture was asked for every `thumbnailSeconds`. */
  watched: boolean;
  streams: number;
  seconds: number;
  /** Origin and its reaped children, percent of one core. */
  cpuPercent: number;
  /** Thumbnails made in the window (`cascade_thumbnail_runs_total{result="ok"}`). */
  thumbnails: number;
}

export interface ThumbnailBench {
  off: ThumbnailRun;
  /** On, nobody asking. */
  unwatched: ThumbnailRun;
  /** On, every picture asked for every `thumbnailSeconds`. */
  on: ThumbnailRun;
  /** (on − off) / streams: percent of one core per watched stream. */
  cpuPercentPerStream: number;
  /** (unwatched − off) / streams. */
  cpuPercentPerStreamUnwatched: number;
}

/** User + system CPU seconds of a process and of its children it has waited for. */
async function cpuWithChildren(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  // utime, stime, cutime, cstime are fields 14–17; f[0] is field 3.
  return ((f[11] ?? 0) + (f[12] ?? 0) + (f[13] ?? 0) + (f[14] ?? 0)) / CLK_TCK;
}

function metric(text: string, pattern: RegExp): number {
  return Number(pattern.exec(text)?.[1] ?? 0);
}

const THUMBS_OK = /^cascade_thumbnail_runs_total\{result="ok"\} (\d+)/m;

async function run(
  clip: string,
  streams: number,
  seconds: number,
  thumbnailSeconds: number,
  watched: boolean,
): Promise<ThumbnailRun> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-bench-thumbs-" });
  const publishers: TestProcess[] = [];
  try {
    await using redis = await startRedis();
    const names = Array.from({ length: streams }, (_, i) => `thumb${i}`);
    const keys = generatePublishKeys(names);
    const origin = await startOriginRole({
      redisUrl: redis.url,
      mediaRoot: `${dir}/media`,
      recordDir: `${dir}/recordings`,
      keys,
      env: { THUMBNAIL_SECONDS: String(thumbnailSeconds), LOG_LEVEL: "error" },
    });
    try {
      for (const name of names) {
        publishers.push(
          publish(`rtmp://127.0.0.1:${origin.rtmpPort}/live/${keys.get(name)}`, { clip }),
        );
      }
      const metrics = () => fetch(`${origin.url}/metrics`).then((r) => r.text());
      await waitFor(`${streams} publishers`, async () => {
        return metric(await metrics(), /^cascade_publishers (\d+)/m) === streams;
      }, { timeoutMs: 60_000, intervalMs: 250 });
      const viewer = watched ? watchThumbnails(origin.url, names, thumbnailSeconds) : undefined;
      // Past the first keyframes and the first round of pictures.
      await delay(Math.max(5, thumbnailSeconds * 2) * 1000);
      const before = metric(await metrics(), THUMBS_OK);
      const cpu0 = await cpuWithChildren(origin.pid);
      const t0 = performance.now();
      await delay(seconds * 1000);
      const cpu1 = await cpuWithChildren(origin.pid);
      const elapsed = (performance.now() - t0) / 1000;
      await viewer?.stop();
      const lost = publishers.find((p) => p.exited);
      if (lost) throw new Error(`A publisher exited: ${lost.output.slice(-500)}`);
      return {
        thumbnailSeconds,
        watched,
        streams,
        seconds: elapsed,
        cpuPercent: ((cpu1 - cpu0) / elapsed) * 100,
        thumbnails: metric(await metrics(), THUMBS_OK) - before,
      };
    } finally {
      await Promise.all(publishers.map((p) => p.stop()));
      await origin.stop();
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** A dashboard's requests: each stream's picture every `seconds`, until stopped. */
function watchThumbnails(originUrl: string, names: string[], seconds: number) {
  let running = true;
  const loop = (async () => {
    while (running) {
      const next = performance.now() + seconds * 1000;
      await Promise.all(names.map(async (name) => {
        const res = await fetch(`${originUrl}/live/${name}/thumb.jpg`).catch(() => undefined);
        await res?.body?.cancel();
      }));
      await waitFor("the next round", () => !running || performance.now() >= next, {
        timeoutMs: seconds * 1000 + 5000,
        intervalMs: 100,
      });
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
    },
  };
}

/** Thumbnails off, on unwatched, then on and watched (every `thumbnailSeconds`). */
export async function runThumbnailBench(o: {
  clip: string;
  streams: number;
  seconds: number;
  thumbnailSeconds: number;
}): Promise<ThumbnailBench> {
  const off = await run(o.clip, o.streams, o.seconds, 0, false);
  const unwatched = await run(o.clip, o.streams, o.seconds, o.thumbnailSeconds, false);
  const on = await run(o.clip, o.streams, o.seconds, o.thumbnailSeconds, true);
  return {
    off,
    unwatched,
    on,
    cpuPercentPerStream: (on.cpuPercent - off.cpuPercent) / o.streams,
    cpuPercentPerStreamUnwatched: (unwatched.cpuPercent - off.cpuPercent) / o.streams,
  };
}
