/**
 * Connection handling for `RedisRegistry` around `RedisClient`: wait for a connection that is
 * still being made but fail at once on one that is lost, bound every call by a deadline, tell
 * an unreachable server from a refused request, and leave a master that answers READONLY.
 */
import type { RedisClient } from "./redis_client.ts";
import { ReplyError } from "./resp.ts";
import { RegistryUnavailableError } from "./errors.ts";

/**
 * A master demoted by a failover answers writes with READONLY while it stays reachable;
 * reconnecting asks the Sentinels again where the master is. The failed command is not
 * resent: the caller sees `RegistryUnavailableError` and tries later.
 */
export function leaveReadOnly(client: RedisClient, err: unknown): void {
  if (err instanceof ReplyError && err.message.startsWith("READONLY")) client.reconnect(err);
}

/** Waits for the connection to be ready if it is being made; fails at once if it is lost. */
export function whenReady(client: RedisClient, signal: AbortSignal): Promise<void> {
  const status = client.status;
  if (status === "ready") return Promise.resolve();
  if (status !== "connecting") {
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
  if (err instanceof ReplyError && !TRANSIENT_REPLY.test(err.message)) {
    return err;
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new RegistryUnavailableError(detail, { cause: err });
}
