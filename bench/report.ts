/**
 * The benchmark's results as one JSON document (`bench/results/latest.json`), and the
 * side-by-side table printed at the end and written as Markdown for the README. Where several
 * rounds ran, each figure is the best round for that figure (the machine is shared, so a
 * worse round is taken to be other work getting in the way); every round is in the JSON.
 */
import type { AllInOneRun } from "./all_in_one.ts";
import type { LatencySetup, PlayerLatency } from "./player_latency.ts";
import type { IdleRss } from "./idle.ts";
import type { IngestRound, IngestServer } from "./ingest.ts";
import { percentile, summarize, type Summary } from "./latency.ts";
import type { MachineInfo } from "./proc.ts";
import type { StampedeRound, StampedeServer } from "./stampede.ts";
import type { ThumbnailBench, ThumbnailRun } from "./thumbnails.ts";
import { bestRun, type ThroughputRun } from "./edge_throughput.ts";
import type { TranscodeRun } from "./transcode.ts";

export interface Results {
  startedAt: string;
  finishedAt: string;
  options: {
    quick: boolean;
    streams: number;
    /** Publishers of the at-scale scenario. */
    streamsHigh: number;
    windowSeconds: number;
    rounds: number;
    probes: number;
    viewers: number;
    edgeSeconds: number;
    /** How long the all-in-one's RSS was sampled under load. */
    aioSeconds: number;
    stampedeOriginDelayMs: number;
    /** Extra `deno run` flags the Cascade origin ran with. */
    originFlags: string[];
  };
  machine: MachineInfo;
  clip: { size: string; fps: number; bitsPerSecond: number; seconds: number } | undefined;
  ingest: IngestRound[] | undefined;
  /** The same rounds at `streamsHigh` publishers, Cascade as shipped and nginx-rtmp. */
  scale: IngestRound[] | undefined;
  idle: IdleRss[] | undefined;
  edgeThroughput: ThroughputRun[] | { skipped: string } | undefined;
  stampede: StampedeRound[] | undefined;
  allInOne: AllInOneRun | undefined;
  playerLatency: PlayerLatency[] | undefined;
  /** CPU of the shipped origin with thumbnails off and on. */
  thumbnails?: ThumbnailBench | undefined;
  /** The baseline without renditions, then one rung at a time. */
  transcode?: TranscodeRun[] | undefined;
  table: Row[];
  /** Scenarios that were skipped or failed, and why. */
  errors: string[];
}

export interface Row {
  scenario: string;
  metric: string;
  cascade: string;
  peer: string;
  ratio: string;
  target: string;
  met: string;
}

