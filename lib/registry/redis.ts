/**
 * The registry in Redis (ioredis), shared by every process of a cluster. Keys follow
 * docs/architecture.md under a configurable prefix; multi-step writes are Lua scripts so claims
 * and releases are atomic. Calls never wait longer than `timeoutMs` (1.5 s by default):
 * the offline queue is off, so a call made while the connection is down fails at once
 * with `RegistryUnavailableError`, and one that gets no answer is abandoned at the
 * deadline. ioredis keeps reconnecting (at most `maxReconnectDelayMs` apart) and the
 * `onReconnect` callbacks run each time the connection is back.
 *
 * Events travel on `{prefix}events` over a second, subscriber connection. A stream that
 * dies by TTL is reported as `stream.down` (reason `expired`) only when the server has
 * keyspace notifications for expirations enabled (`notify-keyspace-events Ex`); without
 * them only explicit releases produce `stream.down`, and edges rely on their memo TTL.
 */
import { Redis, type RedisOptions } from "ioredis";
import { log as rootLog, type Logger } from "@cascade/common/log";
import { RegistryUnavailableError } from "./errors.ts";
import { startHeartbeat } from "./heartbeat.ts";
import {
  ANNOUNCE_VOD,
  CLAIM,
  DELETE_CONFIG,
  PUT_CONFIG,
  RELEASE,
  WITHDRAW_VOD,
} from "./redis_scripts.ts";
import type {
  ClaimResult,
  Heartbeat,
  NodeKind,
  NodeRecord,
  PutConfigResult,
  Registry,
  RegistryEvent,
  RegistryEventHandler,
  StreamConfig,
  StreamRecord,
  Unsubscribe,
  VodRecord,
} from "./types.ts";
import { HEARTBEAT_INTERVAL_MS, NODE_TTL_MS } from "./types.ts";
import {
  checkConfig,
  checkId,
  checkKeyHash,
  checkKind,
  checkName,
  checkNode,
  checkStream,
  checkTtl,
  checkVod,
} from "./validate.ts";
import { STREAM_NAME_RE } from "@cascade/common/config";

export const DEFAULT_PREFIX = "cascade:";

export interface RedisRegistryOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. */
  url: string;
  /** Prepended to every key and to the events channel (default `cascade:`). */
  prefix?: string;
  log?: Logger;
  /** Longest any call may take before it fails (default 1500 ms). */
  timeoutMs?: number;
  /** Longest pause between reconnect attempts (default 1000 ms). */
  maxReconnectDelayMs?: number;
}

/** Key names of the Redis schema (docs/architecture.md) under one prefix. */
class Keys {
  readonly prefix: string;
  readonly events: string;

  constructor(prefix: string) {
    this.prefix = prefix;
    this.events = `${prefix}events`;
  }

  stream(name: string): string {
    return `${this.prefix}stream:${name}`;
  }

  vod(name: string): string {
    return `${this.prefix}vod:${name}`;
  }

  node(kind: NodeKind, id: string): string {
    return `${this.prefix}node:${kind}:${id}`;
  }

  config(name: string): string {
    return `${this.prefix}streamcfg:${name}`;
  }

  key(keyHash: string): string {
    return `${this.prefix}key:${keyHash}`;
  }

