/**
 * Which origin serves a stream, as the edge sees it: `stream:{name}` (`StreamLookup`) or, for
 * a finished broadcast kept for VOD, `vod:{name}` (`VodLookup`), read through the registry
 * with a short local memo (positive answers for at most `positiveMs`, negative ones for at
 * most `negativeMs`) that stream events clear at once (`stream.up` / `stream.down` for live
 * records, `stream.down` for VODs, which appear when a broadcast ends), and that a registry
 * reconnect clears entirely (events may have been missed meanwhile). The events are those of
 * the names looked up, each heard on its own channel from the first lookup on
 * (`stream_subscriptions.ts`). Concurrent lookups of one name share one registry call.
 *
 * While the registry is unreachable, a stream looked up before keeps its last known record
 * (the origin's answers then decide whether it still plays) and an unknown one fails fast
 * with `RegistryUnavailableError`: after a failure the registry is probed again only after
 * `retryMs`, so an outage never makes every request wait for the registry's own timeout.
 */
import type { Logger } from "@cascade/common/log";
import {
  type Registry,
  type RegistryEvent,
  RegistryUnavailableError,
  type StreamRecord,
  type Unsubscribe,
  type VodRecord,
} from "@cascade/registry";
import { StreamSubscriptions } from "./stream_subscriptions.ts";

export interface LookupOptions {
  registry: Registry;
  log: Logger;
  /** How long a found record is trusted without asking again (default 1000 ms). */
  positiveMs?: number;
  /** How long "not live" is trusted without asking again (default 500 ms). */
  negativeMs?: number;
  /** How long to stop asking after the registry failed (default 1000 ms). */
  retryMs?: number;
  /** Streams whose last known record is kept for outages (default 10 000). */
  maxKnown?: number;
  /** How long a name nobody looks up stays subscribed to its events (default 30 000 ms). */
  idleMs?: number;
  /** Monotonic milliseconds; tests may pass their own. */
  clock?: () => number;
  /** The stream subscriptions to share with other lookups (default: its own). */
  subscriptions?: StreamSubscriptions;
}

export type LookupOutcome = "memo" | "registry" | "known" | "error";

interface Memo<T> {
  record: T | null;
  expiresAt: number;
  /** Clock reading when the registry call that produced it started. */
  askedAt: number;
}

interface Flight<T> {
  promise: Promise<T | null>;
  askedAt: number;
}

/** The memo, outage fallback and event handling shared by both lookups. */
export abstract class RegistryLookup<T> {
  protected readonly registry: Registry;
  readonly #positiveMs: number;
  readonly #negativeMs: number;
  readonly #retryMs: number;
  readonly #maxKnown: number;
  readonly #clock: () => number;
  readonly #memo = new Map<string, Memo<T>>();
  readonly #known = new Map<string, T>();
  readonly #flights = new Map<string, Flight<T>>();
  readonly #subscriptions: StreamSubscriptions;
  readonly #ownsSubscriptions: boolean;
  #downUntil = 0;
  #offEvents: Unsubscribe | undefined;
  #offReconnect: Unsubscribe | undefined;
  /** Counts outcomes, for metrics. */
  onOutcome: (outcome: LookupOutcome) => void = () => {};

