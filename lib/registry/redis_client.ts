/**
 * A Redis connection that stays up: `RedisClient` connects (through the Sentinels to the
 * current master, when given a Sentinel group), and whenever the connection is lost it
 * reconnects after `retryDelayMs(attempt)` until closed. Calls made while it is not ready fail
 * at once — there is no offline queue, so nothing stale is sent after an outage. A subscriber
 * client keeps its set of channels and subscribes them again on every new connection.
 *
 * Written for the registry on Deno's sockets rather than taken from a library: ioredis through
 * Node compatibility cost the origin ~17 MiB of its idle memory, this ~1 MiB (README,
 * Performance). Only what the registry uses is here: commands, subscriptions, AUTH/SELECT from
 * `redis[s]://[user:pass@]host:port[/db]`, Sentinel discovery with a check that the server
 * reached is a master, and Sentinel's `+switch-master` to leave a replaced master at once.
 */
import type { HostPort, RedisSentinelGroup } from "@cascade/common/config";
import type { Reply } from "./resp.ts";
import { type LinkAddress, openLink, type RespLink } from "./resp_link.ts";

/** Where the registry's data lives: one server by URL, or the master of a Sentinel group. */
export interface RedisServerAddress {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. */
  url?: string;
  /** Used instead of `url` when given; the master is always database 0. */
  sentinel?: RedisSentinelGroup;
}

export interface RedisClientOptions {
  server: RedisServerAddress;
  /** `CLIENT SETNAME`, so operators can tell the registry's connections apart. */
  connectionName: string;
  /** Longest a connection attempt (each Sentinel asked, then the server) may take. */
  connectTimeoutMs: number;
  /** Pause before reconnect attempt `attempt` (1, 2, …); the count restarts once connected. */
  retryDelayMs: (attempt: number) => number;
  /** A subscriber connection: `subscribe`/`unsubscribe` and `message` callbacks. */
  subscriber?: boolean;
  /** A connection whose oldest call has had no reply this long is dropped (default 10 s). */
  staleAfterMs?: number;
}

/**
 * `connecting`: an attempt is under way (the first or a reconnect); `ready`: calls go out;
 * `reconnecting`: waiting before the next attempt; `end`: closed for good.
 */
export type ClientStatus = "connecting" | "ready" | "reconnecting" | "end";

interface Target {
  address: LinkAddress;
  username?: string;
  password?: string;
  db: number;
}

/** A channel of a subscriber client and the confirmation of its current SUBSCRIBE. */
interface Channel {
  confirmed: PromiseWithResolvers<void>;
  isConfirmed: boolean;
}

type Listener<A extends unknown[]> = (...args: A) => void;

/** Failover detector restarts while the master connection stays up, ms. */
const DETECTOR_RETRY_MS = 1000;

export class RedisClient {
  readonly #o: RedisClientOptions;
  readonly #target: Target | undefined;
  readonly #sentinels: HostPort[];
  readonly #ready = new Set<Listener<[]>>();
  readonly #close = new Set<Listener<[Error]>>();
  readonly #message = new Set<Listener<[string, string]>>();
  readonly #channels = new Map<string, Channel>();
  #status: ClientStatus = "connecting";
  #link: RespLink | undefined;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #detector: RespLink | undefined;
  /** Which `#watchFailovers` call is current; an older one neither stores nor restarts. */
  #detectorRun = 0;
  #detectorRetry: ReturnType<typeof setTimeout> | undefined;
  #connecting: AbortController | undefined;
  /** Database of the data (0 through Sentinel). */
  readonly db: number;

  constructor(options: RedisClientOptions) {
    this.#o = options;
    const { url, sentinel } = options.server;
    if (sentinel !== undefined) {
      this.#sentinels = [...sentinel.sentinels];
      this.db = 0;
    } else if (url !== undefined) {
      this.#target = parseRedisUrl(url);
      this.#sentinels = [];
      this.db = this.#target.db;
    } else {
      throw new TypeError("Cannot connect to Redis: give a url or a sentinel group");
    }
    void this.#connect();
  }

  get status(): ClientStatus {
    return this.#status;
  }

  on(event: "ready", fn: Listener<[]>): void;
  on(event: "close", fn: Listener<[Error]>): void;
  on(event: "message", fn: Listener<[string, string]>): void;
  on(event: "ready" | "close" | "message", fn: Listener<never[]>): void {
    this.#listeners(event).add(fn);
  }

  off(event: "ready" | "close" | "message", fn: Listener<never[]>): void {
    this.#listeners(event).delete(fn);
  }

  /** One command; rejects at once unless the connection is ready. */
  call(...args: (string | number)[]): Promise<Reply> {
    if (this.#link === undefined) {
      return Promise.reject(new Error(`connection is ${this.#status}`));
    }
    return this.#link.call(args);
  }

