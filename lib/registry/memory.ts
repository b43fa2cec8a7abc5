/**
 * The embedded registry: the `Registry` contract in process memory, for the all-in-one
 * node and for unit tests. Several `MemoryRegistry` instances may share one `MemoryStore`,
 * the way several processes share one Redis. TTLs expire lazily on every read and eagerly
 * by unref'd timers (which publish `stream.down` with reason `expired`); the timers are
 * cleared when the last registry on a store closes. `setOnline(false)` simulates losing
 * the connection, so callers' outage handling can be tested without Redis.
 */
import { log as rootLog, type Logger } from "@cascade/common/log";
import { CallbackSet } from "./callbacks.ts";
import { RegistryUnavailableError } from "./errors.ts";
import { startHeartbeat } from "./heartbeat.ts";
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
import { MemoryStore } from "./memory_store.ts";
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

export { MemoryStore };

export interface MemoryRegistryOptions {
  /** Share state with other instances (default: a private store). */
  store?: MemoryStore;
  log?: Logger;
}

export class MemoryRegistry implements Registry {
  readonly store: MemoryStore;
  readonly #log: Logger;
  readonly #handlers: CallbackSet<[RegistryEvent]>;
  /** `subscribeStream` handlers by stream name, as Redis keeps one channel per stream. */
  readonly #streamHandlers = new Map<string, CallbackSet<[RegistryEvent]>>();
  readonly #reconnectCallbacks: CallbackSet<[]>;
  readonly #unlisten: () => void;
  #online = true;
  #closed = false;

  constructor(opts: MemoryRegistryOptions = {}) {
    this.store = opts.store ?? new MemoryStore();
    this.#log = (opts.log ?? rootLog).child({ component: "registry" });
    this.#handlers = new CallbackSet("event", this.#log);
    this.#reconnectCallbacks = new CallbackSet("reconnect", this.#log);
    this.store.retain();
    this.#unlisten = this.store.listen((event) => this.#deliver(event));
  }

