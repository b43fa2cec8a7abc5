/**
 * One packager channel per stream name on a hub, shared by the TS and the LL-HLS packagers:
 * a channel outlives its publisher for the republish grace (it removes itself through
 * `onGone`), so a republish of the name runs on the same channel; `close()` waits for every
 * broadcast's last frames, ends the playlists of vanished publishers and stops timers.
 */
import type { LiveStream, StreamHub } from "@cascade/stream/hub";

/** What a packager's channel does for the set. */
export interface PackagerChannel {
  /** Consumes one broadcast of the name until its publisher stops. */
  run(stream: LiveStream): Promise<void>;
  /** Shutdown: ends a playlist left open for a vanished publisher. */
  finishPending(): Promise<void>;
  /** Stops timers; files stay as they are. */
  dispose(): void;
}

export class ChannelsByName<C extends PackagerChannel> {
  readonly #channels = new Map<string, C>();
  readonly #runs = new Set<Promise<void>>();
  readonly #off: () => void;

  /** `create(name, onGone)`: a new channel; it calls `onGone` when its name's files are done. */
  constructor(hub: StreamHub, create: (name: string, onGone: () => void) => C) {
    this.#off = hub.on((e) => {
      if (e.type !== "publish.start") return;
      const name = e.stream.info.name;
      let channel = this.#channels.get(name);
      if (!channel) {
        channel = create(name, () => this.#channels.delete(name));
        this.#channels.set(name, channel);
      }
      const run = channel.run(e.stream);
      this.#runs.add(run);
      run.finally(() => this.#runs.delete(run));
    });
  }

  get(name: string): C | undefined {
    return this.#channels.get(name);
  }

  values(): IterableIterator<C> {
    return this.#channels.values();
  }

  async close(): Promise<void> {
    this.#off();
    await Promise.allSettled([...this.#runs]);
    for (const c of this.#channels.values()) {
      await c.finishPending();
      c.dispose();
    }
  }
}