  /**
   * Subscribes `channel` (subscriber clients); resolves once the server confirms, which waits
   * for the next connection while there is none. The caller bounds the wait.
   */
  subscribe(channel: string): Promise<void> {
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      entry = { confirmed: Promise.withResolvers(), isConfirmed: false };
      entry.confirmed.promise.catch(() => {});
      this.#channels.set(channel, entry);
      if (this.#link !== undefined) this.#sendSubscribe(this.#link, channel, entry);
    }
    return entry.confirmed.promise;
  }

  /** Forgets `channel`: not subscribed again after a reconnect, unsubscribed now if connected. */
  async unsubscribe(channel: string): Promise<void> {
    const entry = this.#channels.get(channel);
    if (entry === undefined) return;
    this.#channels.delete(channel);
    entry.confirmed.reject(new Error(`unsubscribed from ${channel}`));
    if (this.#link !== undefined) await this.#link.call(["UNSUBSCRIBE", channel]);
  }

  /** Drops the connection now; a new one is made as after any loss. */
  reconnect(reason: Error): void {
    this.#link?.close(reason);
  }

  /** Closes for good; resolves once the socket is closed. */
  async close(): Promise<void> {
    if (this.#status === "end") return;
    this.#status = "end";
    clearTimeout(this.#retry);
    clearTimeout(this.#detectorRetry);
    this.#connecting?.abort(new Error("client closed"));
    this.#detector?.close();
    for (const entry of this.#channels.values()) entry.confirmed.reject(new Error("client closed"));
    this.#channels.clear();
    const link = this.#link;
    this.#link = undefined;
    if (link !== undefined) {
      link.close(new Error("client closed"));
      await link.closed;
    }
  }

  /** Read through a method: `close()` may have run during any await. */
  #ended(): boolean {
    return this.#status === "end";
  }

  #listeners(event: "ready" | "close" | "message"): Set<Listener<never[]>> {
    if (event === "ready") return this.#ready as Set<Listener<never[]>>;
    if (event === "close") return this.#close as Set<Listener<never[]>>;
    return this.#message as Set<Listener<never[]>>;
  }

  async #connect(): Promise<void> {
    this.#status = "connecting";
    const attempt = new AbortController();
    this.#connecting = attempt;
    let link: RespLink;
    let sentinel: HostPort | undefined;
    try {
      const target = this.#target ?? await this.#askSentinels(attempt.signal);
      sentinel = this.#target === undefined ? this.#sentinels[0] : undefined;
      const timer = setTimeout(
        () => attempt.abort(new Error(`no connection within ${this.#o.connectTimeoutMs} ms`)),
        this.#o.connectTimeoutMs,
      );
      try {
        link = await this.#handshake(target, attempt.signal);
      } finally {
        clearTimeout(timer);
      }
    } catch (err) {
      if (this.#ended()) return;
      this.#lost(err instanceof Error ? err : new Error(String(err)));
      return;
    } finally {
      this.#connecting = undefined;
    }
    if (this.#ended()) {
      link.close();
      return;
    }
    this.#link = link;
    this.#attempt = 0;
    this.#status = "ready";
    void link.closed.then((reason) => {
      if (this.#link !== link) return;
      this.#link = undefined;
      if (this.#status !== "end") this.#lost(reason);
    });
    for (const [channel, entry] of this.#channels) this.#sendSubscribe(link, channel, entry);
    if (sentinel !== undefined) this.#watchFailovers(sentinel);
    for (const fn of [...this.#ready]) fn();
  }

  /** Opens the server's connection and makes it ours: AUTH, SELECT, name, master check. */
  async #handshake(target: Target, signal: AbortSignal): Promise<RespLink> {
    const onMessage = this.#o.subscriber
      ? (channel: string, message: string) => {
        for (const fn of [...this.#message]) fn(channel, message);
      }
      : undefined;
    const link = await openLink(target.address, signal, onMessage, this.#o.staleAfterMs);
    const onAbort = () => link.close(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      if (target.password !== undefined) {
        await link.call(
          target.username === undefined
            ? ["AUTH", target.password]
            : ["AUTH", target.username, target.password],
        );
      }
      if (target.db !== 0) await link.call(["SELECT", target.db]);
      await link.call(["CLIENT", "SETNAME", this.#o.connectionName]);
      if (this.#target === undefined) {
        const role = await link.call(["ROLE"]);
        const name = Array.isArray(role) ? role[0] : role;
        if (name !== "master") {
          throw new Error(
            `${target.address.host}:${target.address.port} is a ${name}, not the master`,
          );
        }
      }
      return link;
    } catch (err) {
      link.close();
      throw err;
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }

  /**
   * The master's address as the first Sentinel that knows it says; that Sentinel moves to the
   * front, one that fails to the back, so a dead Sentinel costs one timeout, not one per attempt.
   */
  async #askSentinels(signal: AbortSignal): Promise<Target> {
    const group = this.#o.server.sentinel!;
    const failures: string[] = [];
    for (const sentinel of [...this.#sentinels]) {
      const ask = AbortSignal.any([signal, AbortSignal.timeout(this.#o.connectTimeoutMs)]);
      let link: RespLink | undefined;
      try {
        link = await openLink({ host: sentinel.host, port: sentinel.port }, ask);
        const current = link;
        ask.addEventListener("abort", () => current.close(ask.reason), { once: true });
        if (group.sentinelPassword !== undefined) await link.call(["AUTH", group.sentinelPassword]);
        const reply = await link.call(["SENTINEL", "get-master-addr-by-name", group.name]);
        if (!Array.isArray(reply) || reply.length !== 2) {
          throw new Error("does not know the master");
        }
        this.#rotate(sentinel, "front");
        return {
          address: { host: String(reply[0]), port: Number(reply[1]) },
          password: group.password,
          db: 0,
        };
      } catch (err) {
        signal.throwIfAborted();
        this.#rotate(sentinel, "back");
        failures.push(`${sentinel.host}:${sentinel.port} ${(err as Error).message}`);
      } finally {
        link?.close();
      }
    }
    throw new Error(`no Sentinel named the master ${group.name}: ${failures.join("; ")}`);
  }

  #rotate(sentinel: HostPort, to: "front" | "back"): void {
    const i = this.#sentinels.indexOf(sentinel);
    if (i === -1) return;
    this.#sentinels.splice(i, 1);
    if (to === "front") this.#sentinels.unshift(sentinel);
    else this.#sentinels.push(sentinel);
  }

  /**
   * Listens on a Sentinel for `+switch-master` of our group and drops the connection when it
   * comes: a master replaced while still up would otherwise take writes until it is demoted.
   */
  #watchFailovers(sentinel: HostPort): void {
    clearTimeout(this.#detectorRetry);
    this.#detector?.close();
    this.#detector = undefined;
    const run = ++this.#detectorRun;
    const group = this.#o.server.sentinel!;
    const signal = AbortSignal.timeout(this.#o.connectTimeoutMs);
    const onSwitch = (_channel: string, message: string) => {
      if (message.split(" ")[0] === group.name) this.reconnect(new Error("master switched"));
    };
    void (async () => {
      const link = await openLink({ host: sentinel.host, port: sentinel.port }, signal, onSwitch);
      if (run !== this.#detectorRun || this.#status === "end") return link.close();
      this.#detector = link;
      if (group.sentinelPassword !== undefined) await link.call(["AUTH", group.sentinelPassword]);
      await link.call(["SUBSCRIBE", "+switch-master"]);
      await link.closed;
    })().catch(() => {}).finally(() => {
      if (run !== this.#detectorRun || this.#status !== "ready") return;
      // The Sentinel went away while the master stayed: listen on the next one.
      this.#detectorRetry = setTimeout(() => {
        if (this.#status === "ready") this.#watchFailovers(this.#sentinels[1] ?? sentinel);
      }, DETECTOR_RETRY_MS);
    });
  }

  #sendSubscribe(link: RespLink, channel: string, entry: Channel): void {
    link.call(["SUBSCRIBE", channel]).then(() => {
      if (this.#channels.get(channel) !== entry) return;
      entry.isConfirmed = true;
      entry.confirmed.resolve();
    }, () => {
      // The connection went; the next one subscribes again.
    });
  }

  #lost(reason: Error): void {
    for (const entry of this.#channels.values()) {
      if (!entry.isConfirmed) continue;
      // Wait again for the next connection's confirmation.
      entry.isConfirmed = false;
      entry.confirmed = Promise.withResolvers();
      entry.confirmed.promise.catch(() => {});
    }
    this.#status = "reconnecting";
    for (const fn of [...this.#close]) fn(reason);
    this.#attempt++;
    this.#retry = setTimeout(() => void this.#connect(), this.#o.retryDelayMs(this.#attempt));
  }
}

/** `redis[s]://[user:pass@]host[:port][/db]`. */
export function parseRedisUrl(url: string): Target {
  const u = new URL(url);
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new TypeError("Redis URL must start with redis:// or rediss://");
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new TypeError("Redis URL has a bad database number");
  return {
    address: {
      host: u.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: u.port === "" ? 6379 : Number(u.port),
      tls: u.protocol === "rediss:",
    },
    username: u.username === "" ? undefined : decodeURIComponent(u.username),
    password: u.password === "" ? undefined : decodeURIComponent(u.password),
    db,
  };
}
