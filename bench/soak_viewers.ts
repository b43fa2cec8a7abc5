/**
 * The soak's simulated viewers: many HTTP clients in one process, each behaving like an HLS
 * player on a live stream. A viewer asks for its playlist, starts with the last three
 * segments listed (where hls.js starts on a live stream), then asks again about once per
 * target duration and fetches each newly listed segment once, whole. It counts what failed by
 * kind, and above all every segment it saw listed and then could not get ("listed but not
 * served"): a player would stall there. Run as a program by `soak.ts`, one process per edge, so
 * that its CPU is apart from everything else, and prints its totals (its own CPU time included,
 * since it has exited by the time the bench reads them) as one JSON line when the time is up. The timer lag it reports (how late a 100 ms timer fires)
 * tells whether the process itself kept up: a late viewer is the load generator's fault, not
 * the edge's.
 *
 *   deno run -A bench/soak_viewers.ts --edge http://127.0.0.1:8000 --names s001,s002 \
 *     --viewers 1000 --seconds 120
 */
import { parseArgs } from "node:util";
import { LIVE_PLAYLIST } from "@cascade/media/hls/layout";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { percentile } from "./latency.ts";
import { cpuSeconds } from "./proc.ts";

/** Segments a viewer fetches when it joins, counted back from the live edge. */
const JOIN_SEGMENTS = 3;
const LAG_PROBE_MS = 100;

export interface SoakViewerOptions {
  /** Base URL of the edge: playlists are `{edge}/live/{name}/index.m3u8`. */
  edge: string;
  /** Streams the viewers are spread over, in turn. */
  names: readonly string[];
  viewers: number;
  seconds: number;
}

export interface SoakViewerTotals {
  viewers: number;
  seconds: number;
  playlists: number;
  segments: number;
  bytes: number;
  /** Different segment URLs fetched: what the edge had to get from an origin at least once. */
  distinctSegments: number;
  /** Failed requests and non-2xx answers, playlists and segments together. */
  errors: number;
  /** What those errors were, e.g. `segment 404` or `playlist TypeError: …`, with counts. */
  errorKinds: Record<string, number>;
  /** Segments seen listed whose fetch then failed or answered non-2xx. */
  listedNotServed: number;
  /**
   * Time to the last byte of a segment, ms: of the segments fetched on joining (all viewers
   * join within one target duration, three segments each) and of those fetched afterwards.
   */
  segmentMs: { join: Times; steady: Times };
  /** How late a 100 ms timer of this process fired, ms: the load generator's own lag. */
  timerLagMs: { p99: number; max: number };
  /** This process's user + system CPU seconds when done, start-up included. */
  cpuSeconds: number;
}