const MIB = 1024 * 1024;
const fixed = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");
const ms = (v: number) => (Number.isFinite(v) ? `${Math.round(v)}` : "n/a");
const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${fixed(a / b, 2)}×` : "");
const yesNo = (ok: boolean) => (ok ? "yes" : "no");
const mib = (bytes: number) => `${fixed(bytes / MIB, 2)} MiB`;

/** `HLS_SEGMENT_SECONDS` left at its default: one playlist update per stream this often. */
const SEGMENT_SECONDS = 2;
const TARGET_CPU_RATIO = 1.0;
const TARGET_RSS_PER_STREAM = 2 * MIB;
const TARGET_ORIGIN_IDLE_RSS = 60 * MIB;
const TARGET_WATCHER_RATIO = 0.25;
const TARGET_EDGE_AFTER_ORIGIN_MS = 100;
/** Issue 15 states it as 250 MB, decimal. */
const TARGET_AIO_RSS = 250e6;
/** "Flat": no more than this drift per minute after the warm-up. */
const TARGET_AIO_SLOPE = 5 * MIB;

function roundsOf(rounds: IngestRound[], server: IngestServer): IngestRound[] {
  return rounds.filter((r) => r.server === server);
}

function minBy<T>(items: T[], f: (t: T) => number): T | undefined {
  return items.reduce<T | undefined>(
    (best, t) => (best === undefined || f(t) < f(best) ? t : best),
    undefined,
  );
}

type Where = "origin" | "edge" | "edgeAfterOrigin";
type Part = "afterLastFrameMs" | "afterCutMs";

function latencyOf(round: IngestRound, where: Where, part: Part): Summary {
  if (where === "edgeAfterOrigin") {
    return summarize(round.probes.flatMap((p) => p.edgeAfterOriginMs));
  }
  return summarize(round.probes.flatMap((p) => p[where].map((s) => s[part])));
}

/** The round of `server` with the lowest p99 of this latency, summarized. */
function bestLatency(
  rounds: IngestRound[],
  server: IngestServer,
  where: Where,
  part: Part,
): Summary | undefined {
  const summaries = roundsOf(rounds, server).map((r) => latencyOf(r, where, part))
    .filter((s) => s.count > 0);
  return minBy(summaries, (s) => s.p99);
}

/** Median and maximum over probes of time to first playlist, of the round with the best median. */
function bestFirstPlaylist(
  rounds: IngestRound[],
  server: IngestServer,
  where: "origin" | "edge",
): { median: number; max: number } | undefined {
  const per = roundsOf(rounds, server).map((r) => {
    const v = r.probes.map((p) => p.firstPlaylistMs[where]).filter((x): x is number => x !== null);
    return { median: percentile(v, 50), max: v.length ? Math.max(...v) : NaN };
  }).filter((x) => Number.isFinite(x.median));
  return minBy(per, (x) => x.median);
}

const latencyText = (s: Summary | undefined) =>
  s === undefined ? "n/a" : `${ms(s.p50)} / ${ms(s.p99)} ms (n=${s.count})`;
const secondsText = (x: { median: number; max: number } | undefined) =>
  x === undefined ? "n/a" : `${fixed(x.median / 1000, 2)} s (max ${fixed(x.max / 1000, 2)} s)`;

/** Per-stream CPU and RSS of the shipped origin against nginx-rtmp, with the targets. */
function costRows(scenario: string, rounds: IngestRound[]): Row[] {
  const rows: Row[] = [];
  const cascade = minBy(roundsOf(rounds, "cascade"), (x) => x.cpuPercentPerStream);
  const nginx = minBy(roundsOf(rounds, "nginx-rtmp"), (x) => x.cpuPercentPerStream);
  if (cascade && nginx) {
    const x = cascade.cpuPercentPerStream / nginx.cpuPercentPerStream;
    rows.push({
      scenario,
      metric: "CPU per stream, % of a core (deno task origin, Redis)",
      cascade: `${fixed(cascade.cpuPercentPerStream, 3)} %`,
      peer: `nginx-rtmp ${fixed(nginx.cpuPercentPerStream, 3)} %`,
      ratio: ratio(cascade.cpuPercentPerStream, nginx.cpuPercentPerStream),
      target: `≤ ${fixed(TARGET_CPU_RATIO, 1)}×`,
      met: yesNo(x <= TARGET_CPU_RATIO),
    });
  }
  const rssCascade = minBy(roundsOf(rounds, "cascade"), (x) => x.rssPerStreamBytes);
  const rssNginx = minBy(roundsOf(rounds, "nginx-rtmp"), (x) => x.rssPerStreamBytes);
  if (rssCascade && rssNginx) {
    rows.push({
      scenario,
      metric: "RSS per stream",
      cascade: mib(rssCascade.rssPerStreamBytes),
      peer: `nginx-rtmp ${mib(rssNginx.rssPerStreamBytes)}`,
      ratio: ratio(rssCascade.rssPerStreamBytes, rssNginx.rssPerStreamBytes),
      target: `≤ ${mib(TARGET_RSS_PER_STREAM)}`,
      met: yesNo(rssCascade.rssPerStreamBytes <= TARGET_RSS_PER_STREAM),
    });
  }
  return rows;
}

/** What every edge hears from the registry, against one update per segment of its own streams. */
function registryRow(scenario: string, rounds: IngestRound[], served: number): Row[] {
  const rate = (server: IngestServer) =>
    minBy(
      roundsOf(rounds, server).filter((x) => x.registryMessages),
      (x) => x.registryMessages!.perSecond,
    )?.registryMessages;
  const cascade = rate("cascade");
  if (!cascade) return [];
  const watcher = rate("nginx-rtmp+discovery");
  const own = served / SEGMENT_SECONDS;
  const types = Object.entries(cascade.byType).map(([t, n]) => `${t} ${n}`).join(", ");
  return [{
    scenario,
    metric: `registry messages per edge per second (edge serves ${served})`,
    cascade: `${fixed(cascade.perSecond, 1)}/s${
      types ? ` (in ${fixed(cascade.seconds, 0)} s: ${types})` : ""
    }; all streams' events, once every edge's: ${fixed(cascade.allStreams.perSecond, 1)}/s`,
    peer: watcher ? `nginx-rtmp + discovery ${fixed(watcher.perSecond, 1)}/s` : "",
    ratio: "",
    target: `≈ its own streams' updates (${fixed(own, 1)}/s)`,
    met: yesNo(cascade.perSecond <= own * 1.5),
  }];
}

