/**
 * Starting real programs from tests: spawn with captured output, wait until they are ready
 * (a port accepts connections, an HTTP URL answers, or a line appears in the output), and
 * stop them on dispose with SIGTERM, then SIGKILL after a deadline. Waits on a program give
 * up as soon as it exits, and `await using` stops it however the test ends.
 */
import { isListening } from "./ports.ts";
import { GiveUp, waitFor } from "./wait.ts";

export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** What messages call the program (default: the command's file name). */
  name?: string;
  /** Ready when this TCP port accepts connections. */
  readyPort?: number;
  /** Ready when a GET of this URL answers with any status. */
  readyUrl?: string;
  /** Ready when the combined output matches. */
  readyLine?: RegExp;
  timeoutMs?: number;
  /** Echo the program's output to the test's stderr (default: only on LOG_TESTS=1). */
  echo?: boolean;
}

/** A running program; `output` accumulates its stdout+stderr text. */
export class TestProcess implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  output = "";
  readonly status: Promise<Deno.CommandStatus>;
  #exited = false;

  constructor(cmd: string, opts: StartOptions) {
    this.name = opts.name ?? cmd.split("/").pop()!;
    this.child = new Deno.Command(cmd, {
      args: opts.args ?? [],
      env: opts.env,
      cwd: opts.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const echo = opts.echo ?? Deno.env.get("LOG_TESTS") === "1";
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      const decoder = new TextDecoder();
      for await (const chunk of stream) {
        const text = decoder.decode(chunk, { stream: true });
        this.output += text;
        if (this.output.length > 4_000_000) this.output = this.output.slice(-2_000_000);
        if (echo) Deno.stderr.writeSync(new TextEncoder().encode(text));
      }
    };
    const pumps = Promise.all([pump(this.child.stdout), pump(this.child.stderr)]);
    this.status = this.child.status.then(async (s) => {
      this.#exited = true;
      await pumps;
      return s;
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  /**
   * For `waitFor` checks that need this program running: throws `GiveUp` with the end of
   * its output once it has exited, so the wait fails now rather than at its deadline.
   */
  giveUpIfExited(): void {
    if (this.#exited) {
      throw new GiveUp(`${this.name} exited; output:\n${this.output.slice(-2000)}`);
    }
  }

  /** Waits until `re` matches the output; fails early if the program exits first. */
  waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return waitFor(`${this.name} to print ${re}`, () => {
      const m = this.output.match(re);
      if (m) return m;
      this.giveUpIfExited();
      return undefined;
    }, { timeoutMs });
  }

  /** Sends `signal`, waits up to `graceMs`, then kills. Safe to call twice. */
  async stop(signal: Deno.Signal = "SIGTERM", graceMs = 5000): Promise<Deno.CommandStatus> {
    if (!this.#exited) {
      try {
        this.child.kill(signal);
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          this.child.kill("SIGKILL");
        } catch { /* already gone */ }
      }, graceMs);
      try {
        return await this.status;
      } finally {
        clearTimeout(timer);
      }
    }
    return await this.status;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/** Spawns `cmd` and waits until it is ready per `opts`. */
export async function startProcess(cmd: string, opts: StartOptions = {}): Promise<TestProcess> {
  const proc = new TestProcess(cmd, opts);
  const timeoutMs = opts.timeoutMs ?? 20_000;
  try {
    if (opts.readyLine) await proc.waitForOutput(opts.readyLine, timeoutMs);
    if (opts.readyPort !== undefined) {
      const port = opts.readyPort;
      await waitFor(`${proc.name} to listen on ${port}`, async () => {
        proc.giveUpIfExited();
        return await isListening(port);
      }, { timeoutMs });
    }
    if (opts.readyUrl) {
      const url = opts.readyUrl;
      await waitFor(`${url} to answer`, async () => {
        proc.giveUpIfExited();
        const res = await fetch(url);
        await res.body?.cancel();
        return true;
      }, { timeoutMs });
    }
  } catch (err) {
    await proc.stop("SIGKILL");
    throw err;
  }
  return proc;
}

/** Runs a program to completion and returns its exit code and output. */
export async function runProcess(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? 60_000);
  try {
    const out = await new Deno.Command(cmd, {
      args,
      env: opts.env,
      cwd: opts.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a program to completion; fails unless it exits 0, naming the command and its stderr. */
export async function runChecked(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: Record<string, string>; cwd?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  const r = await runProcess(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r;
}
