/**
 * A throwaway Redis Sentinel group for tests: a master and one replica (`RedisServer`, with
 * `--replicaof`) and three `redis-server --sentinel` processes started from config files
 * generated in a temp directory, all on random loopback ports. Ready once the replica is in
 * sync and every Sentinel knows the replica and the two other Sentinels, so a failover can
 * be agreed on at once. The Sentinels declare the master down after `downAfterMs` (default
 * 500 ms), which keeps a failover within a couple of seconds. Everything is stopped and
 * removed on dispose.
 */
import { Redis } from "./ioredis.ts";
import type { RedisSentinelGroup } from "@cascade/common/config";
import { freePort } from "./ports.ts";
import { TestProcess } from "./process.ts";
import { REDIS_SERVER, RedisServer } from "./redis.ts";
import { GiveUp, waitFor } from "./wait.ts";
import { redisAnswersPing } from "../../tools/sys.ts";

export const MASTER_NAME = "mymaster";

export interface SentinelGroupOptions {
  /** Sentinel's `down-after-milliseconds` (default 500). */
  downAfterMs?: number;
  /** Sentinel's `failover-timeout` (default 2000 ms). */
  failoverTimeoutMs?: number;
  /** How long to wait for the group to be ready (default 20 s). */
  timeoutMs?: number;
}

interface Sentinel {
  port: number;
  proc: TestProcess;
}

/** A running master, replica and three Sentinels monitoring them as `mymaster`. */
export class SentinelGroup implements AsyncDisposable {
  readonly servers: RedisServer[];
  readonly sentinels: Sentinel[];
  readonly dir: string;

  private constructor(servers: RedisServer[], sentinels: Sentinel[], dir: string) {
    this.servers = servers;
    this.sentinels = sentinels;
    this.dir = dir;
  }

  static async start(opts: SentinelGroupOptions = {}): Promise<SentinelGroup> {
    const timeoutMs = opts.timeoutMs ?? 20_000;
    const dir = await Deno.makeTempDir({ prefix: "cascade-sentinel-" });
    const servers: RedisServer[] = [];
    const sentinels: Sentinel[] = [];
    const group = new SentinelGroup(servers, sentinels, dir);
    try {
      // A replica syncs at once instead of after the default 5 s wait for more replicas.
      const sync = ["--repl-diskless-sync-delay", "0"];
      const master = await RedisServer.start({ args: sync });
      servers.push(master);
      servers.push(
        await RedisServer.start({
          args: [...sync, "--replicaof", "127.0.0.1", String(master.port)],
        }),
      );
      await group.#waitForSync(master.port, timeoutMs);
      for (let i = 0; i < 3; i++) {
        sentinels.push(await startSentinel(dir, i, master.port, opts, timeoutMs));
      }
      await group.#waitForDiscovery(timeoutMs);
    } catch (err) {
      await group[Symbol.asyncDispose]();
      throw err;
    }
    return group;
  }

  /** What `RedisRegistry` takes as `sentinel`. */
  get group(): RedisSentinelGroup {
    return {
      sentinels: this.sentinels.map((s) => ({ host: "127.0.0.1", port: s.port })),
      name: MASTER_NAME,
    };
  }

  /** `REDIS_SENTINELS` for a process. */
  get env(): string {
    return this.sentinels.map((s) => `127.0.0.1:${s.port}`).join(",");
  }

