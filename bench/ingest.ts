/**
 * Scenarios 1–3 in one session per server: N ffmpeg publishers (`-re -stream_loop -1 -c copy`
 * of one clip) into the Cascade origin or into nginx-rtmp, started spread over one segment
 * duration as independent encoders would be. Once every stream has a playlist, the server's
 * CPU time and RSS are read from `/proc` over a fixed window (scenario 1). Throughout, a few
 * of the publishers ("probes") go through an `RtmpTap`, which notes when each frame leaves
 * them, while inotify notes when each playlist on the origin's disk lists a new segment, and,
 * for Cascade, a poller notes when an edge fed by discovery serves it (scenarios 2 and 3).
 * Neither observer costs the origin anything measurable: inotify reads are the benchmark's,
 * and the edge asks the origin for each playlist at most twice per target duration.
 */
import { fileURLToPath } from "node:url";
import { publish } from "../tests/helpers/media.ts";
import { startProcess, type TestProcess } from "../tests/helpers/process.ts";
import { delay, waitFor } from "../tests/helpers/wait.ts";
import { segmentLatencies, type SegmentLatency } from "./latency.ts";
import { DiskPlaylistWatcher, HttpPlaylistPoller, type ListingLog } from "./listings.ts";
import { startNginxRtmp } from "./nginx.ts";
import { CpuWindow, rssBytes } from "./proc.ts";
import { RtmpTap } from "./rtmp_tap.ts";

export type IngestServer = "cascade" | "nginx-rtmp";

export interface IngestOptions {
  /** FLV clip the publishers loop with `-c copy`. */
  clip: string;
  streams: number;
  /** How many of the publishers go through a tap for latency (at most `streams`). */
  probes: number;
  windowSeconds: number;
  /** Interval of the edge playlist poller, ms. */
  edgePollMs: number;
  /** Publishers start spread over this many seconds (one segment duration). */
  staggerSeconds: number;
  /** Extra `deno run` flags for the Cascade origin, e.g. `--v8-flags=--prof`. */
  originFlags: string[];
}

export interface ProbeResult {
  name: string;
  /** From the publisher's TCP connect to the first playlist listing a segment, ms. */
  firstPlaylistMs: { origin: number | null; edge: number | null };
  /** From spawning ffmpeg to the first playlist at the origin, ms. */
  firstPlaylistFromSpawnMs: number | null;
  origin: SegmentLatency[];
  edge: SegmentLatency[];
}

export interface IngestRound {
  server: IngestServer;
  streams: number;
  windowSeconds: number;
  /** Server process CPU in % of one core, all streams together. */
  cpuPercent: number;
  cpuPercentPerStream: number;
  /** RSS before the first publisher connected. */
  rssIdleBytes: number;
  /** Mean of RSS samples taken every second of the window (GC makes single readings jumpy). */
  rssLoadedBytes: number;
  rssLoadedMaxBytes: number;
  /** (loaded − idle) / streams: everything the streams made the process hold. */
  rssPerStreamBytes: number;
  /** Share of all cores busy with anything (this server, publishers, other work), 0..1. */
  machineBusy: number;
  probes: ProbeResult[];
  /** Publishers that exited before the end (each one makes the round suspect). */
  publishersLost: number;
}

const ORIGIN_PROCESS = fileURLToPath(new URL("./origin_process.ts", import.meta.url));
const EDGE_PROCESS = fileURLToPath(new URL("./edge_process.ts", import.meta.url));

interface Target {
  pid: number;
  rtmpPort: number;
  /** Base URL of an edge in front of the origin, when there is one. */
  edgeUrl: string | undefined;
  stop(): Promise<void>;
}

async function startCascade(mediaRoot: string, originFlags: string[]): Promise<Target> {
  const deno = Deno.execPath();
  const origin = await startProcess(deno, {
    args: ["run", "-A", ...originFlags, ORIGIN_PROCESS, mediaRoot],
    readyLine: /"httpPort":\d+/,
  });
  const ports = JSON.parse(origin.output.slice(origin.output.indexOf("{"))) as {
    rtmpPort: number;
    httpPort: number;
  };
  let edge: TestProcess;
  try {
    edge = await startProcess(deno, {
      args: ["run", "-A", EDGE_PROCESS, mediaRoot, `http://127.0.0.1:${ports.httpPort}`],
      readyLine: /listening \d+/,
    });
  } catch (err) {
    await origin.stop();
    throw err;
  }
  const edgePort = Number(/listening (\d+)/.exec(edge.output)![1]);
  return {
    pid: origin.child.pid,
    rtmpPort: ports.rtmpPort,
    edgeUrl: `http://127.0.0.1:${edgePort}`,
    async stop() {
      await edge.stop();
      await origin.stop();
    },
  };
}

