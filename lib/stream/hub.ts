/**
 * The stream hub: one `LiveStream` per publishing name, fanning the publisher's configs and
 * frames out to consumers (HLS packager, recorder, tests). Each consumer reads through its
 * own bounded queue; when a queue is full the consumer loses frames until the next video
 * keyframe (so its output never decodes garbage), a log line says so and, given a metrics
 * registry, `cascade_hub_dropped_frames_total{consumer}` counts the frames lost — the
 * publisher is never blocked and other consumers are untouched. On the way each stream
 * measures its encoder (`ingest_stats.ts`: keyframe interval, frame rate, bit rate) at a few
 * number updates per frame.
 */
import type { HubMessage, MediaFrame, TrackConfig } from "@cascade/media/frame";
import { log as rootLog, type Logger } from "@cascade/common/log";
import type { Counter, CounterChild, MetricsRegistry } from "@cascade/common/metrics";
import { IngestStats } from "./ingest_stats.ts";

/** What is known about a broadcast when it starts and while it runs. */
export interface StreamInfo {
  name: string;
  clientIp: string;
  startedAt: Date;
  /** Codec strings as configs arrive, e.g. `avc1.64001f`, `mp4a.40.2`. */
  codecs: string[];
  video?: TrackConfig & { kind: "video" };
  audio?: TrackConfig & { kind: "audio" };
  metadata: Record<string, unknown>;
  frames: number;
  bytes: number;
  /** Keyframe interval, frame rate and bit rate as the encoder sends them. */
  stats: IngestStats;
}

export type HubEvent =
  | { type: "publish.start"; stream: LiveStream }
  | { type: "publish.stop"; stream: LiveStream; reason: string };

/** Default queue bound per consumer: ~10 s of 30 fps video plus audio. */
export const DEFAULT_QUEUE_FRAMES = 1024;

/** One consumer's view of a stream: an async iterator over a bounded queue. */
export class Subscription implements AsyncIterable<HubMessage> {
  readonly name: string;
  readonly #capacity: number;
  readonly #queue: (HubMessage | undefined)[] = [];
  #head = 0;
  #wake: (() => void) | null = null;
  #closed = false;
  #waitKey = false;
  dropped = 0;
  readonly #log: Logger;
  readonly #droppedTotal: CounterChild | undefined;
  #onClose: () => void;

  constructor(
    name: string,
    capacity: number,
    log: Logger,
    onClose: () => void,
    droppedTotal?: CounterChild,
  ) {
    this.name = name;
    this.#capacity = capacity;
    this.#log = log;
    this.#onClose = onClose;
    this.#droppedTotal = droppedTotal;
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** Called by the stream; never blocks. */
  offer(msg: HubMessage): void {
    if (this.#closed) return;
    if (msg.type === "frame") {
      const f = msg.frame;
      if (this.#waitKey) {
        if (f.kind === "video" && f.keyframe && this.queued < this.#capacity) {
          this.#waitKey = false;
          this.#log.warn("consumer.recovered", { consumer: this.name, dropped: this.dropped });
        } else {
          this.#drop();
          return;
        }
      } else if (this.queued >= this.#capacity) {
        this.#waitKey = true;
        this.#drop();
        this.#log.warn("consumer.slow", {
          consumer: this.name,
          capacity: this.#capacity,
          action: "dropping frames until the next keyframe",
        });
        return;
      }
    }
    // Configs are never dropped: they are rare and consumers need them to decode.
    this.#queue.push(msg);
    this.#signal();
  }

  #drop(): void {
    this.dropped++;
    this.#droppedTotal?.inc();
  }

  /** Ends the iteration after the queued messages are consumed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#signal();
    this.#onClose();
  }

  #signal(): void {
    const wake = this.#wake;
    if (wake) {
      this.#wake = null;
      wake();
    }
  }

  #shift(): HubMessage | undefined {
    const queue = this.#queue;
    if (this.#head >= queue.length) return undefined;
    const msg = queue[this.#head]!;
    // Drop the reference at once: consumed frames must not stay alive (and reach the old
    // generation) until the queue is compacted.
    queue[this.#head] = undefined;
    this.#head++;
    if (this.#head === queue.length) {
      queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 256 && this.#head * 2 > queue.length) {
      queue.splice(0, this.#head);
      this.#head = 0;
    }
    return msg;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<HubMessage> {
    while (true) {
      const msg = this.#shift();
      if (msg) {
        yield msg;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }
}

/** How a publisher opens its stream. */
export interface OpenOptions {
  /**
   * Ends the publisher's connection when the hub gives its name to a new publisher because it
   * went silent. Without it, the stream is never taken over.
   */
  evict?(reason: string): void;
}

/** A live broadcast: the publisher writes, subscriptions read. */
export class LiveStream {
  readonly info: StreamInfo;
  readonly #subs = new Set<Subscription>();
  readonly #log: Logger;
  readonly #droppedTotal: Counter | undefined;
  readonly evict: ((reason: string) => void) | undefined;
  #ended = false;
  #lost = false;
  /** `performance.now()` of the last frame, or of the start. */
  #lastFrameAt = performance.now();
  #latestKeyframe: MediaFrame | undefined;

  constructor(info: StreamInfo, log: Logger, droppedTotal?: Counter, opts: OpenOptions = {}) {
    this.info = info;
    this.#log = log;
    this.#droppedTotal = droppedTotal;
    this.evict = opts.evict;
  }

  /**
   * The newest video keyframe, a reference kept for whoever wants a still of the stream
   * (thumbnails) so that none of them needs a consumer reading every frame.
   */
  get latestKeyframe(): MediaFrame | undefined {
    return this.#latestKeyframe;
  }