  constructor(opts: LookupOptions) {
    this.registry = opts.registry;
    this.#positiveMs = opts.positiveMs ?? 1000;
    this.#negativeMs = opts.negativeMs ?? 500;
    this.#retryMs = opts.retryMs ?? 1000;
    this.#maxKnown = opts.maxKnown ?? 10_000;
    this.#clock = opts.clock ?? (() => performance.now());
    this.#ownsSubscriptions = opts.subscriptions === undefined;
    this.#subscriptions = opts.subscriptions ?? new StreamSubscriptions({
      registry: opts.registry,
      log: opts.log,
      idleMs: opts.idleMs,
      clock: this.#clock,
    });
  }

  /** One registry read. */
  protected abstract read(name: string): Promise<T | null>;

  /** What `event` makes stale: nothing, the memo of its name, or the outage fallback too. */
  protected abstract staleAfter(event: RegistryEvent): "nothing" | "memo" | "all";

  /** Listens to the events of the names looked up, and to reconnects. */
  start(): void {
    this.#offEvents = this.#subscriptions.listen({ event: (event) => this.#onEvent(event) });
    this.#offReconnect = this.registry.onReconnect(() => {
      this.#memo.clear();
      this.#downUntil = 0;
    });
  }

  stop(): void {
    this.#offEvents?.();
    this.#offEvents = undefined;
    this.#offReconnect?.();
    this.#offReconnect = undefined;
    if (this.#ownsSubscriptions) this.#subscriptions.close();
  }

  /** The record of `name`, or null when there is none; see the module comment. */
  get(name: string): Promise<T | null> {
    this.#subscriptions.asked(name);
    const memo = this.#memo.get(name);
    if (memo !== undefined && memo.expiresAt > this.#clock()) {
      this.onOutcome("memo");
      return Promise.resolve(memo.record);
    }
    return this.#ask(name);
  }

  /**
   * Asks the registry again after an origin failed, unless an answer obtained after `since`
   * (a clock reading taken before the failed fetch started) is already there: many viewers
   * failing on one dead origin cause one registry call, not one each.
   */
  refresh(name: string, since: number): Promise<T | null> {
    this.#subscriptions.asked(name);
    const flight = this.#flights.get(name);
    if (flight !== undefined && flight.askedAt > since) return flight.promise;
    const memo = this.#memo.get(name);
    if (memo !== undefined && memo.askedAt > since && memo.expiresAt > this.#clock()) {
      return Promise.resolve(memo.record);
    }
    this.invalidate(name);
    return this.#ask(name);
  }

  /** Forgets the memo of `name` (and a lookup in flight for it). */
  invalidate(name: string): void {
    this.#memo.delete(name);
    this.#flights.delete(name);
  }

  /** A clock reading for `refresh`. */
  now(): number {
    return this.#clock();
  }

  #onEvent(event: RegistryEvent): void {
    const stale = this.staleAfter(event);
    if (stale === "nothing") return;
    this.invalidate(event.name);
    if (stale === "all") this.#known.delete(event.name);
  }

  #ask(name: string): Promise<T | null> {
    const existing = this.#flights.get(name);
    if (existing !== undefined) return existing.promise;
    const askedAt = this.#clock();
    if (askedAt < this.#downUntil) return this.#fallback(name, null);
    const promise = this.read(name).then(
      (record) => {
        if (this.#flights.get(name) === flight) {
          this.#flights.delete(name);
          const ttl = record === null ? this.#negativeMs : this.#positiveMs;
          this.#memo.set(name, { record, askedAt, expiresAt: this.#clock() + ttl });
        }
        this.#downUntil = 0;
        this.#remember(name, record);
        this.onOutcome("registry");
        return record;
      },
      (err: unknown) => {
        if (this.#flights.get(name) === flight) this.#flights.delete(name);
        if (!(err instanceof RegistryUnavailableError)) throw err;
        this.#downUntil = this.#clock() + this.#retryMs;
        return this.#fallback(name, err);
      },
    );
    const flight: Flight<T> = { promise, askedAt };
    this.#flights.set(name, flight);
    return promise;
  }

  #fallback(name: string, err: RegistryUnavailableError | null): Promise<T | null> {
    const known = this.#known.get(name);
    if (known !== undefined) {
      this.onOutcome("known");
      return Promise.resolve(known);
    }
    this.onOutcome("error");
    return Promise.reject(err ?? new RegistryUnavailableError("recent lookups failed"));
  }

  #remember(name: string, record: T | null): void {
    this.#known.delete(name);
    if (record === null) return;
    this.#known.set(name, record);
    if (this.#known.size > this.#maxKnown) {
      const oldest = this.#known.keys().next();
      if (!oldest.done) this.#known.delete(oldest.value);
    }
  }
}

/** `stream:{name}`: the origin a live stream is on. */
export class StreamLookup extends RegistryLookup<StreamRecord> {
  protected read(name: string): Promise<StreamRecord | null> {
    return this.registry.getStream(name);
  }

  protected staleAfter(event: RegistryEvent): "nothing" | "memo" | "all" {
    if (event.type === "stream.up") return "memo";
    return event.type === "stream.down" ? "all" : "nothing";
  }
}

/** `vod:{name}`: the origin keeping a name's latest finished broadcast. */
export class VodLookup extends RegistryLookup<VodRecord> {
  protected read(name: string): Promise<VodRecord | null> {
    return this.registry.getVod(name);
  }

  protected staleAfter(event: RegistryEvent): "nothing" | "memo" | "all" {
    // A broadcast that ends is about to be kept: "no VOD" is no longer worth trusting.
    return event.type === "stream.down" ? "memo" : "nothing";
  }
}