async function startNginx(mediaRoot: string): Promise<Target> {
  const nginx = await startNginxRtmp(mediaRoot);
  return {
    pid: nginx.pid,
    rtmpPort: nginx.port,
    edgeUrl: undefined,
    stop: async () => await nginx[Symbol.asyncDispose](),
  };
}

function firstAt(log: ListingLog | undefined, name: string): number | undefined {
  return log?.of(name)[0]?.at;
}

/** One session of N publishers against `server`; see the module comment. */
export async function runIngestRound(
  server: IngestServer,
  o: IngestOptions,
): Promise<IngestRound> {
  const mediaRoot = await Deno.makeTempDir({ prefix: "cascade-bench-media-" });
  let target: Target;
  try {
    target = server === "cascade"
      ? await startCascade(mediaRoot, o.originFlags)
      : await startNginx(mediaRoot);
  } catch (err) {
    await Deno.remove(mediaRoot, { recursive: true }).catch(() => {});
    throw err;
  }
  const names = Array.from({ length: o.streams }, (_, i) => `s${String(i + 1).padStart(3, "0")}`);
  const probeNames = names.slice(0, Math.min(o.probes, o.streams));
  const publishers: TestProcess[] = [];
  const taps = new Map<string, RtmpTap>();
  const spawnedAt = new Map<string, number>();
  const disk = new DiskPlaylistWatcher(mediaRoot, names);
  const edge = target.edgeUrl === undefined
    ? undefined
    : new HttpPlaylistPoller(target.edgeUrl, probeNames, o.edgePollMs);
  try {
    const rssIdleBytes = await rssBytes(target.pid);
    for (const name of names) {
      let port = target.rtmpPort;
      if (probeNames.includes(name)) {
        const tap = new RtmpTap(target.rtmpPort);
        taps.set(name, tap);
        port = tap.port;
      }
      spawnedAt.set(name, performance.now());
      publishers.push(publish(`rtmp://127.0.0.1:${port}/live/${name}`, { clip: o.clip }));
      await delay((o.staggerSeconds * 1000) / o.streams);
    }
    await waitFor(`a playlist for each of ${o.streams} streams from ${server}`, () => {
      const lost = publishers.find((p) => p.exited);
      if (lost) throw new Error(`A publisher exited: ${lost.output.slice(-500)}`);
      return names.every((n) => disk.log.of(n).length > 0);
    }, { timeoutMs: 30_000 });

    const window = new CpuWindow(target.pid);
    const rss: number[] = [];
    await window.start();
    const windowEnd = performance.now() + o.windowSeconds * 1000;
    while (performance.now() < windowEnd) {
      await delay(Math.min(1000, windowEnd - performance.now()));
      rss.push(await rssBytes(target.pid));
    }
    const cpu = await window.stop();
    const rssLoadedBytes = rss.reduce((a, b) => a + b, 0) / rss.length;
    const publishersLost = publishers.filter((p) => p.exited).length;

    await edge?.[Symbol.asyncDispose]();
    await disk[Symbol.asyncDispose]();
    const probes = probeNames.map((name): ProbeResult => {
      const tap = taps.get(name)!;
      const connected = tap.connectedAt;
      const atOrigin = firstAt(disk.log, name);
      const atEdge = firstAt(edge?.log, name);
      const since = (t: number | undefined, from: number | undefined) =>
        t === undefined || from === undefined ? null : t - from;
      return {
        name,
        firstPlaylistMs: { origin: since(atOrigin, connected), edge: since(atEdge, connected) },
        firstPlaylistFromSpawnMs: since(atOrigin, spawnedAt.get(name)),
        origin: segmentLatencies(tap.frames, disk.log.of(name)),
        edge: edge === undefined ? [] : segmentLatencies(tap.frames, edge.log.of(name)),
      };
    });
    return {
      server,
      streams: o.streams,
      windowSeconds: cpu.seconds,
      cpuPercent: cpu.processCores * 100,
      cpuPercentPerStream: (cpu.processCores * 100) / o.streams,
      rssIdleBytes,
      rssLoadedBytes,
      rssLoadedMaxBytes: Math.max(...rss),
      rssPerStreamBytes: (rssLoadedBytes - rssIdleBytes) / o.streams,
      machineBusy: cpu.machineBusy,
      probes,
      publishersLost,
    };
  } finally {
    await edge?.[Symbol.asyncDispose]();
    await disk[Symbol.asyncDispose]();
    await Promise.all(publishers.map((p) => p.stop()));
    for (const tap of taps.values()) await tap[Symbol.asyncDispose]();
    await target.stop();
    await Deno.remove(mediaRoot, { recursive: true }).catch(() => {});
  }
}