  /** Milliseconds since the publisher's last frame (or the start), at `now`. */
  silentMs(now = performance.now()): number {
    return now - this.#lastFrameAt;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * The publisher vanished (connection lost or timed out) rather than stopping: it may be
   * back within the republish grace, so consumers should not treat the broadcast as over yet.
   */
  get lost(): boolean {
    return this.#lost;
  }

  /**
   * A new consumer. It first receives the current configs (so a late subscriber can
   * decode), then everything the publisher sends until the stream ends.
   */
  subscribe(consumer: string, capacity = DEFAULT_QUEUE_FRAMES): Subscription {
    const sub = new Subscription(
      consumer,
      capacity,
      this.#log,
      () => this.#subs.delete(sub),
      this.#droppedTotal?.labels(consumer),
    );
    if (this.info.video) sub.offer({ type: "config", track: this.info.video });
    if (this.info.audio) sub.offer({ type: "config", track: this.info.audio });
    if (this.#ended) sub.close();
    else this.#subs.add(sub);
    return sub;
  }

  config(track: TrackConfig): void {
    if (track.kind === "video") this.info.video = track;
    else this.info.audio = track;
    this.info.codecs = codecStrings(this.info);
    this.#fanout({ type: "config", track });
  }

  frame(frame: MediaFrame): void {
    this.#lastFrameAt = performance.now();
    if (frame.keyframe && frame.kind === "video") this.#latestKeyframe = frame;
    this.info.frames++;
    this.info.bytes += frame.data.length;
    this.info.stats.frame(frame.kind, frame.dts, frame.keyframe, frame.data.length);
    this.#fanout({ type: "frame", frame });
  }

  #fanout(msg: HubMessage): void {
    for (const sub of this.#subs) sub.offer(msg);
  }

  /** Ends every subscription (after they drain); `lost` as the getter says. */
  end(lost = false): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#lost = lost;
    for (const sub of [...this.#subs]) sub.close();
  }
}

/** RFC 6381 codec strings for the stream's tracks. */
export function codecStrings(info: Pick<StreamInfo, "video" | "audio">): string[] {
  const out: string[] = [];
  const v = info.video?.avc;
  if (v) {
    const hex = (n: number) => n.toString(16).padStart(2, "0");
    out.push(`avc1.${hex(v.profile)}${hex(v.compatibility)}${hex(v.level)}`);
  }
  const a = info.audio?.aac;
  if (a) out.push(`mp4a.40.${a.objectType}`);
  return out;
}

export class StreamBusyError extends Error {
  override name = "StreamBusyError";
}

/** All live streams of this process, by public name. */
export class StreamHub {
  readonly #streams = new Map<string, LiveStream>();
  readonly #listeners = new Set<(e: HubEvent) => void>();
  readonly #log: Logger;
  readonly #droppedTotal: Counter | undefined;
  readonly #takeoverIdleMs: number;

  /**
   * With `metrics`, frames lost by slow consumers are counted there. A publisher silent for
   * `takeoverIdleMs` gives its name up to a new publish of it (its network dropped and the
   * encoder is reconnecting: the new one need not wait for the idle timeout).
   */
  constructor(log: Logger = rootLog, metrics?: MetricsRegistry, takeoverIdleMs = Infinity) {
    this.#log = log;
    this.#takeoverIdleMs = takeoverIdleMs;
    this.#droppedTotal = metrics?.counter(
      "cascade_hub_dropped_frames_total",
      "Frames a slow consumer lost (dropped until the next keyframe), by consumer",
      ["consumer"],
    );
  }

  get size(): number {
    return this.#streams.size;
  }

  get(name: string): LiveStream | undefined {
    return this.#streams.get(name);
  }

  streams(): IterableIterator<LiveStream> {
    return this.#streams.values();
  }

  /** Listens to publish start/stop; returns the unsubscribe function. */
  on(listener: (e: HubEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Starts a broadcast; throws `StreamBusyError` when the name is already live here, unless
   * its publisher can be evicted and has been silent for the takeover time. A broadcast taken
   * over counts as lost (the playlist continues after a discontinuity).
   */
  open(name: string, clientIp: string, opts: OpenOptions = {}): LiveStream {
    const holder = this.#streams.get(name);
    if (holder) {
      const silentMs = holder.silentMs();
      if (!holder.evict || silentMs < this.#takeoverIdleMs) {
        throw new StreamBusyError(`Stream is already live: ${name}`);
      }
      const reason = "taken over by a new publisher";
      this.#log.info("publish.taken_over", { stream: name, silentSeconds: silentMs / 1000 });
      holder.evict(reason);
      this.close(holder, reason, true);
    }
    const stream = new LiveStream(
      {
        name,
        clientIp,
        startedAt: new Date(),
        codecs: [],
        metadata: {},
        frames: 0,
        bytes: 0,
        stats: new IngestStats(),
      },
      this.#log.child({ stream: name }),
      this.#droppedTotal,
      opts,
    );
    this.#streams.set(name, stream);
    this.#emit({ type: "publish.start", stream });
    return stream;
  }

  /**
   * Ends a broadcast started by `open`; a second call is a no-op. `lost`: the publisher's
   * connection went away without it stopping (see `LiveStream.lost`).
   */
  close(stream: LiveStream, reason: string, lost = false): void {
    if (this.#streams.get(stream.info.name) !== stream) return;
    this.#streams.delete(stream.info.name);
    stream.end(lost);
    this.#emit({ type: "publish.stop", stream, reason });
  }

  #emit(e: HubEvent): void {
    for (const l of this.#listeners) {
      try {
        l(e);
      } catch (err) {
        this.#log.error("hub.listener_failed", { event: e.type, error: err });
      }
    }
  }
}
