/**
 * The local cluster (`tools/cluster.ts`) as a fixture for cross-service tests: started as a
 * real program on random ports in a temporary state directory, ready once it prints its table,
 * described by the `cluster.json` it writes, and stopped with SIGTERM so that it stops its own
 * roles (a SIGKILL would leave them running).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import type { ClusterInfo } from "../../tools/cluster.ts";
import { TestProcess } from "./process.ts";

const CLUSTER = fileURLToPath(new URL("../../tools/cluster.ts", import.meta.url));

export interface ClusterOptions {
  /** Also the nginx-rtmp origin with its discovery, and the nginx load balancer. */
  nginx?: boolean;
  /** Also the transcoder role with this profile (`--transcode`), e.g. `240p`. */
  transcode?: string;
  /** Added to the cluster's environment, which its roles inherit. */
  env?: Record<string, string>;
}

export interface TestCluster extends AsyncDisposable {
  info: ClusterInfo;
  process: TestProcess;
  /** Creates a stream through the admin API and returns its key. */
  createStream(name: string): Promise<string>;
  /** SIGTERM, as Ctrl-C would; resolves with the cluster's exit status. */
  stop(): Promise<Deno.CommandStatus>;
  /** Every PID the cluster started. */
  pids(): number[];
}

export async function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-cluster-" });
  const args = ["run", "-A", CLUSTER, "--dir", dir, "--random-ports"];
  if (opts.nginx) args.push("--nginx");
  if (opts.transcode) args.push("--transcode", opts.transcode);
  const proc = new TestProcess(Deno.execPath(), {
    args,
    env: { LOG_FORMAT: "json", ...opts.env },
  });
  const dispose = async () => {
    // Edges drain for up to 10 s; the cluster kills what is left after its own grace.
    await proc.stop("SIGTERM", 30_000);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  let info: ClusterInfo;
  try {
    await proc.waitForOutput(/Cascade cluster is up/, 120_000);
    info = JSON.parse(await Deno.readTextFile(`${dir}/cluster.json`));
  } catch (err) {
    await dispose();
    throw err;
  }
  return {
    info,
    process: proc,
    async createStream(name) {
      const res = await fetch(`${info.api.http}/api/v1/streams`, {
        method: "POST",
        headers: {
          authorization: `Bearer ${info.adminToken}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ name }),
      });
      const body = await res.json();
      assert.equal(res.status, 201, JSON.stringify(body));
      return body.streamKey;
    },
    stop: () => proc.stop("SIGTERM", 30_000),
    pids() {
      const pids = [info.api.pid, ...[...info.origins, ...info.edges].map((r) => r.pid)];
      if (info.redisPid !== null) pids.push(info.redisPid);
      if (info.nginx) {
        pids.push(info.nginx.origin.pid, info.nginx.discoveryPid, info.nginx.loadBalancer.pid);
      }
      return pids;
    },
    [Symbol.asyncDispose]: dispose,
  };
}

/** True while a process with this PID exists (a zombie counts as gone). */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Field 3, after the parenthesised command name, is the state.
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
