/**
 * The soak's results as their own document (`bench/results/soak.json`) and table
 * (`bench/results/soak.md`, for the README's performance section): the soak runs for minutes
 * and only on request (`--only soak`), so it neither waits on nor overwrites the default run's
 * `latest.{json,md}`.
 */
import { leastSquaresSlope } from "./all_in_one.ts";
import type { MachineInfo } from "./proc.ts";
import type { RssSeries, SoakRole, SoakRun } from "./soak.ts";

export interface SoakResults {
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  clip: { size: string; fps: number; bitsPerSecond: number; seconds: number } | undefined;
  options: { publishers: number; viewers: number; minutes: number };
  run: SoakRun | undefined;
  errors: string[];
}

const MIB = 1024 * 1024;
const fixed = (v: number, digits: number) => (Number.isFinite(v) ? v.toFixed(digits) : "n/a");
const mib = (bytes: number) => `${fixed(bytes / MIB, 0)} MiB`;
const yesNo = (ok: boolean) => (ok ? "yes" : "no");

const ROLE_LABELS: Record<SoakRole, string> = {
  origins: "origins (2 × deno task origin)",
  edges: "edges (2 × deno task edge)",
  redis: "redis-server",
  publishers: "publishers (ffmpeg -c copy, all)",
  viewers: "viewers (2 load-generator processes)",
};

/** The first minute is the warm-up (2,000 connections open, caches fill); shorter runs: half. */
const SETTLE_SECONDS = 60;
/** "Flat", as for the all-in-one: no more drift per minute than this after the warm-up. */
const TARGET_RSS_SLOPE = 5 * MIB;

interface RssSummary {
  /** Before the viewers joined. */
  before: number;
  /** First sample after the warm-up, and the last. */
  settled: number;
  end: number;
  max: number;
  /** Least-squares slope of the samples after the warm-up, bytes per minute. */
  slopePerMinute: number;
}

function rssSummaries(series: RssSeries[], seconds: number): RssSummary[] {
  const settle = Math.min(SETTLE_SECONDS, seconds / 2);
  const after = series.filter((s) => s.t >= settle);
  return (series[0]?.bytes ?? []).map((before, i) => {
    const samples = after.map((s) => ({ t: s.t, bytes: s.bytes[i]! }));
    return {
      before,
      settled: samples[0]?.bytes ?? NaN,
      end: samples.at(-1)?.bytes ?? NaN,
      max: Math.max(...series.map((s) => s.bytes[i]!)),
      slopePerMinute: leastSquaresSlope(samples) * 60,
    };
  });
}

function rssText(summaries: RssSummary[]): string {
  return summaries.map((x) =>
    `${mib(x.before)} idle, ${mib(x.settled)} → ${mib(x.end)} (max ${mib(x.max)}), ` +
    `${x.slopePerMinute >= 0 ? "+" : ""}${fixed(x.slopePerMinute / MIB, 1)} MiB/min`
  ).join("; ");
}

function kindsText(kinds: Record<string, number>): string {
  const entries = Object.entries(kinds).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? "" : ` (${entries.map(([k, n]) => `${k} ×${n}`).join(", ")})`;
}

type Row = [metric: string, value: string, target: string, met: string];