function ingestRows(r: Results, rounds: IngestRound[]): Row[] {
  const mbps = r.clip ? fixed(r.clip.bitsPerSecond / 1e6, 1) : "?";
  const s1 = `1 ingest, ${r.options.streams} × ${mbps} Mbit/s`;
  const rows: Row[] = costRows(s1, rounds);
  rows.push(...registryRow(s1, rounds, r.options.probes));
  const bare = minBy(roundsOf(rounds, "cascade-bare"), (x) => x.cpuPercentPerStream);
  const nginx = minBy(roundsOf(rounds, "nginx-rtmp"), (x) => x.cpuPercentPerStream);
  if (bare) {
    rows.push({
      scenario: s1,
      metric: "bare packager (no registry) — not what users run: CPU, RSS per stream",
      cascade: `${fixed(bare.cpuPercentPerStream, 3)} %, ${mib(bare.rssPerStreamBytes)}`,
      peer: nginx ? `nginx-rtmp ${fixed(nginx.cpuPercentPerStream, 3)} %` : "",
      ratio: nginx ? ratio(bare.cpuPercentPerStream, nginx.cpuPercentPerStream) : "",
      target: "",
      met: "",
    });
  }
  const watched = minBy(
    roundsOf(rounds, "nginx-rtmp+discovery").filter((x) => x.sidecar && x.cpuPercent > 0),
    (x) => x.sidecar!.cpuPercent / x.cpuPercent,
  );
  if (watched?.sidecar) {
    const x = watched.sidecar.cpuPercent / watched.cpuPercent;
    rows.push({
      scenario: s1,
      metric: "discovery watcher beside nginx-rtmp: its CPU / nginx-rtmp's, same window",
      cascade: `watcher ${fixed(watched.sidecar.cpuPercent, 2)} % of a core`,
      peer: `nginx-rtmp ${fixed(watched.cpuPercent, 2)} %`,
      ratio: `${fixed(x, 2)}×`,
      target: `≤ ${fixed(TARGET_WATCHER_RATIO, 2)}×`,
      met: yesNo(x <= TARGET_WATCHER_RATIO),
    });
  }
  const s2 = "2 segment latency p50 / p99";
  const origin = bestLatency(rounds, "cascade", "origin", "afterLastFrameMs");
  const originPeer = bestLatency(rounds, "nginx-rtmp", "origin", "afterLastFrameMs");
  rows.push({
    scenario: s2,
    metric: "at the origin",
    cascade: latencyText(origin),
    peer: `nginx-rtmp ${latencyText(originPeer)}`,
    ratio: origin && originPeer ? ratio(origin.p99, originPeer.p99) : "",
    target: "",
    met: "",
  });
  const cut = bestLatency(rounds, "cascade", "origin", "afterCutMs");
  const cutPeer = bestLatency(rounds, "nginx-rtmp", "origin", "afterCutMs");
  rows.push({
    scenario: s2,
    metric: "origin's own part (after the cutting keyframe)",
    cascade: latencyText(cut),
    peer: `nginx-rtmp ${latencyText(cutPeer)}`,
    ratio: "",
    target: "",
    met: "",
  });
  rows.push({
    scenario: s2,
    metric: "through the edge (deno task edge, via Redis)",
    cascade: latencyText(bestLatency(rounds, "cascade", "edge", "afterLastFrameMs")),
    peer: "",
    ratio: "",
    target: "",
    met: "",
  });
  const after = bestLatency(rounds, "cascade", "edgeAfterOrigin", "afterLastFrameMs");
  rows.push({
    scenario: s2,
    metric: "edge lists segment N after the origin does",
    cascade: latencyText(after),
    peer: "",
    ratio: "",
    target: `p99 ≤ ${TARGET_EDGE_AFTER_ORIGIN_MS} ms`,
    met: after === undefined ? "n/a" : yesNo(after.p99 <= TARGET_EDGE_AFTER_ORIGIN_MS),
  });
  const s3 = "3 first playlist, median";
  rows.push({
    scenario: s3,
    metric: "at the origin",
    cascade: secondsText(bestFirstPlaylist(rounds, "cascade", "origin")),
    peer: `nginx-rtmp ${secondsText(bestFirstPlaylist(rounds, "nginx-rtmp", "origin"))}`,
    ratio: "",
    target: "",
    met: "",
  });
  rows.push({
    scenario: s3,
    metric: "through the edge",
    cascade: secondsText(bestFirstPlaylist(rounds, "cascade", "edge")),
    peer: "",
    ratio: "",
    target: "",
    met: "",
  });
  return rows;
}

