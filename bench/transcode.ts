/**
 * The transcoder's cost (issue 20): the shipped origin (`deno task origin` with Redis,
 * `roles.ts`), one `-re -c copy` publisher of the 720p bench clip, and one rung at a time
 * (`TRANSCODE_PROFILE=480p`, then `360p`, then `240p`). Each rung's ffmpeg child is measured
 * from `/proc` over the window (CPU seconds per wall second, as % of one core), and so is the
 * origin process with and without the rung, which is what the transcoder's FLV writing and
 * reading adds to the origin itself.
 */
import { startRedis } from "../tests/helpers/redis.ts";
import { publish } from "../tests/helpers/media.ts";
import { delay, waitFor } from "../tests/helpers/wait.ts";
import { cpuSeconds, CpuWindow } from "./proc.ts";
import { generatePublishKeys, startOriginRole } from "./roles.ts";

export const TRANSCODE_RUNGS = ["480p", "360p", "240p"] as const;

export interface TranscodeRun {
  /** `none` for the baseline without renditions. */
  rung: string;
  seconds: number;
  /** The rung's ffmpeg, % of one core (null for the baseline). */
  ffmpegCpuPercent: number | null;
  /** The origin process (hub, packager, transcoder plumbing), % of one core. */
  originCpuPercent: number;
  /** Restarts of the rung's ffmpeg during the window (should be 0). */
  restarts: number;
  machineBusy: number;
}

export interface TranscodeOptions {
  clip: string;
  seconds: number;
}

/** The baseline, then each rung alone. */
export async function runTranscode(o: TranscodeOptions): Promise<TranscodeRun[]> {
  const out: TranscodeRun[] = [];
  for (const rung of ["none", ...TRANSCODE_RUNGS]) out.push(await runRung(rung, o));
  return out;
}

/** Process ids of `pid`'s children named `name`. */
async function childrenNamed(pid: number, name: string): Promise<number[]> {
  const out: number[] = [];
  for await (const task of Deno.readDir(`/proc/${pid}/task`)) {
    const text = await Deno.readTextFile(`/proc/${pid}/task/${task.name}/children`).catch(() => "");
    for (const child of text.split(" ").filter(Boolean).map(Number)) {
      const comm = await Deno.readTextFile(`/proc/${child}/comm`).catch(() => "");
      if (comm.trim() === name) out.push(child);
    }
  }
  return out;
}

async function runRung(rung: string, o: TranscodeOptions): Promise<TranscodeRun> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-bench-transcode-" });
  await using redis = await startRedis();
  const keys = generatePublishKeys(["bench"]);
  const origin = await startOriginRole({
    redisUrl: redis.url,
    mediaRoot: `${dir}/media`,
    recordDir: `${dir}/recordings`,
    keys,
    env: { TRANSCODE_PROFILE: rung, LOG_LEVEL: "error" },
  });
  const publisher = publish(`rtmp://127.0.0.1:${origin.rtmpPort}/live/${keys.get("bench")}`, {
    clip: o.clip,
  });
  try {
    const ready = `${origin.url}/live/${rung === "none" ? "bench" : `bench_${rung}`}/index.m3u8`;
    await waitFor(`${ready} to list a segment`, async () => {
      const res = await fetch(ready);
      return res.ok && (await res.text()).includes(".ts");
    }, { timeoutMs: 30_000 });
    const pid = (await childrenNamed(origin.pid, "ffmpeg"))[0];
    const self = new CpuWindow(origin.pid);
    const restarts = async () =>
      Number(
        /cascade_transcode_restarts_total (\d+)/.exec(
          await (await fetch(`${origin.url}/metrics`)).text(),
        )?.[1] ?? 0,
      );
    const restarts0 = await restarts();
    const ffmpeg0 = pid === undefined ? 0 : await cpuSeconds(pid);
    await self.start();
    const t0 = performance.now();
    await delay(o.seconds * 1000);
    const seconds = (performance.now() - t0) / 1000;
    const ffmpegCpu = pid === undefined ? null : (await cpuSeconds(pid)) - ffmpeg0;
    const window = await self.stop();
    return {
      rung,
      seconds,
      ffmpegCpuPercent: ffmpegCpu === null ? null : (ffmpegCpu / seconds) * 100,
      originCpuPercent: window.processCores * 100,
      restarts: (await restarts()) - restarts0,
      machineBusy: window.machineBusy,
    };
  } finally {
    await publisher.stop();
    await origin.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