function rows(r: SoakResults, run: SoakRun): Row[] {
  const minutes = run.seconds / 60;
  const segments = run.viewing.reduce((a, v) => a + v.segments, 0);
  const bytes = run.viewing.reduce((a, v) => a + v.bytes, 0);
  const perSegment = run.edges.map((e) => fixed(e.perSegment, 2)).join(", ");
  const playlistRate = run.edges.map((e) =>
    fixed((e.byKind.playlist ?? 0) / run.publishers / run.seconds, 2)
  ).join(", ");
  const steady = run.viewing.map((v) =>
    `${fixed(v.segmentMs.steady.p50, 0)} / ${fixed(v.segmentMs.steady.p99, 0)}`
  ).join(", ");
  const join = run.viewing.map((v) =>
    `${fixed(v.segmentMs.join.p50, 0)} / ${fixed(v.segmentMs.join.p99, 0)}`
  ).join(", ");
  const edgeRss = rssSummaries(run.rss.edges, run.seconds);
  const settle = fixed(Math.min(SETTLE_SECONDS, run.seconds / 2), 0);
  const originErrors: Record<string, number> = {};
  for (const e of run.edges) {
    for (const [k, n] of Object.entries(e.originErrors)) {
      originErrors[k] = (originErrors[k] ?? 0) + n;
    }
  }
  const originErrorCount = Object.values(originErrors).reduce((a, b) => a + b, 0);
  const lag = run.viewing.map((v) =>
    `${fixed(v.timerLagMs.p99, 0)} / ${fixed(v.timerLagMs.max, 0)}`
  )
    .join(", ");
  const clip = r.clip
    ? `${r.clip.size} ${r.clip.fps} fps, ${fixed(r.clip.bitsPerSecond / 1000, 0)} kbit/s`
    : "clip";
  return [
    [
      "run",
      `${fixed(minutes, 1)} min; ${run.publishers} publishers (${clip}) into 2 origins, ` +
      `${run.viewers} viewers through 2 edges`,
      "",
      "",
    ],
    ["viewer errors", `${run.errors}${kindsText(run.errorKinds)}`, "0", yesNo(run.errors === 0)],
    [
      "segments listed but not served",
      `${run.listedNotServed}`,
      "0",
      yesNo(run.listedNotServed === 0),
    ],
    [
      "origin requests per segment, per edge",
      `${perSegment} (${
        run.edges.map((e) => `${e.byKind.segment ?? 0} for ${e.distinctSegments}`).join(", ")
      })`,
      "1",
      yesNo(run.edges.every((e) => Number(fixed(e.perSegment, 2)) <= 1)),
    ],
    ["origin playlist requests per stream per second, per edge", playlistRate, "", ""],
    ["edges' failed origin fetches", `${originErrorCount}${kindsText(originErrors)}`, "", ""],
    [
      `edge RSS: idle, after ${settle} s → end (max), slope after ${settle} s`,
      rssText(edgeRss),
      "|slope| ≤ 5 MiB/min",
      yesNo(edgeRss.every((x) => Math.abs(x.slopePerMinute) <= TARGET_RSS_SLOPE)),
    ],
    [
      `origin RSS: idle, after ${settle} s → end (max), slope after ${settle} s`,
      rssText(rssSummaries(run.rss.origins, run.seconds)),
      "",
      "",
    ],
    ...(Object.keys(ROLE_LABELS) as SoakRole[]).map((role): Row => [
      `CPU, ${ROLE_LABELS[role]}`,
      `${fixed(run.cpuPercent[role], 1)} % of a core`,
      "",
      "",
    ]),
    ["all cores busy (everything on the machine)", `${fixed(run.machineBusy * 100, 0)} %`, "", ""],
    [
      "viewers: segments fetched, bytes",
      `${segments}, ${fixed(bytes / 1e9, 2)} GB`,
      "",
      "",
    ],
    ["segment time to last byte p50 / p99, per edge, after joining", `${steady} ms`, "", ""],
    ["the same for the 3 segments each viewer fetches on joining", `${join} ms`, "", ""],
    ["load generator's own timer lag p99 / max, per process", `${lag} ms`, "", ""],
    ["publishers lost", `${run.publishersLost}`, "0", yesNo(run.publishersLost === 0)],
  ];
}

function machineLine(r: SoakResults): string {
  const m = r.machine;
  return `${m.nproc} × ${m.cpuModel}, ${fixed(m.memoryBytes / 1024 ** 3, 1)} GiB, ` +
    `Linux ${m.kernel}, Deno ${m.deno}, ffmpeg ${m.ffmpeg ?? "—"}`;
}

function method(r: SoakResults): string {
  return "A redis-server, 2 × `deno task origin` and 2 × `deno task edge` as shipped " +
    "(PUBLISH_AUTH=static with generated keys, everything else at its default); publishers " +
    "`ffmpeg -re -stream_loop -1 -c copy` of the clip, alternating between the origins; " +
    "viewers in 2 processes (`bench/soak_viewers.ts`, one per edge), each viewer on stream " +
    "i mod N, starting with the last 3 segments listed, then polling its playlist once per " +
    "target duration and fetching each newly listed segment once, whole. Listed but not " +
    "served: a segment a viewer saw listed and then got an error or a non-2xx for. Origin " +
    "requests per segment: the edge's cascade_edge_origin_requests_total{kind=segment} over " +
    "the window / different segments its viewers fetched. CPU: user+sys from /proc over the " +
    "window. RSS (VmRSS) every 30 s from just before the viewers join; the first minute " +
    `(half of shorter runs) is the warm-up. Started ${r.startedAt}.`;
}

/** The soak's table for a terminal. */
export function renderSoakText(r: SoakResults): string {
  if (r.run === undefined) return `Cascade soak, ${r.finishedAt}: no figures`;
  const all = rows(r, r.run);
  const width = (i: number) => Math.max(...all.map((row) => [...row[i]!].length));
  const widths = [0, 1, 2, 3].map(width);
  return [
    `Cascade soak, ${r.finishedAt}`,
    machineLine(r),
    "",
    ...all.map((row) =>
      row.map((c, i) => c + " ".repeat(widths[i]! - [...c].length)).join("  ").trimEnd()
    ),
  ].join("\n");
}

/** The soak's table in Markdown. */
export function renderSoakMarkdown(r: SoakResults): string {
  const cell = (s: string) => s.replaceAll("|", "\\|");
  const lines = [`Measured ${r.finishedAt.slice(0, 10)} on ${machineLine(r)}.`, ""];
  if (r.run !== undefined) {
    lines.push(
      "| metric | value | target | met |",
      "| --- | --- | --- | --- |",
      ...rows(r, r.run).map((row) => `| ${row.map(cell).join(" | ")} |`),
      "",
      "Edge RSS per sample (s: edge 1, edge 2): " +
        r.run.rss.edges.map((s) =>
          `${fixed(s.t, 0)} s: ${s.bytes.map((b) => fixed(b / MIB, 0)).join(", ")}`
        ).join("; ") + " MiB.",
      "",
    );
  }
  lines.push(method(r), "", ...r.errors.map((e) => `- ${e}`), "");
  return lines.join("\n");
}
