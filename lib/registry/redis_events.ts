/**
 * The event side of `RedisRegistry`: one subscriber connection, subscribed to exactly the
 * channels its handlers need — `{prefix}events` (every stream's lifecycle) while there is a
 * `subscribe` handler, `{prefix}events:{name}` (everything about one stream) while there is a
 * `subscribeStream` handler for `name`, and `__keyevent@{db}__:expired` while there is any
 * handler, because an expired claim publishes nothing of ours. That last channel carries
 * every expiry of the database, not only those of served streams; expiries are rare (a claim
 * expires only when its origin died, a node record only when its node did), so an edge hears a
 * handful where it would hear a playlist update every couple of seconds per stream. Per-key
 * keyspace channels would avoid even that, but need `notify-keyspace-events K`, which no
 * deployment of Cascade sets.
 *
 * The subscriber `RedisClient` sends a SUBSCRIBE made while disconnected once connected and
 * subscribes every channel again after a reconnect — after a Sentinel failover, on the
 * promoted master — so
 * delivery resumes by itself (what was published meanwhile is lost, which is why a reconnect
 * also clears what listeners cached, see `onReconnect`); a SUBSCRIBE that gets no
 * answer within the time budget fails with `RegistryUnavailableError`, and the channel is
 * let go again unless another handler still needs it.
 */
import type { Logger } from "@cascade/common/log";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { CallbackSet } from "./callbacks.ts";
import { classify, withDeadline } from "./redis_connection.ts";
import { RedisClient, type RedisClientOptions } from "./redis_client.ts";
import type { RedisKeys } from "./redis_keys.ts";
import { parseEvent } from "./redis_records.ts";
import type { RegistryEvent, RegistryEventHandler, Unsubscribe } from "./types.ts";

export interface RedisEventsOptions {
  /** The command connection's options (server, retry delays, timeouts, name). */
  clientOptions: RedisClientOptions;
  keys: RedisKeys;
  db: number;
  timeoutMs: number;
  log: Logger;
}

export class RedisEvents {
  readonly #o: RedisEventsOptions;
  readonly #expired: string;
  readonly #all: CallbackSet<[RegistryEvent]>;
  readonly #streams = new Map<string, CallbackSet<[RegistryEvent]>>();
  /** Channels a SUBSCRIBE was sent for and not undone, with its completion. */
  readonly #channels = new Map<string, Promise<void>>();
  #connection: RedisClient | undefined;
  #closed = false;

  constructor(opts: RedisEventsOptions) {
    this.#o = opts;
    this.#expired = `__keyevent@${opts.db}__:expired`;
    this.#all = new CallbackSet("event", opts.log);
  }

  /** Handlers of `subscribe`, for every stream's lifecycle events. */
  async subscribe(handler: RegistryEventHandler): Promise<Unsubscribe> {
    const off = this.#all.add(handler);
    return await this.#activate(off, [this.#o.keys.events, this.#expired]);
  }

  /** Handlers of `subscribeStream`, for everything about the stream `name`. */
  async subscribeStream(name: string, handler: RegistryEventHandler): Promise<Unsubscribe> {
    let handlers = this.#streams.get(name);
    if (handlers === undefined) {
      handlers = new CallbackSet("event", this.#o.log);
      this.#streams.set(name, handlers);
    }
    const remove = handlers.add(handler);
    const off = () => {
      remove();
      if (handlers.size === 0 && this.#streams.get(name) === handlers) this.#streams.delete(name);
    };
    return await this.#activate(off, [this.#o.keys.streamEvents(name), this.#expired]);
  }

  /** Drops every handler and the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#all.clear();
    this.#streams.clear();
    this.#channels.clear();
    if (this.#connection) await this.#connection.close();
  }

  /**
   * Resolves with the handler's unsubscribe once `channels` are subscribed; on failure
   * removes the handler and throws. Unsubscribing lets go of channels nobody needs any more.
   */
  async #activate(off: () => void, channels: string[]): Promise<Unsubscribe> {
    let done = false;
    const unsubscribe = () => {
      if (done) return;
      done = true;
      off();
      for (const channel of channels) this.#release(channel);
    };
    try {
      await Promise.all(channels.map((channel) => this.#listen(channel)));
    } catch (err) {
      unsubscribe();
      throw err;
    }
    return unsubscribe;
  }

  #listen(channel: string): Promise<void> {
    const known = this.#channels.get(channel);
    if (known !== undefined) return known;
    const connection = this.#connection ??= this.#connect();
    const abort = new AbortController();
    const done = withDeadline(
      connection.subscribe(channel),
      this.#o.timeoutMs,
      abort,
    ).catch((err) => {
      // The SUBSCRIBE may still be queued; forgetting the channel lets `#release` undo it.
      if (this.#channels.get(channel) === done) this.#channels.delete(channel);
      throw classify(err);
    });
    this.#channels.set(channel, done);
    return done;
  }

  #release(channel: string): void {
    if (this.#closed || this.#needed(channel) || this.#connection === undefined) return;
    this.#channels.delete(channel);
    this.#connection.unsubscribe(channel).catch((err: Error) =>
      this.#o.log.debug("registry.unsubscribe_failed", { channel, error: err })
    );
  }

  #needed(channel: string): boolean {
    if (channel === this.#o.keys.events) return this.#all.size > 0;
    if (channel === this.#expired) return this.#all.size > 0 || this.#streams.size > 0;
    return this.#streams.has(this.#nameOf(channel) ?? "");
  }

  /** The stream whose own channel `channel` is, if it is one. */
  #nameOf(channel: string): string | undefined {
    const prefix = this.#o.keys.streamEvents("");
    return channel.startsWith(prefix) ? channel.slice(prefix.length) : undefined;
  }

  #connect(): RedisClient {
    // Subscribes once connected and again after every reconnect.
    const connection = new RedisClient({ ...this.#o.clientOptions, subscriber: true });
    connection.on(
      "close",
      (err: Error) => this.#o.log.debug("registry.subscriber_error", { error: err }),
    );
    connection.on(
      "message",
      (channel: string, message: string) => this.#onMessage(channel, message),
    );
    return connection;
  }

  #onMessage(channel: string, message: string): void {
    if (channel === this.#expired) return this.#onExpired(message);
    const event = parseEvent(message);
    const name = this.#nameOf(channel);
    if (event === null || (name !== undefined && event.name !== name)) {
      this.#o.log.warn("registry.bad_event", { channel, bytes: message.length });
      return;
    }
    if (name === undefined) this.#all.run(event);
    else this.#streams.get(name)?.run(event);
  }

  /** The message is the key that expired; only stream claims are of interest. */
  #onExpired(key: string): void {
    const streamKey = this.#o.keys.stream("");
    if (!key.startsWith(streamKey)) return;
    const name = key.slice(streamKey.length);
    if (!STREAM_NAME_RE.test(name)) return;
    const event: RegistryEvent = {
      type: "stream.down",
      name,
      originId: "",
      at: Date.now(),
      reason: "expired",
    };
    this.#all.run(event);
    this.#streams.get(name)?.run(event);
  }
}
