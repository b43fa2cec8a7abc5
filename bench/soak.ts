/**
 * The soak (issue 18): a cluster as operators run it, under a steady audience for minutes.
 * A redis-server, two `deno task origin` and two `deno task edge` (`roles.ts`, default
 * settings), publishers split evenly between the origins (`ffmpeg -re -stream_loop -1 -c copy`
 * of one clip, so 100 of them fit on two cores), and viewers split evenly between the edges,
 * each edge's viewers in one process of their own (`soak_viewers.ts`) spread over every
 * stream. What it reports is what an operator would watch: errors by kind, segments a viewer
 * saw listed and could not get (must be 0), how many origin requests each segment cost an edge
 * (`cascade_edge_origin_requests_total` from the edges' `/metrics`, over the viewing window),
 * edge and origin RSS every 30 s from just before the viewers join, and CPU per role (origins, edges, Redis, the publishers and
 * the viewer processes apart) from `/proc` over the viewing window.
 */
import { fileURLToPath } from "node:url";
import { LIVE_PLAYLIST } from "@cascade/media/hls/layout";
import { publish } from "../tests/helpers/media.ts";
import { startProcess, type TestProcess } from "../tests/helpers/process.ts";
import { startRedis } from "../tests/helpers/redis.ts";
import { delay, waitFor } from "../tests/helpers/wait.ts";
import { counterTotal } from "./ingest.ts";
import { cpuSeconds, machineTicks, rssBytes } from "./proc.ts";
import {
  generatePublishKeys,
  type OriginProcess,
  type RoleProcess,
  startEdgeRole,
  startOriginRole,
} from "./roles.ts";
import type { SoakViewerTotals } from "./soak_viewers.ts";

const VIEWERS_MODULE = fileURLToPath(new URL("./soak_viewers.ts", import.meta.url));
const ORIGINS = 2;
const EDGES = 2;
const RSS_SAMPLE_MS = 30_000;
/** Publishers start spread over one segment duration, as independent encoders would. */
const STAGGER_MS = 2000;

export interface SoakOptions {
  /** FLV clip the publishers loop with `-c copy`. */
  clip: string;
  publishers: number;
  viewers: number;
  minutes: number;
}

/** Role processes whose CPU is reported, one or several processes each. */
export type SoakRole = "origins" | "edges" | "redis" | "publishers" | "viewers";

export interface RssSeries {
  /** Seconds since the viewers started. */
  t: number;
  /** One reading per process of the role, in start order. */
  bytes: number[];
}

export interface EdgeOriginRequests {
  /** Requests this edge sent its origins during the window, by file kind. */
  byKind: Record<string, number>;
  /** Its viewers' different segments in the window (each one the edge had to fetch). */
  distinctSegments: number;
  /** Segment requests to origins / different segments viewed: 1 when nothing is fetched twice. */
  perSegment: number;
  /** Origin fetches that produced nothing servable, by reason. */
  originErrors: Record<string, number>;
  /** The edge's own count of answers by status over the window. */
  responsesByStatus: Record<string, number>;
}

export interface SoakRun {
  publishers: number;
  viewers: number;
  /** The viewing window, as measured. */
  seconds: number;
  /** Each edge's viewer process's totals. */
  viewing: SoakViewerTotals[];
  errors: number;
  errorKinds: Record<string, number>;
  listedNotServed: number;
  edges: EdgeOriginRequests[];
  /** CPU per role in % of one core over the window, all of its processes together. */
  cpuPercent: Record<SoakRole, number>;
  /** Share of all cores busy with anything during the window, 0..1. */
  machineBusy: number;
  rss: { edges: RssSeries[]; origins: RssSeries[] };
  publishersLost: number;
}

/** A counter's series by one label, e.g. `{segment: 120, playlist: 3000}`. */
function byLabel(text: string, name: string, label: string): Record<string, number> {
  const re = new RegExp(`^${name}\\{[^}]*${label}="([^"]*)"[^}]*\\} (\\S+)$`, "gm");
  const out: Record<string, number> = {};
  for (const m of text.matchAll(re)) out[m[1]!] = (out[m[1]!] ?? 0) + Number(m[2]);
  return out;
}