function scaleRows(r: Results, rounds: IngestRound[]): Row[] {
  const s6 = `6 at scale, ${r.options.streamsHigh} publishers`;
  const rows = costRows(s6, rounds);
  const drops = roundsOf(rounds, "cascade").map((x) => x.hubDroppedFrames)
    .filter((x): x is number => x !== undefined);
  rows.push({
    scenario: s6,
    metric: "hub frames dropped (every round)",
    cascade: drops.length > 0 ? drops.join(", ") : "n/a",
    peer: "",
    ratio: "",
    target: "0",
    met: drops.length > 0 ? yesNo(drops.every((n) => n === 0)) : "n/a",
  });
  const origin = bestLatency(rounds, "cascade", "origin", "afterLastFrameMs");
  const originPeer = bestLatency(rounds, "nginx-rtmp", "origin", "afterLastFrameMs");
  rows.push({
    scenario: s6,
    metric: "segment latency at the origin, p50 / p99",
    cascade: latencyText(origin),
    peer: `nginx-rtmp ${latencyText(originPeer)}`,
    ratio: origin && originPeer ? ratio(origin.p99, originPeer.p99) : "",
    target: "",
    met: "",
  });
  rows.push({
    scenario: s6,
    metric: "edge lists segment N after the origin does",
    cascade: latencyText(bestLatency(rounds, "cascade", "edgeAfterOrigin", "afterLastFrameMs")),
    peer: "",
    ratio: "",
    target: "",
    met: "",
  });
  rows.push(...registryRow(s6, rounds, r.options.probes));
  return rows;
}

function idleRows(idle: IdleRss[]): Row[] {
  return idle.map((x) => ({
    scenario: "7 idle RSS, no streams",
    metric: x.role,
    cascade: x.privateBytes === undefined
      ? mib(x.rssBytes)
      : `${mib(x.rssBytes)} (private ${mib(x.privateBytes)})`,
    peer: "",
    ratio: "",
    target: x.role === "origin" ? `≤ ${mib(TARGET_ORIGIN_IDLE_RSS)}` : "",
    met: x.role === "origin" ? yesNo(x.rssBytes <= TARGET_ORIGIN_IDLE_RSS) : "",
  }));
}

function edgeRows(runs: ThroughputRun[] | { skipped: string }): Row[] {
  const s4 = "4 edge, cached, 100 conns";
  if (!Array.isArray(runs)) {
    return [{
      scenario: s4,
      metric: "skipped",
      cascade: runs.skipped,
      peer: "",
      ratio: "",
      target: "",
      met: "",
    }];
  }
  const rows: Row[] = [];
  const seg = bestRun(runs, "edge node:http", "segment");
  const segPeer = bestRun(runs, "nginx proxy_cache", "segment");
  if (seg && segPeer) {
    const x = seg.bytesPerSecond / segPeer.bytesPerSecond;
    rows.push({
      scenario: s4,
      metric: "800 KB segment",
      cascade: `${fixed(seg.bytesPerSecond / 1e9, 2)} GB/s, ${
        fixed(seg.requestsPerSecond / 1000, 1)
      } k req/s`,
      peer: `nginx proxy_cache ${fixed(segPeer.bytesPerSecond / 1e9, 2)} GB/s, ${
        fixed(segPeer.requestsPerSecond / 1000, 1)
      } k req/s`,
      ratio: `${fixed(x, 2)}×`,
      target: "≥ 0.8×",
      met: yesNo(x >= 0.8),
    });
  }
  const bare = bestRun(runs, "bare node:http", "segment");
  if (bare && segPeer) {
    rows.push({
      scenario: s4,
      metric: "800 KB segment, bare node:http (ceiling)",
      cascade: `${fixed(bare.bytesPerSecond / 1e9, 2)} GB/s`,
      peer: "",
      ratio: ratio(bare.bytesPerSecond, segPeer.bytesPerSecond),
      target: "",
      met: "",
    });
  }
  const list = bestRun(runs, "edge node:http", "playlist");
  const listPeer = bestRun(runs, "nginx proxy_cache", "playlist");
  if (list && listPeer) {
    rows.push({
      scenario: s4,
      metric: "playlist",
      cascade: `${fixed(list.requestsPerSecond / 1000, 1)} k req/s`,
      peer: `nginx proxy_cache ${fixed(listPeer.requestsPerSecond / 1000, 1)} k req/s`,
      ratio: ratio(list.requestsPerSecond, listPeer.requestsPerSecond),
      target: "",
      met: "",
    });
  }
  return rows;
}

