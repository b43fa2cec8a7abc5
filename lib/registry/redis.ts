/**
 * The registry in Redis (`RedisClient` on Deno's sockets), shared by every process of a cluster. Keys follow
 * docs/architecture.md under a configurable prefix; multi-step writes are Lua scripts so claims
 * and releases are atomic. Calls never wait longer than `timeoutMs` (1.5 s by default):
 * there is no offline queue, so a call made while the connection is down fails at once
 * with `RegistryUnavailableError`, and one that gets no answer is abandoned at the
 * deadline. The client keeps reconnecting (at most `maxReconnectDelayMs` apart) and the
 * `onReconnect` callbacks run each time the connection is back.
 *
 * Through Redis Sentinel (`sentinel`), every reconnect goes to the master the Sentinels name,
 * so a failover looks like a short outage: the old master's death (or Sentinel closing the
 * clients of a demoted one, or its READONLY answer) drops the connection, the reconnect
 * reaches the promoted replica, and the `onReconnect` callbacks re-announce what the
 * replica may not have received before the failover. Scripts run by EVALSHA fall back to EVAL
 * there, because a promoted replica's script cache is empty.
 *
 * Events travel over a second, subscriber connection (`redis_events.ts`): every stream's
 * lifecycle on `{prefix}events`, everything about one stream (its playlist updates too) on
 * `{prefix}events:{name}`. A stream that dies by TTL is reported as `stream.down` (reason
 * `expired`) only when the server has keyspace notifications for expirations enabled
 * (`notify-keyspace-events Ex`); without them only explicit releases produce `stream.down`,
 * and edges rely on their memo TTL.
 */
import { log as rootLog, type Logger } from "@cascade/common/log";
import { CallbackSet } from "./callbacks.ts";
import { classify, leaveReadOnly, whenReady, withDeadline } from "./redis_connection.ts";
import { RedisClient, type RedisClientOptions, type RedisServerAddress } from "./redis_client.ts";
import type { Reply } from "./resp.ts";
import { RedisEvents } from "./redis_events.ts";
import { RedisKeys } from "./redis_keys.ts";
import { parseJson, toConfig } from "./redis_records.ts";
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
  Replacing,
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
  checkReplacing,
  checkStream,
  checkTtl,
  checkVod,
} from "./validate.ts";

export const DEFAULT_PREFIX = "cascade:";

/** `url` or `sentinel` (which wins) says where Redis is. */
export interface RedisRegistryOptions extends RedisServerAddress {
  /** Prepended to every key and to the events channel (default `cascade:`). */
  prefix?: string;
  log?: Logger;
  /** Longest any call may take before it fails (default 1500 ms). */
  timeoutMs?: number;
  /** Longest pause between reconnect attempts (default 1000 ms). */
  maxReconnectDelayMs?: number;
}