function minus(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, v - (b[k] ?? 0)]));
}

interface EdgeCounters {
  originRequests: Record<string, number>;
  originErrors: Record<string, number>;
  responses: Record<string, number>;
}

async function edgeCounters(url: string): Promise<EdgeCounters> {
  const res = await fetch(`${url}/metrics`);
  if (!res.ok) throw new Error(`${url}/metrics answered ${res.status}`);
  const text = await res.text();
  if (counterTotal(text, "cascade_edge_origin_requests_total") === undefined) {
    throw new Error(`${url}/metrics has no cascade_edge_origin_requests_total`);
  }
  return {
    originRequests: byLabel(text, "cascade_edge_origin_requests_total", "kind"),
    originErrors: byLabel(text, "cascade_edge_origin_errors_total", "reason"),
    responses: byLabel(text, "cascade_edge_requests_total", "status"),
  };
}

/** Whether `url` answers with a playlist that lists a segment. */
async function listsASegment(url: string): Promise<boolean> {
  const res = await fetch(url);
  const text = await res.text();
  return res.ok && text.includes("#EXTINF");
}

/** CPU seconds of a set of processes, summed; a process gone is counted as nothing more. */
async function cpuOf(pids: readonly number[]): Promise<number> {
  const each = await Promise.all(pids.map((pid) => cpuSeconds(pid).catch(() => 0)));
  return each.reduce((a, b) => a + b, 0);
}

/** Throws, naming the role and how it ended, when a role's process has exited. */
function stillRunning(x: RoleProcess): void {
  if (!x.proc.exited) return;
  // A graceful shutdown logs the signal that started it; another process may have sent it.
  const signal = /shutdown\.start[^\n]*/.exec(x.proc.output)?.[0] ?? "no shutdown.start logged";
  throw new Error(
    `${x.role} on port ${x.port} (pid ${x.pid}) exited during the soak (${signal}); output:\n` +
      x.proc.output.slice(-1000),
  );
}