  /** A SCAN MATCH pattern for keys starting with `prefix + rest`, the prefix taken literally. */
  match(rest: string): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, "\\$&")}${rest}*`;
  }
}

/** Server replies that mean "not serving right now" rather than "your request is wrong". */
const TRANSIENT_REPLY = /^(LOADING|MASTERDOWN|READONLY|BUSY|TRYAGAIN|CLUSTERDOWN)\b/;

export class RedisRegistry implements Registry {
  readonly #keys: Keys;
  readonly #client: Redis;
  readonly #clientOptions: RedisOptions;
  readonly #url: string;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #handlers = new Set<RegistryEventHandler>();
  readonly #reconnectCallbacks = new Set<() => void>();
  #subscriber: Redis | undefined;
  #subscribed: Promise<void> | undefined;
  #down = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(opts: RedisRegistryOptions) {
    this.#keys = new Keys(opts.prefix ?? DEFAULT_PREFIX);
    this.#url = opts.url;
    this.#log = (opts.log ?? rootLog).child({ component: "registry" });
    this.#timeoutMs = opts.timeoutMs ?? 1500;
    const maxDelay = opts.maxReconnectDelayMs ?? 1000;
    this.#clientOptions = {
      // Retry quickly so that state is re-announced within 2 s of Redis returning.
      retryStrategy: (attempt) => Math.min(attempt * 100, maxDelay),
      connectTimeout: Math.max(this.#timeoutMs, 1000),
      commandTimeout: this.#timeoutMs,
      connectionName: "cascade-registry",
    };
    this.#client = new Redis(this.#url, {
      ...this.#clientOptions,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    this.#client.on("ready", () => this.#onReady());
    this.#client.on("close", () => this.#onLost());
    this.#client.on("error", (err: Error) => this.#onLost(err));
  }

  // --- streams

  async claimStream(record: StreamRecord, ttlMs: number): Promise<ClaimResult> {
    checkStream(record);
    checkTtl(ttlMs);
    return await this.#writeStream(record, ttlMs, "claim");
  }

  async refreshStream(record: StreamRecord, ttlMs: number): Promise<ClaimResult> {
    checkStream(record);
    checkTtl(ttlMs);
    return await this.#writeStream(record, ttlMs, "refresh");
  }

  async releaseStream(name: string, originId: string): Promise<boolean> {
    checkName(name);
    checkId("origin id", originId);
    const event: RegistryEvent = {
      type: "stream.down",
      name,
      originId,
      at: Date.now(),
      reason: "released",
    };
    const released = await this.#run((c) =>
      RELEASE.run(c, [this.#keys.stream(name)], [
        originId,
        this.#keys.events,
        JSON.stringify(event),
      ])
    );
    return released === 1;
  }

  async getStream(name: string): Promise<StreamRecord | null> {
    checkName(name);
    const value = await this.#run((c) => c.get(this.#keys.stream(name)));
    return parseJson<StreamRecord>(value);
  }

  async listStreams(): Promise<StreamRecord[]> {
    return await this.#run(async (c) => {
      const values = await this.#scanValues(c, "stream:");
      return values.map((v) => parseJson<StreamRecord>(v)).filter((r) => r !== null);
    });
  }

  async kickStream(name: string): Promise<void> {
    checkName(name);
    await this.#run(async (c) => {
      const current = parseJson<StreamRecord>(await c.get(this.#keys.stream(name)));
      const event: RegistryEvent = {
        type: "stream.kick",
        name,
        originId: current?.originId ?? "",
        at: Date.now(),
      };
      await c.publish(this.#keys.events, JSON.stringify(event));
    });
  }

  // --- VOD

  async announceVod(record: VodRecord, ttlMs: number): Promise<boolean> {
    checkVod(record);
    checkTtl(ttlMs);
    const written = await this.#run((c) =>
      ANNOUNCE_VOD.run(c, [this.#keys.vod(record.name)], [
        JSON.stringify(record),
        record.originId,
        record.updatedAt,
        ttlMs,
      ])
    );
    return written === 1;
  }

  async withdrawVod(name: string, originId: string): Promise<boolean> {
    checkName(name);
    checkId("origin id", originId);
    const deleted = await this.#run((c) => WITHDRAW_VOD.run(c, [this.#keys.vod(name)], [originId]));
    return deleted === 1;
  }

  async getVod(name: string): Promise<VodRecord | null> {
    checkName(name);
    return parseJson<VodRecord>(await this.#run((c) => c.get(this.#keys.vod(name))));
  }

  // --- nodes

  async announceNode(node: NodeRecord, ttlMs = NODE_TTL_MS): Promise<void> {
    checkNode(node);
    checkTtl(ttlMs);
    await this.#run((c) =>
      c.set(this.#keys.node(node.kind, node.id), JSON.stringify(node), "PX", ttlMs)
    );
  }

  async removeNode(kind: NodeKind, id: string): Promise<boolean> {
    checkKind(kind);
    checkId("node id", id);
    return (await this.#run((c) => c.del(this.#keys.node(kind, id)))) === 1;
  }

  async getNode(kind: NodeKind, id: string): Promise<NodeRecord | null> {
    checkKind(kind);
    checkId("node id", id);
    return parseJson<NodeRecord>(await this.#run((c) => c.get(this.#keys.node(kind, id))));
  }

  async listNodes(kind?: NodeKind): Promise<NodeRecord[]> {
    if (kind !== undefined) checkKind(kind);
    return await this.#run(async (c) => {
      const values = await this.#scanValues(c, kind === undefined ? "node:" : `node:${kind}:`);
      return values.map((v) => parseJson<NodeRecord>(v)).filter((n) => n !== null);
    });
  }

  startHeartbeat(
    node: NodeRecord | (() => NodeRecord),
    intervalMs = HEARTBEAT_INTERVAL_MS,
    ttlMs = NODE_TTL_MS,
  ): Heartbeat {
    return startHeartbeat(this, node, intervalMs, ttlMs, this.#log);
  }

  // --- stream configuration and key lookups

  async putStreamConfig(
    cfg: StreamConfig,
    { onlyIfAbsent = false }: { onlyIfAbsent?: boolean } = {},
  ): Promise<PutConfigResult> {
    checkConfig(cfg);
    const result = await this.#run((c) =>
      PUT_CONFIG.run(c, [this.#keys.config(cfg.name), this.#keys.key(cfg.keyHash)], [
        cfg.name,
        cfg.keyHash,
        String(cfg.createdAt),
        cfg.disabled ? "1" : "0",
        cfg.record ? "1" : "0",
        onlyIfAbsent ? "1" : "0",
        this.#keys.key(""),
      ])
    );
    if (result === "ok" || result === "exists" || result === "key-in-use") return result;
    throw new TypeError(`Unexpected reply from config script: ${String(result)}`);
  }

  async getStreamConfig(name: string): Promise<StreamConfig | null> {
    checkName(name);
    const hash = await this.#run((c) => c.hgetall(this.#keys.config(name)));
    return toConfig(name, hash);
  }

  async listStreamConfigs(): Promise<StreamConfig[]> {
    return await this.#run(async (c) => {
      const keys = await this.#scanKeys(c, "streamcfg:");
      if (keys.length === 0) return [];
      const pipeline = c.pipeline();
      for (const key of keys) pipeline.hgetall(key);
      const replies = (await pipeline.exec()) ?? [];
      const out: StreamConfig[] = [];
      replies.forEach(([err, hash], i) => {
        if (err) throw err;
        const name = keys[i]!.slice(this.#keys.config("").length);
        const cfg = toConfig(name, hash as Record<string, string>);
        if (cfg !== null) out.push(cfg);
      });
      return out;
    });
  }

  async deleteStreamConfig(name: string): Promise<boolean> {
    checkName(name);
    const deleted = await this.#run((c) =>
      DELETE_CONFIG.run(c, [this.#keys.config(name)], [name, this.#keys.key("")])
    );
    return deleted === 1;
  }

  async resolveKeyHash(keyHash: string): Promise<string | null> {
    checkKeyHash(keyHash);
    return await this.#run((c) => c.get(this.#keys.key(keyHash)));
  }

  // --- events and lifecycle

  async subscribe(handler: RegistryEventHandler): Promise<Unsubscribe> {
    if (this.#closed) throw new RegistryUnavailableError("registry is closed");
    const entry: RegistryEventHandler = (event) => handler(event);
    this.#handlers.add(entry);
    try {
      await this.#ensureSubscribed();
    } catch (err) {
      this.#handlers.delete(entry);
      throw err;
    }
    return () => {
      this.#handlers.delete(entry);
    };
  }

  onReconnect(cb: () => void): Unsubscribe {
    const entry = () => cb();
    this.#reconnectCallbacks.add(entry);
    return () => {
      this.#reconnectCallbacks.delete(entry);
    };
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#handlers.clear();
    this.#reconnectCallbacks.clear();
    this.#closing = Promise.all([
      disconnect(this.#client),
      this.#subscriber ? disconnect(this.#subscriber) : undefined,
    ]).then(() => {});
    return this.#closing;
  }

  // --- internals

  async #writeStream(
    record: StreamRecord,
    ttlMs: number,
    mode: "claim" | "refresh",
  ): Promise<ClaimResult> {
    const event: RegistryEvent = {
      type: "stream.up",
      name: record.name,
      originId: record.originId,
      at: Date.now(),
    };
    const reply = await this.#run((c) =>
      CLAIM.run(c, [this.#keys.stream(record.name)], [
        JSON.stringify(record),
        record.originId,
        ttlMs,
        this.#keys.events,
        JSON.stringify(event),
        mode,
        JSON.stringify({ ...event, type: "stream.update", updatedAt: record.updatedAt }),
        String(record.updatedAt),
      ])
    );
    const [ok, detail] = reply as [number, string];
    if (ok === 1) return { ok: true, created: detail === "created" };
    const current = parseJson<StreamRecord>(detail === "" ? null : detail);
    return { ok: false, owner: current?.originId ?? null, current };
  }

  async #scanKeys(c: Redis, rest: string): Promise<string[]> {
    const keys = new Set<string>();
    let cursor = "0";
    do {
      const [next, batch] = await c.scan(cursor, "MATCH", this.#keys.match(rest), "COUNT", 500);
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== "0");
    return [...keys];
  }

  /** Values of the keys under `rest`; keys that vanish between SCAN and MGET are skipped. */
  async #scanValues(c: Redis, rest: string): Promise<string[]> {
    const keys = await this.#scanKeys(c, rest);
    const out: string[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const values = await c.mget(...keys.slice(i, i + 500));
      for (const v of values) if (v !== null) out.push(v);
    }
    return out;
  }

  /**
   * Runs `fn` against the command connection within the time budget. While the first
   * connection is still being made it waits for it; once lost, it fails at once.
   */
  async #run<T>(fn: (c: Redis) => Promise<T>): Promise<T> {
    if (this.#closed) throw new RegistryUnavailableError("registry is closed");
    const abort = new AbortController();
    const attempt = (async () => {
      await whenReady(this.#client, abort.signal);
      return await fn(this.#client);
    })();
    try {
      return await withDeadline(attempt, this.#timeoutMs, abort);
    } catch (err) {
      throw this.#classify(err);
    }
  }

  #classify(err: unknown): unknown {
    if (err instanceof RegistryUnavailableError) return err;
    if (err instanceof Error && err.name === "ReplyError" && !TRANSIENT_REPLY.test(err.message)) {
      return err;
    }
    const detail = err instanceof Error ? err.message : String(err);
    return new RegistryUnavailableError(detail, { cause: err });
  }

  #ensureSubscribed(): Promise<void> {
    if (this.#subscribed) return this.#subscribed;
    const sub = this.#subscriber ??= this.#createSubscriber();
    const abort = new AbortController();
    const db = this.#client.options.db ?? 0;
    const done = withDeadline(
      sub.subscribe(this.#keys.events, `__keyevent@${db}__:expired`).then(() => {}),
      this.#timeoutMs,
      abort,
    ).catch((err) => {
      this.#subscribed = undefined;
      throw this.#classify(err);
    });
    this.#subscribed = done;
    return done;
  }

  #createSubscriber(): Redis {
    // Queues SUBSCRIBE until connected and re-subscribes by itself after every reconnect.
    const sub = new Redis(this.#url, {
      ...this.#clientOptions,
      commandTimeout: undefined,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
    });
    sub.on("error", (err: Error) => this.#log.debug("registry.subscriber_error", { error: err }));
    sub.on("message", (channel: string, message: string) => this.#onMessage(channel, message));
    return sub;
  }

  #onMessage(channel: string, message: string): void {
    let event: RegistryEvent | null;
    if (channel === this.#keys.events) {
      event = parseEvent(message);
      if (event === null) {
        this.#log.warn("registry.bad_event", { channel, bytes: message.length });
        return;
      }
    } else {
      // An expiry notification: the message is the key that expired.
      const streamKey = this.#keys.stream("");
      if (!message.startsWith(streamKey)) return;
      const name = message.slice(streamKey.length);
      if (!STREAM_NAME_RE.test(name)) return;
      event = { type: "stream.down", name, originId: "", at: Date.now(), reason: "expired" };
    }
    for (const handler of [...this.#handlers]) {
      try {
        handler(event);
      } catch (err) {
        this.#log.error("registry.callback_failed", { callback: "event", error: err });
      }
    }
  }

  #onLost(err?: Error): void {
    if (this.#closed || this.#down) return;
    this.#down = true;
    this.#log.warn("registry.unreachable", { error: err ?? "connection closed" });
  }

  #onReady(): void {
    if (!this.#down) return;
    this.#down = false;
    this.#log.info("registry.reconnected");
    for (const cb of [...this.#reconnectCallbacks]) {
      try {
        cb();
      } catch (err) {
        this.#log.error("registry.callback_failed", { callback: "reconnect", error: err });
      }
    }
  }
}

/** Waits for the connection to be ready if it is being made; fails at once if it is lost. */
function whenReady(client: Redis, signal: AbortSignal): Promise<void> {
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
function withDeadline<T>(promise: Promise<T>, ms: number, abort: AbortController): Promise<T> {
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

/** Closes a connection and waits until ioredis has let go of its socket. */
function disconnect(client: Redis): Promise<void> {
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

function parseJson<T>(value: string | null): T | null {
  if (value === null) return null;
  try {
    const parsed = JSON.parse(value);
    return typeof parsed === "object" && parsed !== null ? parsed as T : null;
  } catch {
    return null;
  }
}

function parseEvent(message: string): RegistryEvent | null {
  const e = parseJson<Record<string, unknown>>(message);
  if (e === null || typeof e.name !== "string" || typeof e.originId !== "string") return null;
  if (typeof e.at !== "number") return null;
  if (e.type === "stream.up" || e.type === "stream.kick") {
    return { type: e.type, name: e.name, originId: e.originId, at: e.at };
  }
  if (e.type === "stream.update" && typeof e.updatedAt === "number") {
    return { type: e.type, name: e.name, originId: e.originId, at: e.at, updatedAt: e.updatedAt };
  }
  if (e.type === "stream.down") {
    const reason = e.reason === "expired" ? "expired" : "released";
    return { type: "stream.down", name: e.name, originId: e.originId, at: e.at, reason };
  }
  return null;
}

function toConfig(name: string, hash: Record<string, string> | null): StreamConfig | null {
  if (hash === null || hash.keyHash === undefined) return null;
  return {
    name,
    keyHash: hash.keyHash,
    createdAt: Number(hash.createdAt ?? 0),
    disabled: hash.disabled === "1",
    record: hash.record === "1",
  };
}
