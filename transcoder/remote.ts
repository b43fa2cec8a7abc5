/**
 * The transcoder role's two links to an origin, both WebSockets with the origin's
 * `HOOK_TOKEN` (docs/architecture.md, "Adaptive bitrate"):
 *
 * - `SourceFeed` reads `/internal/feed/{name}` (FLV) into the role's local hub as stream
 *   `name`, where the `Transcoder` makes the renditions as it does beside an origin.
 * - `RenditionPush` sends one local rendition `{name}_{rung}` as FLV to
 *   `/internal/renditions/{name}_{rung}` through a bounded subscription: it awaits each
 *   message's write, so a slow origin costs frames up to the next keyframe, never memory.
 *
 * Either reconnects after 0.5 s, doubling to 10 s (reset by a connection that carried media),
 * while its stream is wanted. A feed that drops ends the local source as lost, and with it its
 * renditions; the next connection starts them again from a keyframe.
 */
import type { Buffer } from "node:buffer";
import { WebSocket } from "ws";
import type { Logger } from "@cascade/common/log";
import { sendFlushed, type SendingSocket } from "@cascade/common/ws_send";
import { flvFeed, FlvHubReader } from "@cascade/stream/flv_feed";
import type { LiveStream, StreamHub } from "@cascade/stream/hub";

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
/** Frames queued for a push before it loses frames to the next keyframe (~10 s). */
const PUSH_QUEUE_FRAMES = 600;
/** A push the origin takes nothing of for this long is closed and reconnected. */
const PUSH_STALL_MS = 10_000;
/** Largest feed message accepted: one FLV tag (the origin's own cap on RTMP messages). */
const MAX_FEED_MESSAGE_BYTES = 16 * 1024 * 1024;
const OPEN = 1;

export interface LinkDeps {
  hub: StreamHub;
  log: Logger;
  /** The origins' `HOOK_TOKEN`. */
  token: string;
}

/** The part of a `ws` socket this module uses (the package ships no types). */
interface Socket extends SendingSocket {
  readonly readyState: number;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: "open", listener: () => void): void;
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "close", listener: (code: number) => void): void;
  on(event: "error", listener: (err: Error) => void): void;
}