/** One soak; see the module comment. */
export async function runSoak(o: SoakOptions): Promise<SoakRun> {
  await using stack = new AsyncDisposableStack();
  const scratch = await Deno.makeTempDir({ prefix: "cascade-bench-soak-" });
  stack.defer(async () => await Deno.remove(scratch, { recursive: true }).catch(() => {}));
  const names = Array.from(
    { length: o.publishers },
    (_, i) => `s${String(i + 1).padStart(3, "0")}`,
  );
  const keys = generatePublishKeys(names);
  const redis = stack.use(await startRedis());
  const origins: OriginProcess[] = [];
  for (let i = 0; i < ORIGINS; i++) {
    const origin = await startOriginRole({
      redisUrl: redis.url,
      mediaRoot: `${scratch}/media${i}`,
      recordDir: `${scratch}/record${i}`,
      keys,
    });
    stack.defer(origin.stop);
    origins.push(origin);
  }
  const edges: (RoleProcess & { url: string })[] = [];
  for (let i = 0; i < EDGES; i++) {
    const edge = await startEdgeRole(redis.url);
    stack.defer(edge.stop);
    edges.push(edge);
  }

  const publishers: TestProcess[] = [];
  stack.defer(async () => void await Promise.all(publishers.map((p) => p.stop())));
  for (const [i, name] of names.entries()) {
    const origin = origins[i % ORIGINS]!;
    publishers.push(
      publish(`rtmp://127.0.0.1:${origin.rtmpPort}/live/${keys.get(name)}`, { clip: o.clip }),
    );
    await delay(STAGGER_MS / names.length);
  }
  await waitFor(`a playlist for each of ${names.length} streams through both edges`, async () => {
    const lost = publishers.find((p) => p.exited);
    if (lost) throw new Error(`A publisher exited: ${lost.output.slice(-500)}`);
    for (const name of names) {
      for (const edge of edges) {
        if (!(await listsASegment(`${edge.url}/live/${name}/${LIVE_PLAYLIST}`))) return false;
      }
    }
    return true;
  }, { timeoutMs: 60_000 + names.length * 300, intervalMs: 500 });

  const seconds = o.minutes * 60;
  const before = await Promise.all(edges.map((e) => edgeCounters(e.url)));
  const viewerProcs: TestProcess[] = [];
  for (const [i, edge] of edges.entries()) {
    const share = Math.floor(o.viewers / EDGES) + (i < o.viewers % EDGES ? 1 : 0);
    const proc = await startProcess(Deno.execPath(), {
      args: [
        "run",
        "-A",
        VIEWERS_MODULE,
        "--edge",
        edge.url,
        "--names",
        names.join(","),
        "--viewers",
        String(share),
        "--seconds",
        String(seconds),
      ],
    });
    stack.defer(async () => void await proc.stop());
    viewerProcs.push(proc);
  }
  // The viewer processes have exited when the window ends; they report their own CPU time.
  const pids: Record<Exclude<SoakRole, "viewers">, number[]> = {
    origins: origins.map((x) => x.pid),
    edges: edges.map((x) => x.pid),
    redis: [redis.process!.child.pid],
    publishers: publishers.map((p) => p.child.pid),
  };
  const roles = Object.keys(pids) as (keyof typeof pids)[];
  const cpu0 = await Promise.all(roles.map((r) => cpuOf(pids[r])));
  const machine0 = await machineTicks();
  const t0 = performance.now();
  const rss: SoakRun["rss"] = { edges: [], origins: [] };
  const sampleRss = async () => {
    const t = (performance.now() - t0) / 1000;
    rss.edges.push({ t, bytes: await Promise.all(pids.edges.map(rssBytes)) });
    rss.origins.push({ t, bytes: await Promise.all(pids.origins.map(rssBytes)) });
  };
  await sampleRss();
  const finished = Promise.all(viewerProcs.map((p) => p.status));
  let done = false;
  void finished.then(() => done = true);
  for (let next = RSS_SAMPLE_MS; !done; next += RSS_SAMPLE_MS) {
    await Promise.race([finished, delay(Math.max(0, next - (performance.now() - t0)))]);
    for (const x of [...origins, ...edges]) stillRunning(x);
    if (!done) await sampleRss();
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = await Promise.all(roles.map((r) => cpuOf(pids[r])));
  const machine1 = await machineTicks();
  await sampleRss();
  const after = await Promise.all(edges.map((e) => edgeCounters(e.url)));

  const viewing = viewerProcs.map((p, i) => {
    const line = p.output.trim().split("\n").at(-1) ?? "";
    try {
      return JSON.parse(line) as SoakViewerTotals;
    } catch {
      throw new Error(`Viewers of edge ${i + 1} printed no totals:\n${p.output.slice(-2000)}`);
    }
  });
  const errorKinds: Record<string, number> = {};
  for (const v of viewing) {
    for (const [k, n] of Object.entries(v.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + n;
  }
  const machineTotal = machine1.total - machine0.total;
  return {
    publishers: o.publishers,
    viewers: o.viewers,
    seconds: elapsed,
    viewing,
    errors: viewing.reduce((a, v) => a + v.errors, 0),
    errorKinds,
    listedNotServed: viewing.reduce((a, v) => a + v.listedNotServed, 0),
    edges: edges.map((_, i) => {
      const byKind = minus(after[i]!.originRequests, before[i]!.originRequests);
      const distinctSegments = viewing[i]!.distinctSegments;
      return {
        byKind,
        distinctSegments,
        perSegment: (byKind.segment ?? 0) / distinctSegments,
        originErrors: minus(after[i]!.originErrors, before[i]!.originErrors),
        responsesByStatus: minus(after[i]!.responses, before[i]!.responses),
      };
    }),
    cpuPercent: {
      ...Object.fromEntries(roles.map((r, i) => [r, ((cpu1[i]! - cpu0[i]!) / elapsed) * 100])),
      viewers: (viewing.reduce((a, v) => a + v.cpuSeconds, 0) / elapsed) * 100,
    } as Record<SoakRole, number>,
    machineBusy: machineTotal > 0 ? (machine1.busy - machine0.busy) / machineTotal : 0,
    rss,
    publishersLost: publishers.filter((p) => p.exited).length,
  };
}
