/**
 * Hosts on a private network for tests, made of Linux network namespaces: one namespace per
 * host, each with `lo` up and an `eth0` whose veth peer is a port of a bridge in a "switch"
 * namespace, on a /24 of 10.0.0.0/8 drawn per run. Namespace names carry a random run id, so
 * parallel runs never meet; the host's own network namespace only sees namespaces created and
 * deleted (every veth is created inside them). Programs run inside a host with
 * `ip netns exec`; `fetch` asks curl from inside a host, since the test process itself cannot
 * reach those addresses. Disposal kills every program started (and anything else still in
 * the namespaces), then deletes the namespaces, which takes their veths and bridge along.
 * Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN); `netnsUnavailable` says why not.
 */
import { runProcess, type StartOptions, TestProcess } from "./process.ts";

/** A host of the lab: its namespace and its address on the lab's subnet. */
export interface NetnsHost {
  ns: string;
  address: string;
}

/** An HTTP answer fetched from inside a namespace. */
export interface NetnsResponse {
  status: number;
  body: Uint8Array;
  text(): string;
}

const PREFIX = "cascade";

/** A short random id: namespace names stay readable in `ip netns list`. */
function runId(): string {
  return [...crypto.getRandomValues(new Uint8Array(3))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs `ip args…`; fails naming the command and what `ip` printed. */
async function ip(...args: string[]): Promise<void> {
  const r = await runProcess("ip", args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
}

/**
 * Why this machine cannot run namespace tests, in one line, or `undefined` when it can: it
 * creates a namespace with a bridge and a veth pair and deletes it again.
 */
export async function netnsUnavailable(): Promise<string | undefined> {
  const ns = `${PREFIX}-probe-${runId()}`;
  try {
    await ip("netns", "add", ns);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "ip (iproute2) is not installed";
    return `cannot create a network namespace: ${firstLine(err)}`;
  }
  try {
    await ip("-n", ns, "link", "add", "br0", "type", "bridge");
    await ip("-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1");
    const curl = await runProcess("curl", ["--version"]).catch(() => null);
    if (curl?.code !== 0) return "curl is not installed";
    return undefined;
  } catch (err) {
    return `cannot create a bridge and a veth pair: ${firstLine(err)}`;
  } finally {
    await ip("netns", "del", ns).catch(() => {});
  }
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split("\n")[0]!.replace(/^.*exited \d+: /, "");
}

/** Namespaces joined by a bridge, and the programs started inside them. */
export class NetnsLab implements AsyncDisposable {
  readonly id: string;
  readonly #hosts = new Map<string, NetnsHost>();
  /** Every namespace created, the switch first. */
  readonly #namespaces: string[] = [];
  readonly #procs: TestProcess[] = [];

  private constructor(id: string) {
    this.id = id;
  }

  /**
   * Creates the switch and one namespace per name of `hosts` (at most 200; names of up to 8
   * characters of [a-z0-9], they name interfaces too), addressed `.2`, `.3`, … in order.
   */
  static async create(hosts: string[]): Promise<NetnsLab> {
    const lab = new NetnsLab(runId());
    // Another run's subnet may be the same: harmless, the namespaces never share a link.
    const [a, b] = crypto.getRandomValues(new Uint8Array(2));
    const subnet = `10.${a}.${b}`;
    try {
      const sw = await lab.#addNamespace("sw");
      await ip("-n", sw, "link", "add", "br0", "type", "bridge");
      await ip("-n", sw, "link", "set", "br0", "up");
      for (const [i, name] of hosts.entries()) {
        if (!/^[a-z0-9]{1,8}$/.test(name)) throw new TypeError(`Bad lab host name: ${name}`);
        const ns = await lab.#addNamespace(name);
        const address = `${subnet}.${i + 2}`;
        const port = `p-${name}`;
        await ip(
          "-n",
          ns,
          "link",
          "add",
          "eth0",
          "type",
          "veth",
          "peer",
          "name",
          port,
          "netns",
          sw,
        );
        await ip("-n", sw, "link", "set", port, "master", "br0", "up");
        await ip("-n", ns, "addr", "add", `${address}/24`, "dev", "eth0");
        await ip("-n", ns, "link", "set", "eth0", "up");
        lab.#hosts.set(name, { ns, address });
      }
    } catch (err) {
      await lab[Symbol.asyncDispose]();
      throw err;
    }
    return lab;
  }

  async #addNamespace(name: string): Promise<string> {
    const ns = `${PREFIX}-${this.id}-${name}`;
    await ip("netns", "add", ns);
    this.#namespaces.push(ns);
    await ip("-n", ns, "link", "set", "lo", "up");
    return ns;
  }

  host(name: string): NetnsHost {
    const host = this.#hosts.get(name);
    if (host === undefined) throw new Error(`No lab host ${name}`);
    return host;
  }

  address(name: string): string {
    return this.host(name).address;
  }

  /** Starts `cmd` inside host `name`; it is killed on dispose if still running. */
  spawn(name: string, cmd: string, opts: StartOptions = {}): TestProcess {
    const proc = new TestProcess("ip", {
      ...opts,
      name: opts.name ?? `${cmd.split("/").pop()}@${name}`,
      args: ["netns", "exec", this.host(name).ns, cmd, ...opts.args ?? []],
    });
    this.#procs.push(proc);
    return proc;
  }

  /** Runs `cmd` inside host `name` to completion. */
  run(
    name: string,
    cmd: string,
    args: string[],
    opts: { timeoutMs?: number } = {},
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    return runProcess("ip", ["netns", "exec", this.host(name).ns, cmd, ...args], opts);
  }

  /**
   * GETs `url` from inside host `name` with curl; rejects, as `fetch` does, when no answer
   * comes (refused, unreachable, or nothing within `timeoutMs`).
   */
  async fetch(name: string, url: string, timeoutMs = 2000): Promise<NetnsResponse> {
    const out = await new Deno.Command("ip", {
      args: [
        ...["netns", "exec", this.host(name).ns, "curl", "--silent", "--show-error"],
        ...["--max-time", String(timeoutMs / 1000), "--output", "-"],
        ...["--write-out", "%{stderr}%{http_code}", url],
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    if (out.code !== 0) throw new Error(`GET ${url} from ${name}: ${stderr}`);
    const body = out.stdout;
    return { status: Number(stderr), body, text: () => new TextDecoder().decode(body) };
  }

  /** Takes host `name`'s only link down, from inside its namespace: the host is cut off. */
  async linkDown(name: string): Promise<void> {
    await ip("-n", this.host(name).ns, "link", "set", "eth0", "down");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.#procs.map((p) => p.stop("SIGKILL")));
    // Whatever those programs left behind (a forked child) is killed by its PID.
    for (const ns of this.#namespaces) {
      const r = await runProcess("ip", ["netns", "pids", ns]).catch(() => null);
      for (const pid of r?.stdout.split(/\s+/).filter((s) => s !== "") ?? []) {
        try {
          Deno.kill(Number(pid), "SIGKILL");
        } catch { /* already gone */ }
      }
    }
    for (const ns of this.#namespaces.toReversed()) {
      await ip("netns", "del", ns).catch(() => {});
    }
  }
}