export class RedisRegistry implements Registry {
  readonly #keys: RedisKeys;
  readonly #client: RedisClient;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #events: RedisEvents;
  readonly #reconnectCallbacks: CallbackSet<[]>;
  #down = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(opts: RedisRegistryOptions) {
    this.#keys = new RedisKeys(opts.prefix ?? DEFAULT_PREFIX);
    this.#log = (opts.log ?? rootLog).child({ component: "registry" });
    this.#reconnectCallbacks = new CallbackSet("reconnect", this.#log);
    this.#timeoutMs = opts.timeoutMs ?? 1500;
    const maxDelay = opts.maxReconnectDelayMs ?? 1000;
    const clientOptions: RedisClientOptions = {
      server: { url: opts.url, sentinel: opts.sentinel },
      // Retry quickly so that state is re-announced within 2 s of Redis returning.
      retryDelayMs: (attempt) => Math.min(attempt * 100, maxDelay),
      connectTimeoutMs: Math.max(this.#timeoutMs, 1000),
      connectionName: "cascade-registry",
    };
    this.#client = new RedisClient(clientOptions);
    this.#events = new RedisEvents({
      clientOptions,
      keys: this.#keys,
      db: this.#client.db,
      timeoutMs: this.#timeoutMs,
      log: this.#log,
    });
    this.#client.on("ready", () => this.#onReady());
    this.#client.on("close", (err) => this.#onLost(err));
  }

  // --- streams

  async claimStream(
    record: StreamRecord,
    ttlMs: number,
    opts: { replacing?: Replacing } = {},
  ): Promise<ClaimResult> {
    checkStream(record);
    checkTtl(ttlMs);
    if (opts.replacing !== undefined) checkReplacing(opts.replacing);
    return await this.#writeStream(record, ttlMs, "claim", opts.replacing);
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
        this.#keys.streamEvents(name),
      ])
    );
    return released === 1;
  }

  async getStream(name: string): Promise<StreamRecord | null> {
    checkName(name);
    return parseJson<StreamRecord>(await this.#run((c) => get(c, this.#keys.stream(name))));
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
      const current = parseJson<StreamRecord>(await get(c, this.#keys.stream(name)));
      const event: RegistryEvent = {
        type: "stream.kick",
        name,
        originId: current?.originId ?? "",
        at: Date.now(),
      };
      const message = JSON.stringify(event);
      await Promise.all([
        c.call("PUBLISH", this.#keys.events, message),
        c.call("PUBLISH", this.#keys.streamEvents(name), message),
      ]);
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
    return parseJson<VodRecord>(await this.#run((c) => get(c, this.#keys.vod(name))));
  }

  // --- nodes

  async announceNode(node: NodeRecord, ttlMs = NODE_TTL_MS): Promise<void> {
    checkNode(node);
    checkTtl(ttlMs);
    await this.#run((c) =>
      c.call("SET", this.#keys.node(node.kind, node.id), JSON.stringify(node), "PX", ttlMs)
    );
  }

  async removeNode(kind: NodeKind, id: string): Promise<boolean> {
    checkKind(kind);
    checkId("node id", id);
    return (await this.#run((c) => c.call("DEL", this.#keys.node(kind, id)))) === 1;
  }

  async getNode(kind: NodeKind, id: string): Promise<NodeRecord | null> {
    checkKind(kind);
    checkId("node id", id);
    return parseJson<NodeRecord>(await this.#run((c) => get(c, this.#keys.node(kind, id))));
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
        cfg.transcode ?? "",
      ])
    );
    if (result === "ok" || result === "exists" || result === "key-in-use") return result;
    throw new TypeError(`Unexpected reply from config script: ${String(result)}`);
  }

  async getStreamConfig(name: string): Promise<StreamConfig | null> {
    checkName(name);
    const hash = await this.#run((c) => hgetall(c, this.#keys.config(name)));
    return toConfig(name, hash);
  }

  async listStreamConfigs(): Promise<StreamConfig[]> {
    return await this.#run(async (c) => {
      const keys = await this.#scanKeys(c, "streamcfg:");
      if (keys.length === 0) return [];
      // Sent in one write; the replies come back in order.
      const hashes = await Promise.all(keys.map((key) => hgetall(c, key)));
      const out: StreamConfig[] = [];
      hashes.forEach((hash, i) => {
        const name = keys[i]!.slice(this.#keys.config("").length);
        const cfg = toConfig(name, hash);
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
    return await this.#run((c) => get(c, this.#keys.key(keyHash)));
  }

  // --- events and lifecycle

  async subscribe(handler: RegistryEventHandler): Promise<Unsubscribe> {
    if (this.#closed) throw new RegistryUnavailableError("registry is closed");
    return await this.#events.subscribe(handler);
  }

  async subscribeStream(name: string, handler: RegistryEventHandler): Promise<Unsubscribe> {
    if (this.#closed) throw new RegistryUnavailableError("registry is closed");
    checkName(name);
    return await this.#events.subscribeStream(name, handler);
  }

  onReconnect(cb: () => void): Unsubscribe {
    return this.#reconnectCallbacks.add(cb);
  }

  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    this.#reconnectCallbacks.clear();
    this.#closing = Promise.all([this.#client.close(), this.#events.close()]).then(() => {});
    return this.#closing;
  }

  // --- internals

  async #writeStream(
    record: StreamRecord,
    ttlMs: number,
    mode: "claim" | "refresh",
    replacing?: Replacing,
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
        this.#keys.streamEvents(record.name),
        replacing?.originId ?? "",
        String(replacing?.updatedAt ?? ""),
      ])
    );
    const [ok, detail] = reply as [number, string];
    if (ok === 1) return { ok: true, created: detail === "created" };
    const current = parseJson<StreamRecord>(detail === "" ? null : detail);
    return { ok: false, owner: current?.originId ?? null, current };
  }

  async #scanKeys(c: RedisClient, rest: string): Promise<string[]> {
    const keys = new Set<string>();
    let cursor = "0";
    do {
      const reply = await c.call("SCAN", cursor, "MATCH", this.#keys.match(rest), "COUNT", 500);
      const [next, batch] = reply as [string, string[]];
      for (const key of batch) keys.add(key);
      cursor = next;
    } while (cursor !== "0");
    return [...keys];
  }

  /** Values of the keys under `rest`; keys that vanish between SCAN and MGET are skipped. */
  async #scanValues(c: RedisClient, rest: string): Promise<string[]> {
    const keys = await this.#scanKeys(c, rest);
    const out: string[] = [];
    for (let i = 0; i < keys.length; i += 500) {
      const values = await c.call("MGET", ...keys.slice(i, i + 500)) as (string | null)[];
      for (const v of values) if (v !== null) out.push(v);
    }
    return out;
  }

  /**
   * Runs `fn` against the command connection within the time budget. While the first
   * connection is still being made it waits for it; once lost, it fails at once.
   */
  async #run<T>(fn: (c: RedisClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new RegistryUnavailableError("registry is closed");
    const abort = new AbortController();
    const attempt = (async () => {
      await whenReady(this.#client, abort.signal);
      return await fn(this.#client);
    })();
    try {
      return await withDeadline(attempt, this.#timeoutMs, abort);
    } catch (err) {
      leaveReadOnly(this.#client, err);
      throw classify(err);
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
    this.#reconnectCallbacks.run();
  }
}

function get(c: RedisClient, key: string): Promise<string | null> {
  return c.call("GET", key) as Promise<string | null>;
}

/** HGETALL's flat field/value list as an object (empty when the key does not exist). */
async function hgetall(c: RedisClient, key: string): Promise<Record<string, string>> {
  const flat = await c.call("HGETALL", key) as Reply[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}