function stampedeRows(r: Results, rounds: StampedeRound[]): Row[] {
  const of = (server: StampedeServer) => rounds.filter((x) => x.server === server);
  const s5 = `5 stampede, ${r.options.viewers} viewers`;
  const fetches = (server: StampedeServer) => of(server).map((x) => x.originFetches);
  const best = (server: StampedeServer) => minBy(of(server), (x) => x.timeToLastByteMs.p99);
  const cascade = best("cascade");
  const nginx = best("nginx");
  const cascadeFetches = fetches("cascade");
  return [
    {
      scenario: s5,
      metric: "origin fetches (every round)",
      cascade: cascadeFetches.join(", "),
      peer: `nginx ${fetches("nginx").join(", ")}`,
      ratio: "",
      target: "exactly 1",
      met: yesNo(cascadeFetches.length > 0 && cascadeFetches.every((n) => n === 1)),
    },
    {
      scenario: s5,
      metric: "time to last byte, p50 / p99",
      cascade: cascade
        ? `${ms(cascade.timeToLastByteMs.p50)} / ${ms(cascade.timeToLastByteMs.p99)} ms`
        : "n/a",
      peer: nginx
        ? `nginx ${ms(nginx.timeToLastByteMs.p50)} / ${ms(nginx.timeToLastByteMs.p99)} ms`
        : "n/a",
      ratio: cascade && nginx
        ? ratio(cascade.timeToLastByteMs.p99, nginx.timeToLastByteMs.p99)
        : "",
      target: "",
      met: "",
    },
  ];
}

function allInOneRows(run: AllInOneRun): Row[] {
  const s8 =
    `8 all-in-one, ${run.publishers} publishers × ${run.viewers} viewers, ${run.seconds} s`;
  const after = `after the first ${fixed(run.settleSeconds, 0)} s`;
  const v = run.viewing;
  return [
    {
      scenario: s8,
      metric: `RSS ${after}, mean (max of the run)`,
      cascade: `${mib(run.rssSettledBytes)} (max ${mib(run.rssMaxBytes)})`,
      peer: "",
      ratio: "",
      target: `≤ ${fixed(TARGET_AIO_RSS / 1e6, 0)} MB (${fixed(TARGET_AIO_RSS / MIB, 0)} MiB)`,
      met: Number.isFinite(run.rssSettledBytes)
        ? yesNo(run.rssSettledBytes <= TARGET_AIO_RSS)
        : "n/a",
    },
    {
      scenario: s8,
      metric: `RSS slope ${after}, least squares`,
      cascade: `${run.slopeBytesPerMinute >= 0 ? "+" : ""}${
        fixed(run.slopeBytesPerMinute / MIB, 2)
      } MiB/min`,
      peer: "",
      ratio: "",
      target: `|slope| ≤ ${fixed(TARGET_AIO_SLOPE / MIB, 0)} MiB/min`,
      met: Number.isFinite(run.slopeBytesPerMinute)
        ? yesNo(Math.abs(run.slopeBytesPerMinute) <= TARGET_AIO_SLOPE)
        : "n/a",
    },
    {
      scenario: s8,
      metric: "viewers: segments fetched, bytes, errors",
      cascade: `${v.segments}, ${fixed(v.bytes / 1e6, 0)} MB, ${v.errors} errors` +
        (v.errors === 0
          ? ""
          : ` (${Object.entries(v.errorKinds ?? {}).map(([k, n]) => `${k} ×${n}`).join(", ")})`) +
        (run.publishersLost > 0 ? `; ${run.publishersLost} publisher(s) LOST` : ""),
      peer: "",
      ratio: "",
      target: "0 errors",
      met: yesNo(v.errors === 0 && run.publishersLost === 0),
    },
  ];
}

