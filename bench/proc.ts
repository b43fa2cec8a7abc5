/**
 * What the benchmark reads from Linux's `/proc`: CPU time and resident memory of one process,
 * how busy the whole machine was over a window (to show how much other work shared it), and
 * a description of the machine and the tools for the results file. CPU time is user + system
 * ticks of every thread of the process, which is what `top` shows as its %CPU.
 */

/** Ticks per second of `/proc/…/stat` times (`getconf CLK_TCK`; 100 on every Linux we run). */
export const CLK_TCK = 100;

/** User + system CPU seconds a process has used so far, all threads included. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces and parentheses: fields start after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (field 14) and stime (field 15) are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Resident set size of a process in bytes (`VmRSS`). */
export async function rssBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (m === null) throw new SyntaxError(`Cannot read VmRSS of process ${pid}`);
  return Number(m[1]) * 1024;
}

/**
 * Private resident memory of a process in bytes (`RssAnon`): its RSS without the pages of the
 * executable and libraries, which every process running the same binary shares.
 */
export async function privateBytes(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const m = /^RssAnon:\s+(\d+) kB$/m.exec(status);
  if (m === null) throw new SyntaxError(`Cannot read RssAnon of process ${pid}`);
  return Number(m[1]) * 1024;
}

/** Busy and total ticks of all cores since boot, from the `cpu` line of `/proc/stat`. */
export async function machineTicks(): Promise<{ busy: number; total: number }> {
  const line = (await Deno.readTextFile("/proc/stat")).split("\n", 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  // idle (4th) and iowait (5th) are the only columns in which a core did nothing.
  return { busy: total - (v[3] ?? 0) - (v[4] ?? 0), total };
}

/** Measures a process's CPU and the machine's load between `start()` and `stop()`. */
export class CpuWindow {
  readonly #pid: number;
  #t0 = 0;
  #cpu0 = 0;
  #machine0 = { busy: 0, total: 0 };

  constructor(pid: number) {
    this.#pid = pid;
  }

  async start(): Promise<void> {
    this.#machine0 = await machineTicks();
    this.#cpu0 = await cpuSeconds(this.#pid);
    this.#t0 = performance.now();
  }

  /**
   * `processCores`: the process's CPU seconds per wall second (1 = one core busy);
   * `machineBusy`: the share of all cores that anything used in the window, 0..1.
   */
  async stop(): Promise<{ seconds: number; processCores: number; machineBusy: number }> {
    const cpu = await cpuSeconds(this.#pid);
    const seconds = (performance.now() - this.#t0) / 1000;
    const machine = await machineTicks();
    const total = machine.total - this.#machine0.total;
    return {
      seconds,
      processCores: (cpu - this.#cpu0) / seconds,
      machineBusy: total > 0 ? (machine.busy - this.#machine0.busy) / total : 0,
    };
  }
}

/** The 1-minute load average. */
export async function loadAverage(): Promise<number> {
  return Number((await Deno.readTextFile("/proc/loadavg")).split(" ")[0]);
}

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memoryBytes: number;
  kernel: string;
  deno: string;
  v8: string;
  nginx: string | null;
  ffmpeg: string | null;
  wrk: string | null;
  loadAverage: number;
}

/** First line of a program's version output (stdout or stderr), or null when it is missing. */
async function versionOf(cmd: string, args: string[], pattern: RegExp): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return pattern.exec(text)?.[1] ?? null;
  } catch {
    return null;
  }
}

export async function machineInfo(): Promise<MachineInfo> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo");
  const meminfo = await Deno.readTextFile("/proc/meminfo");
  return {
    nproc: navigator.hardwareConcurrency,
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown",
    memoryBytes: Number(/^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1] ?? 0) * 1024,
    kernel: (await Deno.readTextFile("/proc/sys/kernel/osrelease")).trim(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    nginx: await versionOf("nginx", ["-v"], /nginx version: nginx\/(\S+)/),
    ffmpeg: await versionOf("ffmpeg", ["-version"], /ffmpeg version (\S+)/),
    wrk: await versionOf("wrk", ["-v"], /wrk (\S+)/),
    loadAverage: await loadAverage(),
  };
}
