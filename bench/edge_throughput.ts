/**
 * Scenario 4, cached edge throughput, measured by the edge's own benchmark
 * (`edge/bench/edge_bench.ts`: an 800 KB segment and a live playlist, `wrk -t1 -c100`, nginx
 * `proxy_cache` + `proxy_cache_lock`, the edge on `node:http` and on `Deno.serve`, and a bare
 * `node:http` server as the transport's ceiling, taking turns). It runs as a child process;
 * this module sets its duration and rounds and reads its per-run lines back.
 */
import { fileURLToPath } from "node:url";

export interface ThroughputRun {
  round: number;
  path: "segment" | "playlist";
  /** As edge_bench names them: `nginx proxy_cache`, `edge node:http`, `edge Deno.serve`, `bare node:http`. */
  server: string;
  requestsPerSecond: number;
  bytesPerSecond: number;
}

const EDGE_BENCH = fileURLToPath(new URL("../edge/bench/edge_bench.ts", import.meta.url));
const RUN_LINE = /^round (\d+) (segment|playlist)\s+(.+?)\s+(\d+) req\/s\s+([\d.]+) GB\/s$/gm;

/** Runs edge_bench for `seconds` per run and `rounds` rounds; needs `wrk` and `nginx`. */
export async function runEdgeThroughput(seconds: number, rounds: number): Promise<ThroughputRun[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", EDGE_BENCH],
    env: { BENCH_SECONDS: String(seconds), ROUNDS: String(rounds) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`edge_bench.ts failed: ${new TextDecoder().decode(out.stderr).slice(-1000)}`);
  }
  const runs = [...text.matchAll(RUN_LINE)].map((m) => ({
    round: Number(m[1]),
    path: m[2] as "segment" | "playlist",
    server: m[3]!,
    requestsPerSecond: Number(m[4]),
    // edge_bench prints 10^9 bytes per second with two decimals.
    bytesPerSecond: Number(m[5]) * 1e9,
  }));
  if (runs.length === 0) throw new Error(`edge_bench.ts printed no runs: ${text.slice(-1000)}`);
  return runs;
}

/** The best run of `server` on `path` (highest requests per second), if any. */
export function bestRun(
  runs: readonly ThroughputRun[],
  server: string,
  path: ThroughputRun["path"],
): ThroughputRun | undefined {
  return runs
    .filter((r) => r.server === server && r.path === path)
    .reduce<ThroughputRun | undefined>(
      (best, r) => (best === undefined || r.requestsPerSecond > best.requestsPerSecond ? r : best),
      undefined,
    );
}