/** The rows of the side-by-side table for whatever scenarios ran. */
export function tableRows(r: Results): Row[] {
  return [
    ...(r.ingest ? ingestRows(r, r.ingest) : []),
    ...(r.edgeThroughput ? edgeRows(r.edgeThroughput) : []),
    ...(r.stampede ? stampedeRows(r, r.stampede) : []),
    ...(r.scale ? scaleRows(r, r.scale) : []),
    ...(r.idle ? idleRows(r.idle) : []),
    ...(r.allInOne ? allInOneRows(r.allInOne) : []),
    ...(r.playerLatency ? latencyRows(r.playerLatency) : []),
    ...(r.thumbnails ? thumbnailRows(r.thumbnails) : []),
    ...(r.transcode ? transcodeRows(r.transcode) : []),
  ];
}

function thumbnailRows(t: ThumbnailBench): Row[] {
  const row = (metric: string, perStream: number, run: ThumbnailRun): Row => ({
    scenario: "",
    metric,
    cascade: `${fixed(perStream, 2)} % of a core (${fixed(t.off.cpuPercent, 1)} % → ` +
      `${fixed(run.cpuPercent, 1)} %, ${run.thumbnails} pictures in ${fixed(run.seconds, 0)} s)`,
    peer: "",
    ratio: "",
    target: "",
    met: "",
  });
  return [
    {
      ...row(
        `CPU per stream, every picture asked for every ${t.on.thumbnailSeconds} s (on − off)`,
        t.cpuPercentPerStream,
        t.on,
      ),
      scenario: `11 ${t.on.streams} publishers, thumbnails`,
    },
    row("CPU per stream, nobody asking (on − off)", t.cpuPercentPerStreamUnwatched, t.unwatched),
  ];
}

function transcodeRows(runs: TranscodeRun[]): Row[] {
  const s10 = "10 transcoder, one rung of the 720p clip";
  const base = runs.find((x) => x.rung === "none");
  return runs.filter((x) => x.rung !== "none").map((x) => ({
    scenario: s10,
    metric: `${x.rung}: ffmpeg, % of a core (origin's own added)`,
    cascade: `${fixed(x.ffmpegCpuPercent ?? NaN, 1)} %` +
      (base ? ` (+${fixed(x.originCpuPercent - base.originCpuPercent, 2)} %)` : "") +
      (x.restarts > 0 ? `; ${x.restarts} restart(s)` : ""),
    peer: "",
    ratio: "",
    target: "",
    met: "",
  }));
}

const SETUP_LABELS: Record<LatencySetup, string> = {
  "cascade-ll": "Cascade LL-HLS (HLS_LL=true, ll.m3u8, lowLatencyMode) through the edge",
  "cascade-ts": "Cascade HLS (index.m3u8) through the edge",
  "nginx-rtmp": "nginx-rtmp HLS",
};

function latencyRows(runs: PlayerLatency[]): Row[] {
  const s9 = "9 hls.js behind live, p50 / p95";
  const pair = (x: { p50: number; p95: number } | null) =>
    x === null ? "n/a" : `${fixed(x.p50, 2)} / ${fixed(x.p95, 2)} s`;
  const nginx = runs.find((x) => x.setup === "nginx-rtmp");
  const viewers = runs.find((x) => x.llViewers !== undefined)?.llViewers;
  const viewerRows: Row[] = viewers === undefined ? [] : [{
    scenario: `9 ${viewers.viewers} LL viewers, one stream`,
    metric: "origin requests per part (parts; blocking reloads per part)",
    cascade: `${fixed(viewers.originPartRequestsPerPart, 2)} (${viewers.parts} parts; ` +
      `${fixed(viewers.originBlockingRequestsPerPart, 2)} blocking reloads per part)`,
    peer: "",
    ratio: "",
    target: "1 per part",
    met: yesNo(viewers.parts > 0 && viewers.originPartRequestsPerPart <= 1.1),
  }];
  return [
    ...runs.map((run) => {
      const ll = run.setup === "cascade-ll";
      const pdt = run.pdtLatency;
      return {
        scenario: s9,
        metric: SETUP_LABELS[run.setup],
        cascade: run.error !== undefined
          ? `failed: ${run.error}`
          : `hls.latency ${pair(run.hlsLatency)}; wall clock − PDT ${pair(pdt)}` +
            (run.fatalErrors > 0 ? `; ${run.fatalErrors} fatal errors` : ""),
        peer: run.setup === "nginx-rtmp" || !nginx?.hlsLatency
          ? ""
          : `nginx-rtmp hls.latency ${pair(nginx.hlsLatency)}`,
        ratio: "",
        target: ll ? "p50 ≤ 1.5 s (wall clock − PDT)" : "",
        met: ll ? yesNo(pdt !== null && pdt.p50 <= 1.5 && run.fatalErrors === 0) : "",
      };
    }),
    ...viewerRows,
  ];
}

