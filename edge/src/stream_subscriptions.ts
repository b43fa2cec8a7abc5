/**
 * The streams an edge hears about. Each name viewers ask for is subscribed to its own registry
 * channel (`Registry.subscribeStream`) at the first request, and let go once nobody has asked
 * for it for `idleMs`, or when more than `maxNames` are held (the least recently asked first).
 * So an edge hears the events of the streams it serves — a playlist update per segment of
 * each — and nothing of the rest of the cluster. Names that are not live are subscribed too:
 * a player waiting for a stream to start learns of its `stream.up` at once, and a name nobody
 * asks for any more costs nothing after `idleMs`.
 *
 * Subscribing never delays a request: it runs alongside, and one that fails (registry down)
 * is tried again at the next request for the name. Whatever is missed while a name is not
 * subscribed is bounded by the short lifetimes of the lookup memo and of a cached playlist.
 */
import type { Logger } from "@cascade/common/log";
import {
  type Registry,
  type RegistryEvent,
  RegistryUnavailableError,
  type Unsubscribe,
} from "@cascade/registry";

export interface StreamSubscriptionsOptions {
  registry: Registry;
  log: Logger;
  /** How long a name nobody asks for stays subscribed (default 30 000 ms). */
  idleMs?: number;
  /** Most names subscribed at once (default 10 000). */
  maxNames?: number;
  /** Monotonic milliseconds; tests may pass their own. */
  clock?: () => number;
}

export interface StreamEventListener {
  /** An event of a subscribed stream. */
  event(event: RegistryEvent): void;
  /** `name` is no longer subscribed: what its events kept current may go. */
  forget?(name: string): void;
}

interface Subscription {
  lastAsked: number;
  /** Set once the registry confirmed the subscription. */
  off?: Unsubscribe;
}

export const DEFAULT_SUBSCRIPTION_IDLE_MS = 30_000;

export class StreamSubscriptions {
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #idleMs: number;
  readonly #maxNames: number;
  readonly #clock: () => number;
  /** In order of the last request, oldest first. */
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #listeners = new Set<StreamEventListener>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(opts: StreamSubscriptionsOptions) {
    this.#registry = opts.registry;
    this.#log = opts.log;
    this.#idleMs = opts.idleMs ?? DEFAULT_SUBSCRIPTION_IDLE_MS;
    this.#maxNames = opts.maxNames ?? 10_000;
    this.#clock = opts.clock ?? (() => performance.now());
  }

  /** Calls `listener` for every event of a subscribed stream until unsubscribed. */
  listen(listener: StreamEventListener): Unsubscribe {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** Notes a request for `name`, subscribing to its events if that is not done yet. */
  asked(name: string): void {
    if (this.#closed) return;
    const now = this.#clock();
    const known = this.#subscriptions.get(name);
    if (known !== undefined) {
      known.lastAsked = now;
      // Moved to the end, so the map stays in order of the last request.
      this.#subscriptions.delete(name);
      this.#subscriptions.set(name, known);
      return;
    }
    const subscription: Subscription = { lastAsked: now };
    this.#subscriptions.set(name, subscription);
    this.#subscribe(name, subscription);
    if (this.#subscriptions.size > this.#maxNames) {
      const oldest = this.#subscriptions.keys().next();
      if (!oldest.done) this.#drop(oldest.value);
    }
    this.#sweeper ??= this.#startSweeping();
  }

  /** Names subscribed now (or being subscribed), oldest request first. */
  names(): string[] {
    return [...this.#subscriptions.keys()];
  }

  /** Lets go of every name not asked for within `idleMs`. */
  sweep(): void {
    const idleSince = this.#clock() - this.#idleMs;
    for (const [name, subscription] of this.#subscriptions) {
      if (subscription.lastAsked > idleSince) break;
      this.#drop(name);
    }
    if (this.#subscriptions.size === 0) this.#stopSweeping();
  }

  /** Lets go of every subscription; later requests subscribe nothing. */
  close(): void {
    this.#closed = true;
    this.#stopSweeping();
    for (const subscription of this.#subscriptions.values()) subscription.off?.();
    this.#subscriptions.clear();
    this.#listeners.clear();
  }

  #subscribe(name: string, subscription: Subscription): void {
    const current = () => this.#subscriptions.get(name) === subscription;
    this.#registry.subscribeStream(name, (event) => this.#deliver(event)).then(
      (off) => {
        if (current()) subscription.off = off;
        else off();
      },
      (err: unknown) => {
        // Forgotten, so that the next request tries again.
        if (current()) this.#subscriptions.delete(name);
        // An outage is logged by the registry itself.
        if (!(err instanceof RegistryUnavailableError)) {
          this.#log.warn("edge.subscribe_failed", { stream: name, error: err });
        }
      },
    );
  }

  #drop(name: string): void {
    const subscription = this.#subscriptions.get(name);
    if (subscription === undefined) return;
    this.#subscriptions.delete(name);
    subscription.off?.();
    for (const listener of this.#listeners) listener.forget?.(name);
  }

  #deliver(event: RegistryEvent): void {
    for (const listener of this.#listeners) listener.event(event);
  }

  #startSweeping(): ReturnType<typeof setInterval> {
    const timer = setInterval(() => this.sweep(), Math.max(this.#idleMs / 2, 10));
    Deno.unrefTimer(timer);
    return timer;
  }

  #stopSweeping(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }
}
