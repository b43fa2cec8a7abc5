/**
 * Scenarios 1–3 and 6 in one session per server (`servers.ts`): N ffmpeg publishers
 * (`-re -stream_loop -1 -c copy` of one clip) into a Cascade origin or into nginx-rtmp,
 * started spread over one segment duration as independent encoders would be. Once every
 * stream has a playlist, the server's CPU time and RSS (and a sidecar's CPU, such as the
 * discovery watcher beside nginx-rtmp) are read from `/proc` over a fixed window, the
 * registry messages an edge serving the probes receives are counted, and at its end the origin's
 * `/metrics` tells how many frames its hub dropped. Throughout, a few of the publishers
 * ("probes") go through an `RtmpTap`, which notes when each frame leaves them, while inotify
 * notes when each playlist on the origin's disk lists a new segment, and, for Cascade, a
 * poller notes when the edge (found through Redis) serves it. Neither observer costs the
 * origin anything measurable: inotify reads are the benchmark's, and the edge asks the origin
 * for each playlist at most a few times per target duration.
 */
import { publish } from "../tests/helpers/media.ts";
import type { TestProcess } from "../tests/helpers/process.ts";
import { delay, waitFor } from "../tests/helpers/wait.ts";
import { segmentLatencies, type SegmentLatency } from "./latency.ts";
import {
  allHavePlaylists,
  DiskPlaylistWatcher,
  HttpPlaylistPoller,
  type Listing,
  type ListingLog,
} from "./listings.ts";
import { CpuWindow, rssBytes } from "./proc.ts";
import { type MessageRate, RegistryMessageCounter } from "./registry_messages.ts";
import { RtmpTap } from "./rtmp_tap.ts";
import { type IngestServer, startTarget, type Target } from "./servers.ts";

export type { IngestServer };

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
  /** Per segment: the edge's first listing minus the origin's (disk) first listing, ms. */
  edgeAfterOriginMs: number[];
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
  /** A process beside the server (the discovery watcher), its CPU over the same window. */
  sidecar?: { role: string; cpuPercent: number; rssBytes: number };
  /** Pub/sub messages an edge serving the probes received during the window. */
  registryMessages?: MessageRate;
  /** `cascade_hub_dropped_frames_total` of the origin at the end of the window, all consumers. */
  hubDroppedFrames?: number;
  probes: ProbeResult[];
  /** Publishers that exited before the end (each one makes the round suspect). */
  publishersLost: number;
}

function firstAt(log: ListingLog | undefined, name: string): number | undefined {
  return log?.of(name)[0]?.at;
}

/** For each segment both saw: when `later` first listed it minus when `earlier` did, ms. */
function listingDelays(earlier: Listing[], later: Listing[]): number[] {
  const at = new Map(earlier.map((l) => [l.sequence, l.at]));
  return later.flatMap((l) => {
    const first = at.get(l.sequence);
    return first === undefined ? [] : [l.at - first];
  });
}

/** Sum of a counter's series in a Prometheus text exposition; undefined when it is absent. */
export function counterTotal(text: string, name: string): number | undefined {
  const re = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm");
  let total: number | undefined;
  for (const m of text.matchAll(re)) total = (total ?? 0) + Number(m[1]);
  return total;
}

async function hubDroppedFrames(metricsUrl: string | undefined): Promise<number | undefined> {
  if (metricsUrl === undefined) return undefined;
  const res = await fetch(metricsUrl);
  if (!res.ok) throw new Error(`${metricsUrl} answered ${res.status}`);
  // Every packager subscription creates its series, so an absent counter is reported as such.
  return counterTotal(await res.text(), "cascade_hub_dropped_frames_total");
}