const HEADERS: Row = {
  scenario: "scenario",
  metric: "metric",
  cascade: "Cascade",
  peer: "peer",
  ratio: "ratio",
  target: "target",
  met: "met",
};
const COLUMNS = Object.keys(HEADERS) as (keyof Row)[];

function machineLine(r: Results): string {
  const m = r.machine;
  return `${m.nproc} × ${m.cpuModel}, ${
    fixed(m.memoryBytes / 1024 ** 3, 1)
  } GiB, Linux ${m.kernel}, ` +
    `Deno ${m.deno}, nginx ${m.nginx ?? "—"}, ffmpeg ${m.ffmpeg ?? "—"}, wrk ${m.wrk ?? "—"}`;
}

/** What else ran on the machine during the ingest windows (publishers included). */
function noiseLine(r: Results): string {
  const rounds = [...r.ingest ?? [], ...r.scale ?? []];
  if (rounds.length === 0) return `load average at start ${fixed(r.machine.loadAverage, 2)}`;
  const busy = rounds.map((x) => `${x.server} ×${x.streams} ${Math.round(x.machineBusy * 100)} %`)
    .join(", ");
  return `all cores busy during the ingest windows (publishers and other work included): ${busy}; ` +
    `load average at start ${fixed(r.machine.loadAverage, 2)}`;
}

/** How each figure was taken, one line per scenario that ran. */
function legend(r: Results): string[] {
  const o = r.options;
  const lines: string[] = [];
  const clip = r.clip ? `${r.clip.size} ${r.clip.fps} fps` : "";
  if (r.ingest) {
    lines.push(
      `1: ${o.streams} × ffmpeg -re -stream_loop -1 -c copy of one ${clip} H.264+AAC clip, started ` +
        `over 2 s; server process user+sys CPU from /proc over ${o.windowSeconds} s once every ` +
        "stream has a playlist; RSS = (mean RSS in the window − RSS before publishing) / streams. " +
        "Cascade: `deno task origin` with a redis-server, PUBLISH_AUTH=static (generated keys), " +
        "other settings at their defaults, and `deno task edge` in front. nginx-rtmp: one " +
        "process, hls_fragment 2s, hls_playlist_length 12s. Registry messages: what a " +
        "subscriber to the channels of an edge serving the probes (each one's events:{name} and " +
        "expiries) receives during the window. Bare " +
        "packager: bench/origin_process.ts, no registry, RECORD=none. Watcher: " +
        "`deno task discovery` on nginx-rtmp's hls_path, its CPU over the same window.",
      `2: every segment of ${o.probes} publishers relayed through a tap that stamps each frame as ` +
        "it leaves: time from the segment's last video frame leaving to the first playlist listing " +
        "it, on the origin's disk (inotify) or served by the edge (polled every 10 ms); and per " +
        "segment the edge's first listing minus the origin's. Includes the one frame interval a " +
        "keyframe cut has to wait; the origin's own part starts when the keyframe that ended the " +
        "segment left.",
      "3: from the publisher's TCP connect to the first playlist listing a segment; 2 s of media " +
        "must arrive first.",
    );
  }
  if (Array.isArray(r.edgeThroughput)) {
    lines.push(
      `4: edge/bench/edge_bench.ts, wrk -t1 -c100, ${o.edgeSeconds} s per run after a warm-up; ` +
        "Cascade edge on node:http vs nginx proxy_cache (one process, sendfile).",
    );
  }
  if (r.stampede) {
    lines.push(
      `5: ${o.viewers} connections opened beforehand ask at once for an 800 KB segment never ` +
        `asked for before; the origin answers after ${o.stampedeOriginDelayMs} ms. Time to last ` +
        "byte per viewer; Cascade edge on node:http vs nginx proxy_cache_lock.",
    );
  }
  if (r.scale) {
    lines.push(
      `6: as 1 and 2 with ${o.streamsHigh} publishers (Cascade as shipped and nginx-rtmp alone); ` +
        "hub frames dropped = cascade_hub_dropped_frames_total from the origin's /metrics at " +
        "the end of the window.",
    );
  }
  if (r.idle) {
    lines.push(
      "7: each role started alone beside a redis-server as `deno task {role}` runs it, with no " +
        "streams; median of RSS readings every 0.5 s after it is ready; private = RssAnon, the " +
        "RSS without the Deno binary's and libraries' pages, which processes share.",
    );
  }
  if (r.allInOne) {
    const a = r.allInOne;
    lines.push(
      `8: \`deno run -A node/all_in_one.ts\` (\`deno task start\`) from an empty temporary ` +
        "directory, HOST=127.0.0.1, random PORT and RTMP_PORT, PUBLISH_KEYS with " +
        `${a.publishers} generated keys, nothing else set; ${a.publishers} × ffmpeg -re ` +
        `-stream_loop -1 -c copy of the ${clip} clip; ${a.viewers} viewers in the bench ` +
        "process, each polling its stream's playlist on the node's port every second and " +
        "fetching every segment it has not fetched yet, whole. RSS (/proc VmRSS) every 5 s for " +
        `${a.seconds} s from the moment every playlist answers; level = mean of the samples ` +
        `after the first ${fixed(a.settleSeconds, 0)} s, slope = least-squares line through ` +
        "them.",
    );
  }
  if (r.transcode) {
    lines.push(
      "10: `deno task origin` with a redis-server (PUBLISH_AUTH=static, other settings at " +
        "their defaults but TRANSCODE_PROFILE one rung: libx264 veryfast zerolatency, audio " +
        "copied), one ffmpeg -re -stream_loop -1 -c copy publisher of the clip; CPU of the " +
        "rung's ffmpeg child from /proc over the window; in brackets what the origin process " +
        "used beyond the baseline run without renditions.",
    );
  }
  if (r.playerLatency) {
    lines.push(
      "9: one ffmpeg -re -c copy publisher of the clip per setup, started fresh: `deno task " +
        "origin` + `deno task edge` (Redis) for Cascade, nginx-rtmp's files served by a static " +
        "file server for nginx-rtmp; hls.js (the build Cascade ships) in headless Chromium, " +
        "defaults except lowLatencyMode for ll.m3u8; sampled every second once playback " +
        "advanced 2 s. hls.latency is hls.js's own estimate of its distance behind the live " +
        "edge (same method for all); wall clock − PDT is measured against Cascade's " +
        "PROGRAM-DATE-TIME, the ingest wall clock (nginx-rtmp writes none).",
    );
  }
  return lines;
}

