/**
 * The state behind `MemoryRegistry`: maps whose entries expire (lazily on every read, and
 * eagerly by unref'd timers while a registry uses the store) and the event listeners, shared
 * by every `MemoryRegistry` on one store the way several processes share one Redis. A
 * stream that expires is published as `stream.down` with reason `expired`.
 */
import type { NodeRecord, RegistryEvent, StreamConfig, StreamRecord, VodRecord } from "./types.ts";

interface Expiring<T> {
  value: T;
  expiresAt: number;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * A map whose entries expire. `onExpire` runs once per entry that dies by TTL, whether
 * a timer or a read noticed it first.
 */
export class ExpiringMap<T> {
  readonly #entries = new Map<string, Expiring<T>>();
  readonly #onExpire: (key: string, value: T) => void;
  #armed = false;

  constructor(onExpire: (key: string, value: T) => void) {
    this.#onExpire = onExpire;
  }

  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.#expire(key, entry);
      return undefined;
    }
    return entry.value;
  }

  set(key: string, value: T, ttlMs: number): void {
    const old = this.#entries.get(key);
    if (old?.timer !== undefined) clearTimeout(old.timer);
    const entry: Expiring<T> = { value, expiresAt: Date.now() + ttlMs };
    this.#entries.set(key, entry);
    if (this.#armed) this.#arm(key, entry);
  }

  delete(key: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    this.#entries.delete(key);
    return entry.expiresAt > Date.now();
  }

  values(): T[] {
    const out: T[] = [];
    for (const key of [...this.#entries.keys()]) {
      const value = this.get(key);
      if (value !== undefined) out.push(value);
    }
    return out;
  }

  clear(): void {
    this.disarm();
    this.#entries.clear();
  }

  /** Starts eager expiry timers for every entry (and for entries set later). */
  arm(): void {
    this.#armed = true;
    for (const [key, entry] of this.#entries) this.#arm(key, entry);
  }

  disarm(): void {
    this.#armed = false;
    for (const entry of this.#entries.values()) {
      if (entry.timer !== undefined) clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  #arm(key: string, entry: Expiring<T>): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    // Timers may fire a little early; the read re-checks and re-arms until it is due.
    const timer = setTimeout(() => {
      entry.timer = undefined;
      if (this.#entries.get(key) !== entry) return;
      if (entry.expiresAt <= Date.now()) this.#expire(key, entry);
      else this.#arm(key, entry);
    }, Math.max(0, entry.expiresAt - Date.now()));
    Deno.unrefTimer(timer);
    entry.timer = timer;
  }

  #expire(key: string, entry: Expiring<T>): void {
    if (entry.timer !== undefined) clearTimeout(entry.timer);
    this.#entries.delete(key);
    this.#onExpire(key, entry.value);
  }
}

/** The shared state behind one or more `MemoryRegistry` instances. */
export class MemoryStore {
  readonly streams: ExpiringMap<StreamRecord>;
  readonly nodes: ExpiringMap<NodeRecord> = new ExpiringMap<NodeRecord>(() => {});
  readonly vods: ExpiringMap<VodRecord> = new ExpiringMap<VodRecord>(() => {});
  readonly configs: Map<string, StreamConfig> = new Map();
  readonly keys: Map<string, string> = new Map();
  readonly #listeners = new Set<(event: RegistryEvent) => void>();
  #refs = 0;

  constructor() {
    this.streams = new ExpiringMap((name, record) => {
      this.publish({
        type: "stream.down",
        name,
        originId: record.originId,
        at: Date.now(),
        reason: "expired",
      });
    });
  }

  publish(event: RegistryEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  listen(listener: (event: RegistryEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Counts registries using the store; expiry timers run while there is at least one. */
  retain(): void {
    if (this.#refs++ === 0) this.#arm();
  }

  release(): void {
    if (--this.#refs === 0) {
      for (const map of this.#expiring()) map.disarm();
    }
  }

  /** Forgets everything, as a Redis restart without persistence would. */
  flush(): void {
    for (const map of this.#expiring()) map.clear();
    this.configs.clear();
    this.keys.clear();
    if (this.#refs > 0) this.#arm();
  }

  #arm(): void {
    for (const map of this.#expiring()) map.arm();
  }

  #expiring(): Pick<ExpiringMap<unknown>, "arm" | "disarm" | "clear">[] {
    return [this.streams, this.nodes, this.vods];
  }
}