  /**
   * Simulates losing (`false`) and regaining (`true`) the connection: while offline
   * every call fails with `RegistryUnavailableError` and events are missed; coming back
   * fires the reconnect callbacks.
   */
  setOnline(online: boolean): void {
    if (this.#closed || online === this.#online) return;
    this.#online = online;
    if (online) {
      this.#reconnectCallbacks.run();
    }
  }

  claimStream(
    record: StreamRecord,
    ttlMs: number,
    opts: { replacing?: Replacing } = {},
  ): Promise<ClaimResult> {
    return this.#op(() => {
      checkStream(record);
      checkTtl(ttlMs);
      if (opts.replacing !== undefined) checkReplacing(opts.replacing);
      return this.#write(record, ttlMs, true, opts.replacing);
    });
  }

  refreshStream(record: StreamRecord, ttlMs: number): Promise<ClaimResult> {
    return this.#op(() => {
      checkStream(record);
      checkTtl(ttlMs);
      return this.#write(record, ttlMs, false);
    });
  }

  releaseStream(name: string, originId: string): Promise<boolean> {
    return this.#op(() => {
      checkName(name);
      checkId("origin id", originId);
      const current = this.store.streams.get(name);
      if (current === undefined || current.originId !== originId) return false;
      this.store.streams.delete(name);
      this.store.publish({
        type: "stream.down",
        name,
        originId,
        at: Date.now(),
        reason: "released",
      });
      return true;
    });
  }

  getStream(name: string): Promise<StreamRecord | null> {
    return this.#op(() => {
      checkName(name);
      return copy(this.store.streams.get(name)) ?? null;
    });
  }

  listStreams(): Promise<StreamRecord[]> {
    return this.#op(() => this.store.streams.values().map((r) => copy(r)));
  }

  kickStream(name: string): Promise<void> {
    return this.#op(() => {
      checkName(name);
      const originId = this.store.streams.get(name)?.originId ?? "";
      this.store.publish({ type: "stream.kick", name, originId, at: Date.now() });
    });
  }

  announceVod(record: VodRecord, ttlMs: number): Promise<boolean> {
    return this.#op(() => {
      checkVod(record);
      checkTtl(ttlMs);
      const current = this.store.vods.get(record.name);
      if (
        current !== undefined && current.originId !== record.originId &&
        current.updatedAt >= record.updatedAt
      ) {
        return false;
      }
      this.store.vods.set(record.name, copy(record), ttlMs);
      return true;
    });
  }

  withdrawVod(name: string, originId: string): Promise<boolean> {
    return this.#op(() => {
      checkName(name);
      checkId("origin id", originId);
      if (this.store.vods.get(name)?.originId !== originId) return false;
      return this.store.vods.delete(name);
    });
  }

  getVod(name: string): Promise<VodRecord | null> {
    return this.#op(() => {
      checkName(name);
      return copy(this.store.vods.get(name)) ?? null;
    });
  }

  announceNode(node: NodeRecord, ttlMs = NODE_TTL_MS): Promise<void> {
    return this.#op(() => {
      checkNode(node);
      checkTtl(ttlMs);
      this.store.nodes.set(nodeKey(node.kind, node.id), copy(node), ttlMs);
    });
  }

  removeNode(kind: NodeKind, id: string): Promise<boolean> {
    return this.#op(() => {
      checkKind(kind);
      checkId("node id", id);
      return this.store.nodes.delete(nodeKey(kind, id));
    });
  }

  getNode(kind: NodeKind, id: string): Promise<NodeRecord | null> {
    return this.#op(() => {
      checkKind(kind);
      checkId("node id", id);
      return copy(this.store.nodes.get(nodeKey(kind, id))) ?? null;
    });
  }

  listNodes(kind?: NodeKind): Promise<NodeRecord[]> {
    return this.#op(() => {
      if (kind !== undefined) checkKind(kind);
      return this.store.nodes.values()
        .filter((n) => kind === undefined || n.kind === kind)
        .map((n) => copy(n));
    });
  }

  startHeartbeat(
    node: NodeRecord | (() => NodeRecord),
    intervalMs = HEARTBEAT_INTERVAL_MS,
    ttlMs = NODE_TTL_MS,
  ): Heartbeat {
    return startHeartbeat(this, node, intervalMs, ttlMs, this.#log);
  }

  putStreamConfig(
    cfg: StreamConfig,
    { onlyIfAbsent = false }: { onlyIfAbsent?: boolean } = {},
  ): Promise<PutConfigResult> {
    return this.#op((): PutConfigResult => {
      checkConfig(cfg);
      const { configs, keys } = this.store;
      const old = configs.get(cfg.name);
      if (onlyIfAbsent && old !== undefined) return "exists";
      const holder = keys.get(cfg.keyHash);
      if (holder !== undefined && holder !== cfg.name) return "key-in-use";
      if (old !== undefined && old.keyHash !== cfg.keyHash && keys.get(old.keyHash) === cfg.name) {
        keys.delete(old.keyHash);
      }
      configs.set(cfg.name, normalizeConfig(cfg));
      keys.set(cfg.keyHash, cfg.name);
      return "ok";
    });
  }

  getStreamConfig(name: string): Promise<StreamConfig | null> {
    return this.#op(() => {
      checkName(name);
      return copy(this.store.configs.get(name)) ?? null;
    });
  }

  listStreamConfigs(): Promise<StreamConfig[]> {
    return this.#op(() => [...this.store.configs.values()].map((c) => copy(c)));
  }

  deleteStreamConfig(name: string): Promise<boolean> {
    return this.#op(() => {
      checkName(name);
      const { configs, keys } = this.store;
      const old = configs.get(name);
      if (old === undefined) return false;
      configs.delete(name);
      if (keys.get(old.keyHash) === name) keys.delete(old.keyHash);
      return true;
    });
  }

  resolveKeyHash(keyHash: string): Promise<string | null> {
    return this.#op(() => {
      checkKeyHash(keyHash);
      return this.store.keys.get(keyHash) ?? null;
    });
  }

  subscribe(handler: RegistryEventHandler): Promise<Unsubscribe> {
    return this.#op(() => this.#handlers.add(handler));
  }

  subscribeStream(name: string, handler: RegistryEventHandler): Promise<Unsubscribe> {
    return this.#op(() => {
      checkName(name);
      let handlers = this.#streamHandlers.get(name);
      if (handlers === undefined) {
        handlers = new CallbackSet("event", this.#log);
        this.#streamHandlers.set(name, handlers);
      }
      const remove = handlers.add(handler);
      return () => {
        remove();
        if (handlers.size === 0 && this.#streamHandlers.get(name) === handlers) {
          this.#streamHandlers.delete(name);
        }
      };
    });
  }

  onReconnect(cb: () => void): Unsubscribe {
    return this.#reconnectCallbacks.add(cb);
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#unlisten();
      this.#handlers.clear();
      this.#streamHandlers.clear();
      this.#reconnectCallbacks.clear();
      this.store.release();
    }
    return Promise.resolve();
  }

  #write(
    record: StreamRecord,
    ttlMs: number,
    mayCreate: boolean,
    replacing?: Replacing,
  ): ClaimResult {
    const { streams } = this.store;
    let current = streams.get(record.name);
    if (current === undefined && !mayCreate) return { ok: false, owner: null, current: null };
    if (current !== undefined && current.originId !== record.originId) {
      const takeover = replacing !== undefined && current.originId === replacing.originId &&
        current.updatedAt === replacing.updatedAt;
      if (!takeover) return { ok: false, owner: current.originId, current: copy(current) };
      current = undefined;
    }
    streams.set(record.name, copy(record), ttlMs);
    if (current !== undefined) {
      if (current.updatedAt !== record.updatedAt) {
        this.store.publish({
          type: "stream.update",
          name: record.name,
          originId: record.originId,
          at: Date.now(),
          updatedAt: record.updatedAt,
        });
      }
      return { ok: true, created: false };
    }
    this.store.publish({
      type: "stream.up",
      name: record.name,
      originId: record.originId,
      at: Date.now(),
    });
    return { ok: true, created: true };
  }

  /** Runs a synchronous operation with the async, fail-when-offline shape of Redis calls. */
  #op<T>(fn: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new RegistryUnavailableError("registry is closed"));
    if (!this.#online) return Promise.reject(new RegistryUnavailableError("connection lost"));
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Routes an event as Redis's channels would: updates reach the stream's handlers only. */
  #deliver(event: RegistryEvent): void {
    if (!this.#online) return;
    const toAll = event.type !== "stream.update" && this.#handlers.size > 0;
    const own = this.#streamHandlers.get(event.name);
    if (!toAll && own === undefined) return;
    // Delivered after the publishing call returns, as with Redis pub/sub.
    queueMicrotask(() => {
      if (toAll) this.#handlers.run(copy(event));
      own?.run(copy(event));
    });
  }
}

function nodeKey(kind: NodeKind, id: string): string {
  return `${kind}:${id}`;
}

function normalizeConfig(cfg: StreamConfig): StreamConfig {
  return {
    name: cfg.name,
    keyHash: cfg.keyHash,
    createdAt: cfg.createdAt,
    disabled: cfg.disabled,
    record: cfg.record,
    ...(cfg.transcode !== undefined ? { transcode: cfg.transcode } : {}),
  };
}

/** Values cross the API as JSON copies, exactly as they would through Redis. */
function copy<T>(value: T): T {
  return value === undefined ? value : JSON.parse(JSON.stringify(value));
}