/** One session of N publishers against `server`; see the module comment. */
export async function runIngestRound(
  server: IngestServer,
  o: IngestOptions,
): Promise<IngestRound> {
  const mediaRoot = await Deno.makeTempDir({ prefix: "cascade-bench-media-" });
  const workDir = await Deno.makeTempDir({ prefix: "cascade-bench-work-" });
  const removeDirs = async () => {
    await Deno.remove(mediaRoot, { recursive: true }).catch(() => {});
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  };
  const names = Array.from({ length: o.streams }, (_, i) => `s${String(i + 1).padStart(3, "0")}`);
  const probeNames = names.slice(0, Math.min(o.probes, o.streams));
  let target: Target;
  try {
    target = await startTarget(server, { mediaRoot, workDir, names, originFlags: o.originFlags });
  } catch (err) {
    await removeDirs();
    throw err;
  }
  const publishers: TestProcess[] = [];
  const taps = new Map<string, RtmpTap>();
  const spawnedAt = new Map<string, number>();
  const disk = new DiskPlaylistWatcher(mediaRoot, probeNames);
  const edge = target.edgeUrl === undefined
    ? undefined
    : new HttpPlaylistPoller(target.edgeUrl, probeNames, o.edgePollMs);
  let messages: RegistryMessageCounter | undefined;
  try {
    messages = target.redisUrl === undefined
      ? undefined
      : await RegistryMessageCounter.start(target.redisUrl, { streams: probeNames });
    const rssIdleBytes = await rssBytes(target.pid);
    for (const name of names) {
      let port = target.rtmpPort;
      if (probeNames.includes(name)) {
        const tap = new RtmpTap(target.rtmpPort);
        taps.set(name, tap);
        port = tap.port;
      }
      spawnedAt.set(name, performance.now());
      publishers.push(
        publish(`rtmp://127.0.0.1:${port}/${target.publishPath(name)}`, { clip: o.clip }),
      );
      await delay((o.staggerSeconds * 1000) / o.streams);
    }
    await waitFor(`a playlist for each of ${o.streams} streams from ${server}`, async () => {
      const lost = publishers.find((p) => p.exited);
      if (lost) throw new Error(`A publisher exited: ${lost.output.slice(-500)}`);
      return await allHavePlaylists(mediaRoot, names);
    }, { timeoutMs: 30_000 + o.streams * 200 });

    const window = new CpuWindow(target.pid);
    const sidecarWindow = target.sidecar && new CpuWindow(target.sidecar.pid);
    const rss: number[] = [];
    const sidecarRss: number[] = [];
    await window.start();
    await sidecarWindow?.start();
    messages?.mark();
    const windowEnd = performance.now() + o.windowSeconds * 1000;
    while (performance.now() < windowEnd) {
      await delay(Math.min(1000, windowEnd - performance.now()));
      rss.push(await rssBytes(target.pid));
      if (target.sidecar) sidecarRss.push(await rssBytes(target.sidecar.pid));
    }
    const cpu = await window.stop();
    const sidecarCpu = await sidecarWindow?.stop();
    const registryMessages = messages?.read();
    const dropped = await hubDroppedFrames(target.metricsUrl);
    const rssLoadedBytes = mean(rss);
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
        edgeAfterOriginMs: edge === undefined
          ? []
          : listingDelays(disk.log.of(name), edge.log.of(name)),
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
      ...(target.sidecar && sidecarCpu
        ? {
          sidecar: {
            role: target.sidecar.role,
            cpuPercent: sidecarCpu.processCores * 100,
            rssBytes: mean(sidecarRss),
          },
        }
        : {}),
      ...(registryMessages ? { registryMessages } : {}),
      ...(dropped !== undefined ? { hubDroppedFrames: dropped } : {}),
      probes,
      publishersLost,
    };
  } finally {
    await edge?.[Symbol.asyncDispose]();
    await disk[Symbol.asyncDispose]();
    await messages?.[Symbol.asyncDispose]();
    await Promise.all(publishers.map((p) => p.stop()));
    for (const tap of taps.values()) await tap[Symbol.asyncDispose]();
    await target.stop();
    await removeDirs();
  }
}

function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