export interface Times {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

function times(values: number[]): Times {
  return {
    count: values.length,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.reduce((a, b) => Math.max(a, b), 0),
  };
}

interface Tally {
  playlists: number;
  segments: number;
  bytes: number;
  errors: number;
  errorKinds: Record<string, number>;
  listedNotServed: number;
  distinct: Set<string>;
  joinMs: number[];
  steadyMs: number[];
}

/** An exception as an error kind; `fetch failed` says why only in its cause. */
function describe(err: unknown): string {
  const e = err as Error;
  const cause = e.cause instanceof Error ? ` (${e.cause.message})` : "";
  return `${e.name}: ${e.message}${cause}`;
}

function failed(t: Tally, kind: string): void {
  t.errors++;
  t.errorKinds[kind] = (t.errorKinds[kind] ?? 0) + 1;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/** Fetches one listed segment whole; a failure counts as listed but not served. */
async function fetchSegment(
  url: string,
  t: Tally,
  signal: AbortSignal,
  times: number[],
): Promise<void> {
  const started = performance.now();
  try {
    const res = await fetch(url, { signal });
    if (!res.ok) {
      await res.body?.cancel();
      t.listedNotServed++;
      failed(t, `segment ${res.status}`);
      return;
    }
    t.bytes += (await res.arrayBuffer()).byteLength;
    t.segments++;
    t.distinct.add(url);
    times.push(performance.now() - started);
  } catch (err) {
    if (signal.aborted) return;
    t.listedNotServed++;
    failed(t, `segment ${describe(err)}`);
  }
}

/** One viewer of `playlistUrl` until `signal` aborts; see the module comment. */
async function view(playlistUrl: string, t: Tally, signal: AbortSignal): Promise<void> {
  let last: number | undefined;
  while (!signal.aborted) {
    const started = performance.now();
    let targetMs = 2000;
    try {
      const res = await fetch(playlistUrl, { signal });
      t.playlists++;
      if (!res.ok) {
        await res.body?.cancel();
        failed(t, `playlist ${res.status}`);
      } else {
        const playlist = parsePlaylist(await res.text());
        targetMs = playlist.targetDuration * 1000;
        const newest = playlist.segments.at(-1)?.sequence;
        if (last !== undefined && newest !== undefined && newest < last) {
          failed(t, "playlist went back in sequence");
          last = undefined;
        }
        const joining = last === undefined;
        const fresh = joining
          ? playlist.segments.slice(-JOIN_SEGMENTS)
          : playlist.segments.filter((s) => s.sequence > last!);
        for (const s of fresh) {
          if (signal.aborted) return;
          const url = new URL(s.uri, playlistUrl).href;
          await fetchSegment(url, t, signal, joining ? t.joinMs : t.steadyMs);
          last = s.sequence;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      failed(t, `playlist ${describe(err)}`);
    }
    await sleep(Math.max(0, targetMs - (performance.now() - started)), signal);
  }
}

/** How late each 100 ms timer fires until `signal` aborts. */
async function timerLag(signal: AbortSignal): Promise<number[]> {
  const lags: number[] = [];
  while (!signal.aborted) {
    const due = performance.now() + LAG_PROBE_MS;
    await sleep(LAG_PROBE_MS, signal);
    if (!signal.aborted) lags.push(performance.now() - due);
  }
  return lags;
}

/** Runs `o.viewers` viewers for `o.seconds`, joining spread over one segment duration. */
export async function runSoakViewers(o: SoakViewerOptions): Promise<SoakViewerTotals> {
  const t: Tally = {
    playlists: 0,
    segments: 0,
    bytes: 0,
    errors: 0,
    errorKinds: {},
    listedNotServed: 0,
    distinct: new Set(),
    joinMs: [],
    steadyMs: [],
  };
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), o.seconds * 1000);
  const lag = timerLag(stop.signal);
  const viewers: Promise<void>[] = [];
  for (let i = 0; i < o.viewers; i++) {
    const name = o.names[i % o.names.length]!;
    const url = `${o.edge}/live/${name}/${LIVE_PLAYLIST}`;
    // Players join at different moments; the first target duration spreads them out.
    viewers.push(sleep((2000 * i) / o.viewers, stop.signal).then(() => view(url, t, stop.signal)));
  }
  await Promise.all(viewers);
  clearTimeout(timer);
  const lags = await lag;
  return {
    viewers: o.viewers,
    seconds: o.seconds,
    playlists: t.playlists,
    segments: t.segments,
    bytes: t.bytes,
    distinctSegments: t.distinct.size,
    errors: t.errors,
    errorKinds: t.errorKinds,
    listedNotServed: t.listedNotServed,
    segmentMs: { join: times(t.joinMs), steady: times(t.steadyMs) },
    timerLagMs: { p99: percentile(lags, 99), max: lags.reduce((a, b) => Math.max(a, b), 0) },
    cpuSeconds: await cpuSeconds(Deno.pid),
  };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      edge: { type: "string" },
      names: { type: "string" },
      viewers: { type: "string" },
      seconds: { type: "string" },
    },
  });
  const o: SoakViewerOptions = {
    edge: values.edge ?? "",
    names: (values.names ?? "").split(",").filter((n) => n !== ""),
    viewers: Number(values.viewers),
    seconds: Number(values.seconds),
  };
  if (o.edge === "" || o.names.length === 0 || !(o.viewers >= 1) || !(o.seconds > 0)) {
    console.error("Usage: soak_viewers.ts --edge URL --names a,b,… --viewers N --seconds S");
    Deno.exit(2);
  }
  console.log(JSON.stringify(await runSoakViewers(o)));
}
