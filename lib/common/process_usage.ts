/**
 * What this process costs its machine, as node records report it to dashboards: the share of
 * one CPU core used since the previous sample (user + system time from `process.cpuUsage`
 * over wall time) and the resident memory. Each sampler keeps its own previous reading, so
 * two heartbeats in one process (the all-in-one node's origin and edge) do not disturb each
 * other's intervals.
 */
import process from "node:process";

export interface ProcessUsage {
  /** Fraction of one core since the previous sample (may exceed 1 on several cores). */
  cpu: number;
  /** Resident set size, bytes. */
  rss: number;
}

/** Figures are rounded to this many decimals: a record need not carry noise. */
const CPU_DECIMALS = 3;

/**
 * A sampler: each call returns the usage since the previous call (the first, since the
 * sampler was made). `now` is a monotonic clock in milliseconds, `cpuMicros` the process's
 * total CPU time in microseconds; both are replaceable for tests.
 */
export function processUsageSampler(
  now: () => number = () => performance.now(),
  cpuMicros: () => number = () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  },
  rss: () => number = () => Deno.memoryUsage().rss,
): () => ProcessUsage {
  let lastAt = now();
  let lastCpu = cpuMicros();
  return () => {
    const at = now();
    const cpu = cpuMicros();
    const wallMicros = (at - lastAt) * 1000;
    const share = wallMicros > 0 ? Math.max(0, cpu - lastCpu) / wallMicros : 0;
    lastAt = at;
    lastCpu = cpu;
    return { cpu: Number(share.toFixed(CPU_DECIMALS)), rss: rss() };
  };
}
