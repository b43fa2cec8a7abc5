/**
 * What this process costs its machine, as node records report it to dashboards: the share of
 * one CPU core used since the previous sample (user + system time over wall time) and the
 * resident memory. CPU time is read from `/proc/self/stat` (a few hundred bytes of procfs per
 * heartbeat) rather than `node:process`, whose import would set up Deno's Node layer in roles
 * that otherwise need none of it; where there is no `/proc`, `node:process` is loaded after all. Each sampler keeps its own previous reading, so
 * two heartbeats in one process (the all-in-one node's origin and edge) do not disturb each
 * other's intervals.
 */

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
  cpuMicros: () => number = processCpuMicros,
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

/** `/proc` counts CPU time in USER_HZ ticks, 100 a second on Linux. */
const MICROS_PER_TICK = 10_000;
let nodeProcess: { cpuUsage(): { user: number; system: number } } | undefined;
let procMissing = false;

/** User + system CPU time of this process, µs (0 until known where there is no `/proc`). */
function processCpuMicros(): number {
  if (!procMissing) {
    try {
      // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
      const stat = Deno.readTextFileSync("/proc/self/stat");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) * MICROS_PER_TICK;
    } catch {
      procMissing = true;
      import("node:process").then((m) => nodeProcess = m.default, () => {});
    }
  }
  const u = nodeProcess?.cpuUsage();
  return u === undefined ? 0 : u.user + u.system;
}
