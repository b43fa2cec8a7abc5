/**
 * A throwaway `redis-server` for tests: started on a free loopback port in its own temp
 * directory with persistence off, ready once it answers PING, and removed with its directory
 * on dispose. `kill()` and `restart()` let a test take Redis away mid-run and bring it back on
 * the same port, which is how the registry's outage behaviour is exercised.
 */
import { freePort } from "./ports.ts";
import { TestProcess } from "./process.ts";
import { delay } from "./wait.ts";
import { redisAnswersPing } from "../../tools/sys.ts";

export const REDIS_SERVER = "redis-server";

export interface RedisServerOptions {
  /** Value for `notify-keyspace-events` (default `Ex`, so expirations are published). */
  keyspaceEvents?: string;
  /** How long to wait for PING to answer (default 10 s). */
  timeoutMs?: number;
  /** More command-line options, e.g. `["--replicaof", "127.0.0.1", "6379"]`. */
  args?: string[];
}

/** Sends one inline PING over a fresh connection; true when `+PONG` comes back. */
/** A running redis-server; `url` is what `RedisRegistry` and ioredis accept. */
export class RedisServer implements AsyncDisposable {
  readonly port: number;
  readonly dir: string;
  readonly #opts: Required<RedisServerOptions>;
  #proc: TestProcess | undefined;

  private constructor(port: number, dir: string, opts: Required<RedisServerOptions>) {
    this.port = port;
    this.dir = dir;
    this.#opts = opts;
  }

  /** Starts a server on a random free port and waits until it answers PING. */
  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = await Deno.makeTempDir({ prefix: "cascade-redis-" });
    const server = new RedisServer(freePort(), dir, {
      keyspaceEvents: opts.keyspaceEvents ?? "Ex",
      timeoutMs: opts.timeoutMs ?? 10_000,
      args: opts.args ?? [],
    });
    try {
      await server.restart();
    } catch (err) {
      await server[Symbol.asyncDispose]();
      throw err;
    }
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The current redis-server process (e.g. to SIGSTOP it), if one was started. */
  get process(): TestProcess | undefined {
    return this.#proc;
  }

  get running(): boolean {
    return this.#proc !== undefined && !this.#proc.exited;
  }

  /** (Re)starts the server on the same port; a fresh, empty dataset. */
  async restart(): Promise<void> {
    if (this.running) throw new Error(`redis-server already running on port ${this.port}`);
    const proc = new TestProcess(REDIS_SERVER, {
      cwd: this.dir,
      args: [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        this.dir,
        "--notify-keyspace-events",
        this.#opts.keyspaceEvents,
        ...this.#opts.args,
      ],
    });
    this.#proc = proc;
    const deadline = Date.now() + this.#opts.timeoutMs;
    // A port freed a moment ago can be taken by someone else; the output then says so.
    while (!(await redisAnswersPing(this.port))) {
      if (proc.exited) {
        throw new Error(`redis-server exited on port ${this.port}:\n${proc.output.slice(-2000)}`);
      }
      if (Date.now() > deadline) {
        await proc.stop("SIGKILL");
        throw new Error(`redis-server did not answer PING on port ${this.port} in time`);
      }
      await delay(20);
    }
  }

  /** Kills the server at once (SIGKILL), as a crash would. */
  async kill(): Promise<void> {
    await this.#proc?.stop("SIGKILL");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#proc?.stop("SIGTERM", 3000);
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Shorthand for `RedisServer.start`. */
export function startRedis(opts?: RedisServerOptions): Promise<RedisServer> {
  return RedisServer.start(opts);
}