/** Rows with the scenario named only on the first row of its group. */
function grouped(rows: Row[]): Row[] {
  return rows.map((row, i) =>
    i > 0 && rows[i - 1]!.scenario === row.scenario ? { ...row, scenario: "" } : row
  );
}

/** The table for a terminal: padded columns, a scenario named once per group. */
export function renderText(r: Results): string {
  const rows = [HEADERS, ...grouped(r.table)];
  const width = (c: keyof Row) => Math.max(...rows.map((row) => [...row[c]].length));
  const widths = COLUMNS.map(width);
  const line = (row: Row) =>
    COLUMNS.map((c, i) => row[c] + " ".repeat(widths[i]! - [...row[c]].length)).join("  ")
      .trimEnd();
  return [
    `Cascade benchmark, ${r.finishedAt}${
      r.options.quick ? " (--quick: a smoke run, not figures)" : ""
    }`,
    machineLine(r),
    noiseLine(r),
    `best of ${r.options.rounds} round(s) per figure; every round is in bench/results/latest.json`,
    ...(r.options.originFlags.length > 0
      ? [`the Cascade origin ran with ${r.options.originFlags.join(" ")}`]
      : []),
    "",
    ...rows.map(line),
    "",
    ...legend(r),
  ].join("\n");
}

/** The same table in Markdown, for the README's performance section. */
export function renderMarkdown(r: Results): string {
  const cell = (s: string) => s.replaceAll("|", "\\|");
  return [
    `Measured ${r.finishedAt.slice(0, 10)} on ${machineLine(r)}; ${noiseLine(r)}. ` +
    `Best of ${r.options.rounds} round(s) per figure.` +
    (r.options.originFlags.length > 0
      ? ` The Cascade origin ran with \`${r.options.originFlags.join(" ")}\`.`
      : ""),
    "",
    `| ${COLUMNS.map((c) => HEADERS[c]).join(" | ")} |`,
    `| ${COLUMNS.map(() => "---").join(" | ")} |`,
    ...grouped(r.table).map((row) => `| ${COLUMNS.map((c) => cell(row[c])).join(" | ")} |`),
    "",
    ...legend(r).map((l) => `- ${l}`),
    "",
  ].join("\n");
}
