/**
 * Connection handling for `RedisRegistry` around ioredis: connect to one server or to the
 * current master of a Sentinel group, wait for a connection that is still being made but fail
 * at once on one that is lost, bound every call by a deadline, tell an unreachable server from
 * a refused request, and close a connection only once ioredis has let go of its socket.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { RedisSentinelGroup } from "@cascade/common/config";
import { RegistryUnavailableError } from "./errors.ts";

/** Where the registry's data lives: one server by URL, or the master of a Sentinel group. */
export interface RedisServerAddress {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. */
  url?: string;
  /** Used instead of `url` when given; the master is always database 0. */
  sentinel?: RedisSentinelGroup;
}

/**
 * A connection to `server` with `options`. Through Sentinels, ioredis asks them for the
 * master's address on every (re)connect and checks that the server it reaches is a master, so
 * a reconnect after a failover lands on the promoted replica. A master that is still up when
 * it is replaced (a forced failover, a healed partition) keeps taking writes until the
 * Sentinels demote it, 8 s or more later; the failover detector listens for the Sentinels'
 * `+switch-master` and reconnects at once, so writes move to the new master with it.
 */
export function connect(server: RedisServerAddress, options: RedisOptions): Redis {
  if (server.sentinel !== undefined) {
    const { sentinels, name, password, sentinelPassword } = server.sentinel;
    return new Redis({
      ...options,
      sentinels,
      name,
      role: "master",
      password,
      sentinelPassword,
      failoverDetector: true,
      // A Sentinel that accepts the connection but never answers must not stall a reconnect.
      sentinelCommandTimeout: options.connectTimeout,
    });
  }
  if (server.url !== undefined) return new Redis(server.url, options);
  throw new TypeError("Cannot connect to Redis: give a url or a sentinel group");
}

/**
 * For ioredis's `reconnectOnError`: a master demoted by a failover answers writes with
 * READONLY while it stays reachable; reconnecting (1) asks again where the master is. The
 * failed command is not resent: the caller sees `RegistryUnavailableError` and tries later.
 */
export function reconnectOnReadOnly(err: Error): 1 | false {
  return err.message.startsWith("READONLY") ? 1 : false;
}

/** Waits for the connection to be ready if it is being made; fails at once if it is lost. */
export function whenReady(client: Redis, signal: AbortSignal): Promise<void> {
  const status = client.status;
  if (status === "ready") return Promise.resolve();
  if (status !== "wait" && status !== "connecting" && status !== "connect") {
    return Promise.reject(new RegistryUnavailableError(`connection is ${status}`));
  }
  return new Promise((resolve, reject) => {
    const finish = (err?: Error) => {
      client.off("ready", onReady);
      client.off("close", onClose);
      signal.removeEventListener("abort", onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onReady = () => finish();
    const onClose = () => finish(new RegistryUnavailableError("connection failed"));
    const onAbort = () => finish(new RegistryUnavailableError("connection not ready in time"));
    client.on("ready", onReady);
    client.on("close", onClose);
    signal.addEventListener("abort", onAbort);
  });
}

/**
 * Settles like `promise` unless `ms` pass first, in which case it rejects with
 * `RegistryUnavailableError` and aborts `abort`; a late settlement is ignored.
 */
export function withDeadline<T>(
  promise: Promise<T>,
  ms: number,
  abort: AbortController,
): Promise<T> {
  promise.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new RegistryUnavailableError(`no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** Server replies that mean "not serving right now" rather than "your request is wrong". */
const TRANSIENT_REPLY = /^(LOADING|MASTERDOWN|READONLY|BUSY|TRYAGAIN|CLUSTERDOWN)\b/;

/**
 * A server's refusal of the request itself stays as it is; anything else (no connection, no
 * answer in time, a server not serving right now) becomes `RegistryUnavailableError`.
 */
export function classify(err: unknown): unknown {
  if (err instanceof RegistryUnavailableError) return err;
  if (err instanceof Error && err.name === "ReplyError" && !TRANSIENT_REPLY.test(err.message)) {
    return err;
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new RegistryUnavailableError(detail, { cause: err });
}

/** Closes a connection and waits until ioredis has let go of its socket. */
export function disconnect(client: Redis): Promise<void> {
  const status = client.status;
  if (status === "end") return Promise.resolve();
  if (status === "reconnecting" || status === "close") {
    // No socket is open; disconnect() only cancels the pending reconnect.
    client.disconnect();
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    client.once("end", () => resolve());
    client.disconnect();
  });
}