  /** The master's port as the first Sentinel reports it. */
  async masterPort(): Promise<number> {
    return (await this.#askAll())[0]!;
  }

  /** The running server on `port`. */
  server(port: number): RedisServer {
    const server = this.servers.find((s) => s.port === port);
    if (server === undefined) throw new Error(`No redis-server of the group on port ${port}`);
    return server;
  }

  /**
   * Waits until every Sentinel names a master other than `oldPort` and that server answers
   * as a master; returns its port.
   */
  async waitForFailover(oldPort: number, timeoutMs = 20_000): Promise<number> {
    return await waitFor(`the Sentinels to promote a master other than :${oldPort}`, async () => {
      const ports = await this.#askAll();
      const port = ports[0]!;
      if (port === oldPort || ports.some((p) => p !== port)) return undefined;
      return (await this.role(port)) === "master" ? port : undefined;
    }, { timeoutMs, intervalMs: 100 });
  }

  /** Asks a Sentinel to fail over now (`SENTINEL FAILOVER`): the master stays up, demoted. */
  async forceFailover(): Promise<void> {
    await withClient(this.sentinels[0]!.port, (c) => c.call("SENTINEL", "failover", MASTER_NAME));
  }

  /** `master` or `slave`: what the server on `port` says it is (`ROLE`). */
  async role(port: number): Promise<string> {
    return String((await withClient(port, (c) => c.role()))[0]);
  }

  /** The value of `key` on the server on `port`. */
  async get(port: number, key: string): Promise<string | null> {
    return await withClient(port, (c) => c.get(key));
  }

  /** Kills master and replica together: nothing is left to fail over to. */
  async stopAll(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.kill()));
  }

  /**
   * Brings master and replica of `stopAll` back empty, the master first; resolves once the
   * replica is in sync and no Sentinel holds the master down, so none fails over to the
   * replica meanwhile. Only for a group that has not failed over.
   */
  async restartAll(timeoutMs = 20_000): Promise<void> {
    const [master, ...replicas] = this.servers;
    await master!.restart();
    await waitFor("every Sentinel to see the master up", async () => {
      for (const s of this.sentinels) {
        const info = await sentinelMaster(s.port);
        if (info.get("flags") !== "master") return false;
      }
      return true;
    }, { timeoutMs, intervalMs: 50 });
    for (const replica of replicas) await replica.restart();
    await this.#waitForSync(master!.port, timeoutMs);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.sentinels.map((s) => s.proc.stop("SIGKILL")));
    await Promise.all(this.servers.map((s) => s[Symbol.asyncDispose]()));
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  async #askAll(): Promise<number[]> {
    return await Promise.all(this.sentinels.map(async (s) => {
      const addr = await withClient(
        s.port,
        (c) => c.call("SENTINEL", "get-master-addr-by-name", MASTER_NAME),
      ) as [string, string];
      return Number(addr[1]);
    }));
  }

  async #waitForSync(masterPort: number, timeoutMs: number): Promise<void> {
    await waitFor("the replica to be in sync", async () => {
      const info = await withClient(masterPort, (c) => c.info("replication"));
      return /^slave0:.*state=online/m.test(info);
    }, { timeoutMs, intervalMs: 50 });
  }

  async #waitForDiscovery(timeoutMs: number): Promise<void> {
    await waitFor("every Sentinel to know the replica and the other Sentinels", async () => {
      for (const s of this.sentinels) {
        if (s.proc.exited) throw new GiveUp(`sentinel exited:\n${s.proc.output.slice(-2000)}`);
        const info = await sentinelMaster(s.port);
        if (info.get("num-slaves") !== "1" || info.get("num-other-sentinels") !== "2") {
          return false;
        }
      }
      return true;
    }, { timeoutMs, intervalMs: 100 });
  }
}

async function startSentinel(
  dir: string,
  index: number,
  masterPort: number,
  opts: SentinelGroupOptions,
  timeoutMs: number,
): Promise<Sentinel> {
  const port = freePort();
  const conf = `${dir}/sentinel-${index}.conf`;
  // Sentinel rewrites its file with what it learns, so each has its own writable copy.
  await Deno.writeTextFile(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${MASTER_NAME} ${opts.downAfterMs ?? 500}`,
      `sentinel failover-timeout ${MASTER_NAME} ${opts.failoverTimeoutMs ?? 2000}`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      "",
    ].join("\n"),
  );
  const proc = new TestProcess(REDIS_SERVER, { cwd: dir, args: [conf, "--sentinel"] });
  try {
    await waitFor(`sentinel ${index} to answer PING`, async () => {
      if (proc.exited) throw new GiveUp(`sentinel exited:\n${proc.output.slice(-2000)}`);
      return await redisAnswersPing(port);
    }, { timeoutMs, intervalMs: 20 });
  } catch (err) {
    await proc.stop("SIGKILL");
    throw err;
  }
  return { port, proc };
}

/** What the Sentinel on `port` knows of the master (`SENTINEL MASTER`), field by field. */
async function sentinelMaster(port: number): Promise<Map<string, string>> {
  const fields = await withClient(
    port,
    (c) => c.call("SENTINEL", "master", MASTER_NAME),
  ) as string[];
  const info = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) info.set(fields[i]!, fields[i + 1]!);
  return info;
}

/** Runs `fn` on a fresh connection to 127.0.0.1:`port` and closes it. */
async function withClient<T>(port: number, fn: (c: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    port,
    host: "127.0.0.1",
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 1000,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}
