/**
 * Registry messages an edge receives: a subscriber on the same Redis pub/sub channels a
 * `RedisRegistry` subscribes to (`{prefix}events` and the `expired` keyspace events, see
 * `lib/registry/redis.ts`) counts what arrives, by event type, between `mark()` and `read()`.
 * Every edge of a cluster receives exactly this, whichever streams it serves.
 */
import { Redis } from "ioredis";
import { DEFAULT_PREFIX } from "@cascade/registry/redis";

export interface MessageRate {
  seconds: number;
  perSecond: number;
  /** Messages per event type (`stream.update`, …; `expired` for keyspace events). */
  byType: Record<string, number>;
}

export class RegistryMessageCounter implements AsyncDisposable {
  readonly #sub: Redis;
  #byType: Record<string, number> = {};
  #since = performance.now();

  private constructor(sub: Redis) {
    this.#sub = sub;
  }

  /** Subscribes and resolves once Redis confirmed the subscription. */
  static async start(url: string, prefix = DEFAULT_PREFIX): Promise<RegistryMessageCounter> {
    const sub = new Redis(url, { maxRetriesPerRequest: 1 });
    const counter = new RegistryMessageCounter(sub);
    const events = `${prefix}events`;
    sub.on("message", (channel: string, message: string) => {
      counter.#count(channel === events ? eventType(message) : "expired");
    });
    try {
      await sub.subscribe(events, `__keyevent@${sub.options.db ?? 0}__:expired`);
    } catch (err) {
      sub.disconnect();
      throw err;
    }
    return counter;
  }

  #count(type: string): void {
    this.#byType[type] = (this.#byType[type] ?? 0) + 1;
  }

  /** Starts the window: forgets what was counted so far. */
  mark(): void {
    this.#byType = {};
    this.#since = performance.now();
  }

  /** Messages since `mark()`. */
  read(): MessageRate {
    const seconds = (performance.now() - this.#since) / 1000;
    const total = Object.values(this.#byType).reduce((a, b) => a + b, 0);
    return { seconds, perSecond: seconds > 0 ? total / seconds : 0, byType: { ...this.#byType } };
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#sub.disconnect();
    return Promise.resolve();
  }
}

function eventType(message: string): string {
  try {
    const type = (JSON.parse(message) as { type?: unknown }).type;
    return typeof type === "string" ? type : "unknown";
  } catch {
    return "unparseable";
  }
}
