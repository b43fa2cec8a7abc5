/**
 * The ingest servers the benchmark compares, each started fresh for one round in a media root
 * of its own:
 *
 * - `cascade`: what users run. A redis-server, `deno task origin` (static publish keys, every
 *   other setting at its default) and `deno task edge` finding the origin through Redis.
 * - `cascade-bare`: the bare packager of `origin_process.ts` (no registry, `RECORD=none`),
 *   kept as an extra row to separate the packager's cost from the rest. Not what users run.
 * - `nginx-rtmp`: the peer, alone.
 * - `nginx-rtmp+discovery`: nginx-rtmp with `deno task discovery` beside it announcing its
 *   playlists in Redis, as a cluster with nginx-rtmp origins runs; the watcher is the sidecar
 *   whose CPU is compared with nginx-rtmp's own.
 */
import { fileURLToPath } from "node:url";
import { startProcess } from "../tests/helpers/process.ts";
import { startRedis } from "../tests/helpers/redis.ts";
import { startNginxRtmp } from "./nginx.ts";
import {
  generatePublishKeys,
  startDiscoveryRole,
  startEdgeRole,
  startOriginRole,
} from "./roles.ts";

export const INGEST_SERVERS = [
  "cascade",
  "nginx-rtmp",
  "nginx-rtmp+discovery",
  "cascade-bare",
] as const;
export type IngestServer = typeof INGEST_SERVERS[number];

const ORIGIN_PROCESS = fileURLToPath(new URL("./origin_process.ts", import.meta.url));

/** A server under test, ready for publishers. */
export interface Target {
  /** The process whose CPU and memory are the server's (origin or nginx). */
  pid: number;
  rtmpPort: number;
  /** The RTMP path a publisher of `name` uses: `live/{key}`. */
  publishPath(name: string): string;
  /** Base URL of a Cascade edge in front of the origin, when there is one. */
  edgeUrl?: string;
  /** The origin's Prometheus endpoint, when it has one. */
  metricsUrl?: string;
  /** The registry's Redis, when the round has one. */
  redisUrl?: string;
  /** A process beside the server whose CPU is reported on its own (the discovery watcher). */
  sidecar?: { role: string; pid: number };
  stop(): Promise<void>;
}

export interface TargetOptions {
  mediaRoot: string;
  /** A scratch directory of the round (recordings, should any be made). */
  workDir: string;
  names: readonly string[];
  /** Extra `deno run` flags for a Cascade origin. */
  originFlags: string[];
  /** Settings for a Cascade origin beyond the defaults, e.g. `HLS_LL=true` for LL-HLS. */
  originEnv?: Record<string, string>;
}

/** Starts a target's processes on `stack`; on failure stops those already started. */
async function started(
  build: (stack: AsyncDisposableStack) => Promise<Omit<Target, "stop">>,
): Promise<Target> {
  await using stack = new AsyncDisposableStack();
  const target = await build(stack);
  const owned = stack.move();
  return { ...target, stop: () => owned.disposeAsync() };
}

function startCascade(o: TargetOptions): Promise<Target> {
  return started(async (stack) => {
    const keys = generatePublishKeys(o.names);
    const redis = stack.use(await startRedis());
    const origin = await startOriginRole({
      redisUrl: redis.url,
      mediaRoot: o.mediaRoot,
      recordDir: o.workDir,
      keys,
      denoFlags: o.originFlags,
      env: o.originEnv,
    });
    stack.defer(origin.stop);
    const edge = await startEdgeRole(redis.url);
    stack.defer(edge.stop);
    return {
      pid: origin.pid,
      rtmpPort: origin.rtmpPort,
      publishPath: (name) => `live/${keys.get(name)}`,
      edgeUrl: edge.url,
      metricsUrl: `${origin.url}/metrics`,
      redisUrl: redis.url,
    };
  });
}

function startBarePackager(o: TargetOptions): Promise<Target> {
  return started(async (stack) => {
    const origin = await startProcess(Deno.execPath(), {
      args: ["run", "-A", ...o.originFlags, ORIGIN_PROCESS, o.mediaRoot],
      readyLine: /"httpPort":\d+/,
    });
    stack.defer(async () => void await origin.stop());
    const ports = JSON.parse(origin.output.slice(origin.output.indexOf("{"))) as {
      rtmpPort: number;
      httpPort: number;
    };
    return {
      pid: origin.child.pid,
      rtmpPort: ports.rtmpPort,
      publishPath: (name) => `live/${name}`,
      metricsUrl: `http://127.0.0.1:${ports.httpPort}/metrics`,
    };
  });
}

function startNginx(o: TargetOptions, withDiscovery: boolean): Promise<Target> {
  return started(async (stack) => {
    const nginx = stack.use(await startNginxRtmp(o.mediaRoot));
    const target: Omit<Target, "stop"> = {
      pid: nginx.pid,
      rtmpPort: nginx.port,
      publishPath: (name) => `live/${name}`,
    };
    if (!withDiscovery) return target;
    const redis = stack.use(await startRedis());
    // nginx-rtmp serves no HTTP here; the URL is only what the claims carry.
    const watcher = await startDiscoveryRole(redis.url, o.mediaRoot, "http://127.0.0.1:8081");
    stack.defer(watcher.stop);
    return { ...target, redisUrl: redis.url, sidecar: { role: "discovery", pid: watcher.pid } };
  });
}

export function startTarget(server: IngestServer, o: TargetOptions): Promise<Target> {
  switch (server) {
    case "cascade":
      return startCascade(o);
    case "cascade-bare":
      return startBarePackager(o);
    case "nginx-rtmp":
      return startNginx(o, false);
    case "nginx-rtmp+discovery":
      return startNginx(o, true);
  }
}