/** The WebSocket URL of `path` on the origin at `originUrl` (its public http(s) base). */
export function wsUrl(originUrl: string, path: string): string {
  // Relative to the base, so an origin published under a path prefix keeps it.
  const url = new URL(path.replace(/^\/+/, ""), originUrl.replace(/\/*$/, "/"));
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

function connect(url: string, token: string): Socket {
  return new (WebSocket as unknown as new (url: string, opts: unknown) => Socket)(url, {
    headers: { Authorization: `Bearer ${token}` },
    perMessageDeflate: false,
    maxPayload: MAX_FEED_MESSAGE_BYTES,
  });
}

/** Reconnect delays: doubling from 0.5 s to 10 s; `sleep` ends early on `wake`. */
class Backoff {
  #ms = FIRST_BACKOFF_MS;
  #wake: (() => void) | undefined;

  get ms(): number {
    return this.#ms;
  }

  reset(): void {
    this.#ms = FIRST_BACKOFF_MS;
  }

  async sleep(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.#ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
    this.#ms = Math.min(this.#ms * 2, MAX_BACKOFF_MS);
  }

  wake(): void {
    this.#wake?.();
  }
}

/** One source pulled from its origin into the local hub while wanted. */
export class SourceFeed {
  readonly name: string;
  readonly originUrl: string;
  readonly done: Promise<void>;
  readonly #deps: LinkDeps;
  readonly #log: Logger;
  readonly #backoff = new Backoff();
  #stopped = false;
  #socket: Socket | undefined;
  #local: LiveStream | undefined;

  constructor(name: string, originUrl: string, deps: LinkDeps) {
    this.name = name;
    this.originUrl = originUrl;
    this.#deps = deps;
    this.#log = deps.log.child({ stream: name });
    this.done = this.#run();
  }

  /** Stops pulling; the local source ends at once (a clean stop), and its renditions with it. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#socket?.terminate();
    this.#endLocal(false);
    this.#backoff.wake();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const { code, frames } = await this.#once();
      if (this.#stopped) break;
      if (frames > 0) this.#backoff.reset();
      this.#log.warn("transcoder.feed_lost", { code, frames, inSeconds: this.#backoff.ms / 1000 });
      await this.#backoff.sleep();
    }
  }

  /** One connection: its close code and how many frames it carried. */
  #once(): Promise<{ code: number; frames: number }> {
    const hub = this.#deps.hub;
    const ws = connect(wsUrl(this.originUrl, `/internal/feed/${this.name}`), this.#deps.token);
    this.#socket = ws;
    const reader = new FlvHubReader();
    let frames = 0;
    ws.on("open", () => this.#log.info("transcoder.feed_open", { origin: this.originUrl }));
    ws.on("error", (err) => this.#log.info("transcoder.feed_error", { error: err }));
    ws.on("message", (data, isBinary) => {
      if (!isBinary || this.#stopped) return;
      try {
        for (const msg of reader.push(data)) {
          const local = this.#local ??= hub.open(this.name, new URL(this.originUrl).hostname);
          if (msg.type === "config") local.config(msg.track);
          else {
            local.frame(msg.frame);
            frames++;
          }
        }
      } catch (err) {
        this.#log.warn("transcoder.feed_refused", { error: err });
        ws.terminate();
      }
    });
    return new Promise((resolve) =>
      ws.on("close", (code) => {
        // 1000: the origin says the broadcast ended; anything else may come back.
        this.#endLocal(code !== 1000);
        resolve({ code, frames });
      })
    );
  }

  #endLocal(lost: boolean): void {
    const local = this.#local;
    this.#local = undefined;
    if (local) this.#deps.hub.close(local, lost ? "feed lost" : "feed ended", lost);
  }
}

/** One local rendition pushed to its source's origin until it ends. */
export class RenditionPush {
  readonly done: Promise<void>;
  readonly #stream: LiveStream;
  readonly #originUrl: string;
  readonly #deps: LinkDeps;
  readonly #log: Logger;
  readonly #backoff = new Backoff();
  #stopped = false;
  #socket: Socket | undefined;

  constructor(stream: LiveStream, originUrl: string, deps: LinkDeps) {
    this.#stream = stream;
    this.#originUrl = originUrl;
    this.#deps = deps;
    this.#log = deps.log.child({ rendition: stream.info.name });
    this.done = this.#run();
  }

  stop(): void {
    this.#stopped = true;
    this.#socket?.terminate();
    this.#backoff.wake();
  }

  async #run(): Promise<void> {
    while (!this.#stopped && !this.#stream.ended) {
      const sent = await this.#once();
      if (this.#stopped || this.#stream.ended) break;
      if (sent > 0) this.#backoff.reset();
      this.#log.warn("transcoder.push_lost", { sent, inSeconds: this.#backoff.ms / 1000 });
      await this.#backoff.sleep();
    }
  }

  /** One connection: the messages it sent. */
  async #once(): Promise<number> {
    const path = `/internal/renditions/${this.#stream.info.name}`;
    const ws = connect(wsUrl(this.#originUrl, path), this.#deps.token);
    this.#socket = ws;
    const closed = new Promise<number>((resolve) => ws.on("close", resolve));
    ws.on("error", (err) => this.#log.info("transcoder.push_error", { error: err }));
    const opened = await Promise.race([
      new Promise<boolean>((resolve) => ws.on("open", () => resolve(true))),
      closed.then(() => false),
    ]);
    if (!opened) return 0;
    this.#log.info("transcoder.push_open", { origin: this.#originUrl });
    const sub = this.#stream.subscribe("push", PUSH_QUEUE_FRAMES);
    void closed.then(() => sub.close());
    let sent = 0;
    try {
      for await (const chunk of flvFeed(sub)) {
        if (ws.readyState !== OPEN) break;
        await sendFlushed(ws, chunk, PUSH_STALL_MS);
        sent++;
      }
      if (ws.readyState === OPEN) ws.close(1000, "rendition ended");
    } catch (err) {
      this.#log.warn("transcoder.push_failed", { error: err });
      ws.terminate();
    }
    sub.close();
    await closed;
    return sent;
  }
}
