/**
 * Runs a set of programs for `deno task cluster` the way a process manager would: each child in
 * a process group of its own (so a terminal's Ctrl-C reaches only the supervisor, which then
 * stops the children in order), its output forwarded line by line behind its name, and its
 * last lines kept to explain an early exit. Stopping signals the process groups of this
 * supervisor's own children and nothing else: SIGTERM, then SIGKILL after a grace period.
 */

export interface ChildSpec {
  /** Short name shown before each output line, e.g. `origin-1`. */
  name: string;
  cmd: string;
  args: string[];
  /** Added to the supervisor's own environment. */
  env?: Record<string, string>;
  cwd?: string;
  /**
   * Children stop in waves, highest first and all of a wave together: what depends on
   * another child gets a higher wave than it.
   */
  wave: number;
}

/** Lines of output kept per child for error reports. */
const TAIL_LINES = 40;
const COLORS = [36, 33, 35, 32, 34, 96, 93, 95, 92, 94];

/** One running child; `pid` is also its process group id. */
export class Child {
  readonly name: string;
  readonly pid: number;
  readonly wave: number;
  readonly status: Promise<Deno.CommandStatus>;
  readonly tail: string[] = [];
  #exited = false;
  readonly #process: Deno.ChildProcess;
  readonly #watchers = new Set<(line: string) => void>();

  constructor(spec: ChildSpec, write: (line: string) => void) {
    this.name = spec.name;
    this.wave = spec.wave;
    this.#process = new Deno.Command(spec.cmd, {
      args: spec.args,
      env: spec.env,
      cwd: spec.cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // A session of its own: the terminal's SIGINT goes to the supervisor alone, and the
      // child's pid names a process group holding the child and whatever it starts.
      detached: true,
    }).spawn();
    this.pid = this.#process.pid;
    const onLine = (line: string) => {
      this.tail.push(line);
      if (this.tail.length > TAIL_LINES) this.tail.shift();
      for (const watch of this.#watchers) watch(line);
      write(line);
    };
    const pumps = Promise.all([
      forEachLine(this.#process.stdout, onLine),
      forEachLine(this.#process.stderr, onLine),
    ]);
    this.status = this.#process.status.then(async (status) => {
      this.#exited = true;
      // Whatever the child started and left behind is in its group; the group id cannot have
      // been reused yet while any of them is alive.
      this.#signalGroup("SIGKILL");
      await pumps;
      return status;
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Resolves with the first output line `re` matches; rejects if the child exits first. */
  waitForLine(re: RegExp): Promise<string> {
    const found = this.tail.find((line) => re.test(line));
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const watch = (line: string) => {
        if (!re.test(line)) return;
        this.#watchers.delete(watch);
        resolve(line);
      };
      this.#watchers.add(watch);
      this.status.then((s) => {
        this.#watchers.delete(watch);
        reject(new Error(`${this.name} exited (${describeStatus(s)}) before printing ${re}`));
      });
    });
  }

  /** Sends `signal` to the child's process group; false when it is gone already. */
  #signalGroup(signal: Deno.Signal): boolean {
    try {
      Deno.kill(-this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** SIGKILL to the group at once. */
  kill(): Promise<Deno.CommandStatus> {
    if (!this.#exited) this.#signalGroup("SIGKILL");
    return this.status;
  }

  /** SIGTERM to the group, SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<Deno.CommandStatus> {
    if (this.#exited) return await this.status;
    this.#signalGroup("SIGTERM");
    const timer = setTimeout(() => {
      if (!this.#exited) this.#signalGroup("SIGKILL");
    }, graceMs);
    try {
      return await this.status;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** "exit code 2" or "signal SIGKILL". */
export function describeStatus(status: Deno.CommandStatus): string {
  return status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
}

async function forEachLine(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      onLine(pending.slice(0, newline).replace(/\r$/, ""));
      pending = pending.slice(newline + 1);
    }
  }
  pending += decoder.decode();
  if (pending !== "") onLine(pending);
}

export interface SupervisorOptions {
  /** Where prefixed lines go (default: stdout). */
  print?: (text: string) => void;
  /** Colour the name prefixes (default: when stdout is a terminal and NO_COLOR is unset). */
  color?: boolean;
  /** Width the names are padded to, so that lines align from the start (default 8). */
  nameWidth?: number;
  /** Called when a child exits while the supervisor is not stopping. */
  onExit?: (child: Child, status: Deno.CommandStatus) => void;
}

/** Starts children, forwards their output and stops them in waves. */
export class Supervisor {
  readonly children: Child[] = [];
  readonly #print: (text: string) => void;
  readonly #color: boolean;
  readonly #onExit: SupervisorOptions["onExit"];
  #width: number;
  #stopping = false;

  constructor(opts: SupervisorOptions = {}) {
    const encoder = new TextEncoder();
    this.#print = opts.print ?? ((text) => Deno.stdout.writeSync(encoder.encode(text)));
    this.#color = opts.color ??
      (Deno.stdout.isTerminal() && Deno.env.get("NO_COLOR") === undefined);
    this.#onExit = opts.onExit;
    this.#width = opts.nameWidth ?? 8;
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Prints `line` behind `name`, as children's lines are. */
  log(name: string, line: string, color = 0): void {
    const label = name.padEnd(this.#width);
    const prefix = this.#color && color > 0 ? `\x1b[${color}m${label} |\x1b[0m` : `${label} |`;
    this.#print(`${prefix} ${line}\n`);
  }

  start(spec: ChildSpec): Child {
    if (this.#stopping) throw new Error(`Cannot start ${spec.name}: the supervisor is stopping`);
    this.#width = Math.max(this.#width, spec.name.length);
    const color = COLORS[this.children.length % COLORS.length]!;
    const child = new Child(spec, (line) => this.log(spec.name, line, color));
    this.children.push(child);
    child.status.then((status) => {
      if (!this.#stopping) this.#onExit?.(child, status);
    });
    return child;
  }

  /**
   * Stops every child, highest wave first; each child gets `graceMs` after SIGTERM before
   * SIGKILL. Safe to call twice; `force` kills whatever is left at once.
   */
  async stopAll(graceMs: number, force = false): Promise<void> {
    this.#stopping = true;
    if (force) {
      await Promise.all(this.children.map((c) => c.kill()));
      return;
    }
    const waves = [...new Set(this.children.map((c) => c.wave))].sort((a, b) => b - a);
    for (const wave of waves) {
      const members = this.children.filter((c) => c.wave === wave);
      await Promise.all(members.map((c) => c.stop(graceMs)));
    }
  }
}
