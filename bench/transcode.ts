/**
 * The transcoder's cost (issue 20): the shipped origin node in this process, one `-re -c copy`
 * publisher of the 720p bench clip, and one rung at a time (`TRANSCODE_PROFILE=480p`, then
 * `360p`, then `240p`). Each rung's ffmpeg child is measured from `/proc` over the window
 * (CPU seconds per wall second, as % of one core), and so is this process with and without the
 * rung, which is what the transcoder's FLV writing and reading adds to the origin itself.
 */
import { configureLogging } from "@cascade/common/log";
import { loadOriginNodeConfig, startOriginNode } from "../node/origin_node.ts";
import { publish } from "../tests/helpers/media.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { cpuSeconds, CpuWindow } from "./proc.ts";

export const TRANSCODE_RUNGS = ["480p", "360p", "240p"] as const;

export interface TranscodeRun {
  /** `none` for the baseline without renditions. */
  rung: string;
  seconds: number;
  /** The rung's ffmpeg, % of one core (null for the baseline). */
  ffmpegCpuPercent: number | null;
  /** This process (origin node, hub, packager, transcoder plumbing), % of one core. */
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
  configureLogging({ level: "error" });
  const out: TranscodeRun[] = [];
  for (const rung of ["none", ...TRANSCODE_RUNGS]) out.push(await runRung(rung, o));
  return out;
}

async function runRung(rung: string, o: TranscodeOptions): Promise<TranscodeRun> {
  const mediaRoot = await Deno.makeTempDir({ prefix: "cascade-bench-transcode-" });
  const origin = await startOriginNode(loadOriginNodeConfig({
    RTMP_HOST: "127.0.0.1",
    RTMP_PORT: "0",
    ORIGIN_HTTP_HOST: "127.0.0.1",
    ORIGIN_HTTP_PORT: "0",
    MEDIA_ROOT: mediaRoot,
    PUBLISH_AUTH: "open",
    NODE_ID: "bench-transcode",
    RECORD: "none",
    TRANSCODE_PROFILE: rung,
  }));
  const publisher = publish(`rtmp://127.0.0.1:${origin.rtmpPort}/live/bench`, { clip: o.clip });
  try {
    const ready = `http://127.0.0.1:${origin.httpPort}/live/${
      rung === "none" ? "bench" : `bench_${rung}`
    }/index.m3u8`;
    await waitFor(`${ready} to list a segment`, async () => {
      const res = await fetch(ready);
      return res.ok && (await res.text()).includes(".ts");
    }, { timeoutMs: 30_000 });
    const pid = origin.transcoder.pids()[0];
    const self = new CpuWindow(Deno.pid);
    const restarts = () =>
      Number(/cascade_transcode_restarts_total (\d+)/.exec(origin.metrics.render())?.[1] ?? 0);
    const restarts0 = restarts();
    const ffmpeg0 = pid === undefined ? 0 : await cpuSeconds(pid);
    await self.start();
    const t0 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, o.seconds * 1000));
    const seconds = (performance.now() - t0) / 1000;
    const ffmpegCpu = pid === undefined ? null : (await cpuSeconds(pid)) - ffmpeg0;
    const window = await self.stop();
    return {
      rung,
      seconds,
      ffmpegCpuPercent: ffmpegCpu === null ? null : (ffmpegCpu / seconds) * 100,
      originCpuPercent: window.processCores * 100,
      restarts: restarts() - restarts0,
      machineBusy: window.machineBusy,
    };
  } finally {
    await publisher.stop();
    await origin.close();
    await Deno.remove(mediaRoot, { recursive: true }).catch(() => {});
  }
}
