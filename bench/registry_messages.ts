/**
 * Registry messages an edge receives: a subscriber on the Redis pub/sub channels an edge
 * serving `streams` subscribes to — each served stream's own channel `{prefix}events:{name}`
 * and the `expired` keyevent channel (see `lib/registry/redis_events.ts`) — counts what
 * arrives, by event type, between `mark()` and `read()`. Alongside, a pattern subscription to
 * every stream's channel counts what each edge heard when one channel carried every stream's
 * events (`allStreams`), so one run shows the saving.
 */
import { Redis } from "../tests/helpers/ioredis.ts";
import { DEFAULT_PREFIX } from "@cascade/registry/redis";

export interface MessageRate {
  seconds: number;
  perSecond: number;
  /** Messages per event type (`stream.update`, …; `expired` for keyspace events). */
  byType: Record<string, number>;
  /** Every stream's events: what an edge heard when it listened to all of them. */
  allStreams: { perSecond: number; byType: Record<string, number> };
}

export interface CounterOptions {
  /** The streams the edge serves (each one's channel is counted). */
  streams: string[];
  prefix?: string;
}

type Counts = Record<string, number>;

export class RegistryMessageCounter implements AsyncDisposable {
  readonly #sub: Redis;
  #edge: Counts = {};
  #all: Counts = {};
  #since = performance.now();

  private constructor(sub: Redis) {
    this.#sub = sub;
  }

  /** Subscribes and resolves once Redis confirmed the subscriptions. */
  static async start(url: string, opts: CounterOptions): Promise<RegistryMessageCounter> {
    const sub = new Redis(url, { maxRetriesPerRequest: 1 });
    const counter = new RegistryMessageCounter(sub);
    const expired = `__keyevent@${sub.options.db ?? 0}__:expired`;
    const events = `${opts.prefix ?? DEFAULT_PREFIX}events`;
    sub.on("message", (channel: string, message: string) => {
      count(counter.#edge, channel === expired ? "expired" : eventType(message));
    });
    sub.on("pmessage", (_pattern: string, _channel: string, message: string) => {
      count(counter.#all, eventType(message));
    });
    try {
      await sub.subscribe(expired, ...opts.streams.map((name) => `${events}:${name}`));
      await sub.psubscribe(`${events.replace(/[*?[\]\\]/g, "\\$&")}:*`);
    } catch (err) {
      sub.disconnect();
      throw err;
    }
    return counter;
  }

  /** Starts the window: forgets what was counted so far. */
  mark(): void {
    this.#edge = {};
    this.#all = {};
    this.#since = performance.now();
  }

  /** Messages since `mark()`. */
  read(): MessageRate {
    const seconds = (performance.now() - this.#since) / 1000;
    const rate = (counts: Counts) => {
      const total = Object.values(counts).reduce((a, b) => a + b, 0);
      return seconds > 0 ? total / seconds : 0;
    };
    return {
      seconds,
      perSecond: rate(this.#edge),
      byType: { ...this.#edge },
      allStreams: { perSecond: rate(this.#all), byType: { ...this.#all } },
    };
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#sub.disconnect();
    return Promise.resolve();
  }
}

function count(counts: Counts, type: string): void {
  counts[type] = (counts[type] ?? 0) + 1;
}

function eventType(message: string): string {
  try {
    const type = (JSON.parse(message) as { type?: unknown }).type;
    return typeof type === "string" ? type : "unknown";
  } catch {
    return "unparseable";
  }
}
