/**
 * The origin's internal WebSockets for a transcoder that runs as a role of its own
 * (`deno task transcoder`, docs/architecture.md "Adaptive bitrate"), on the origin's HTTP
 * listener beside `/ingest/ws`. Both need `Authorization: Bearer {HOOK_TOKEN}` on the upgrade
 * (503 while `HOOK_TOKEN` is unset, 401 when it is missing or wrong: these sockets read any
 * stream and write renditions into the hub).
 *
 * - `/internal/feed/{name}` sends the live source `name` as FLV, one tag per binary message
 *   (header, configs, frames from the next keyframe), through a bounded hub subscription: a
 *   slow socket loses frames to the next keyframe like any consumer, and one that takes nothing
 *   for `FEED_STALL_MS` is closed. It closes (1000) when the stream ends.
 * - `/internal/renditions/{name}_{rung}` takes FLV in binary messages of at most
 *   `maxMessageBytes` and publishes it into the hub as stream `{name}_{rung}`, only while
 *   `name` is a live source here. The rendition ends when the socket closes, as lost (the
 *   packager holds it for the republish grace, so a reconnecting transcoder continues it),
 *   or with its source.
 */
import type { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { STREAM_NAME_RE } from "@cascade/common/config";
import type { Logger } from "@cascade/common/log";
import { isRendition, sourceOf } from "@cascade/common/renditions";
import { bearerToken, safeEqual } from "@cascade/common/secrets";
import { refuseUpgrade, type UpgradedConnection } from "@cascade/common/http_server";
import { sendFlushed } from "@cascade/common/ws_send";
import { LazyWsServer } from "@cascade/common/ws_server";
import { flvFeed, FlvHubReader } from "@cascade/stream/flv_feed";
import { type LiveStream, StreamBusyError, type StreamHub } from "@cascade/stream/hub";

/** The upgrade route: every path under it. */
export const INTERNAL_PATH = "/internal/";
const FEED_PREFIX = "/internal/feed/";
const RENDITIONS_PREFIX = "/internal/renditions/";
/** Frames queued for a feed socket before it loses frames to the next keyframe (~10 s). */
const FEED_QUEUE_FRAMES = 600;
/** A feed socket that takes nothing for this long is closed. */
const FEED_STALL_MS = 10_000;

export interface InternalFeedOptions {
  hub: StreamHub;
  log: Logger;
  /** `HOOK_TOKEN`; unset → every upgrade is refused with 503. */
  token: string | undefined;
  /** Largest binary message a rendition socket may send. */
  maxMessageBytes: number;
}

/** The part of a `ws` socket this module uses (the package ships no types). */
interface Socket {
  readonly readyState: number;
  send(data: Uint8Array, opts: { binary: boolean }, done: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "close", listener: (code: number) => void): void;
  on(event: "error", listener: (err: Error) => void): void;
}

const OPEN = 1;

export class InternalFeed {
  readonly #o: InternalFeedOptions;
  readonly #server: LazyWsServer;
  readonly #sockets = new Map<Socket, Promise<void>>();

  constructor(opts: InternalFeedOptions) {
    this.#o = opts;
    this.#server = new LazyWsServer(({ WebSocketServer }) =>
      new WebSocketServer({
        noServer: true,
        maxPayload: opts.maxMessageBytes,
        perMessageDeflate: false,
      })
    );
  }

  /** The upgrade handler for `INTERNAL_PATH`. */
  readonly upgrade = (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    conn: UpgradedConnection,
  ): void => {
    this.#route(req, socket, head, conn).catch((err) => {
      this.#o.log.error("internal.upgrade_failed", { error: err });
      socket.destroy();
    });
  };

  async #route(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    conn: UpgradedConnection,
  ): Promise<void> {
    const client = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
    const log = this.#o.log.child({ client });
    const token = this.#o.token;
    if (token === undefined) return refuseUpgrade(socket, "503 Service Unavailable");
    const given = bearerToken(req.headers.authorization);
    if (given === undefined || !(await safeEqual(given, token))) {
      log.warn("internal.unauthorized", { path: (req.url ?? "").split("?")[0] });
      return refuseUpgrade(socket, "401 Unauthorized");
    }
    const path = (req.url ?? "/").split("?")[0]!;
    const hub = this.#o.hub;
    let serve: ((ws: Socket) => Promise<void>) | undefined;
    if (path.startsWith(FEED_PREFIX)) {
      const name = path.slice(FEED_PREFIX.length);
      const source = isSource(name) ? hub.get(name) : undefined;
      if (source) serve = (ws) => this.#feed(ws, source, log.child({ stream: name }));
    } else if (path.startsWith(RENDITIONS_PREFIX)) {
      const name = path.slice(RENDITIONS_PREFIX.length);
      const of = STREAM_NAME_RE.test(name) ? sourceOf(name) : undefined;
      const source = of && isSource(of.source) ? hub.get(of.source) : undefined;
      if (source) {
        const ip = req.socket.remoteAddress ?? "unknown";
        serve = (ws) => this.#receive(ws, name, source, ip, log.child({ stream: name }));
      }
    }
    if (serve === undefined || socket.destroyed) return refuseUpgrade(socket, "404 Not Found");
    conn.established();
    const server = await this.#server.get();
    server.handleUpgrade(req, socket, head, (ws: Socket) => {
      ws.on("error", (err) => log.info("internal.socket_error", { error: err }));
      this.#sockets.set(ws, serve(ws));
    });
  }

  /** Sends `source` as FLV until it ends or the socket goes. */
  async #feed(ws: Socket, source: LiveStream, log: Logger): Promise<void> {
    const sub = source.subscribe("internal-feed", FEED_QUEUE_FRAMES);
    const closed = new Promise<void>((resolve) =>
      ws.on("close", () => {
        sub.close();
        resolve();
      })
    );
    log.info("internal.feed_start");
    try {
      for await (const chunk of flvFeed(sub)) {
        if (ws.readyState !== OPEN) break;
        await sendFlushed(ws, chunk, FEED_STALL_MS);
      }
      if (ws.readyState === OPEN) ws.close(1000, "stream ended");
    } catch (err) {
      log.warn("internal.feed_failed", { error: err });
      ws.terminate();
    }
    await closed;
    this.#sockets.delete(ws);
    log.info("internal.feed_stop", { dropped: sub.dropped });
  }

  /** Publishes what the socket sends as stream `name` while `source` lives. */
  #receive(ws: Socket, name: string, source: LiveStream, ip: string, log: Logger): Promise<void> {
    const hub = this.#o.hub;
    const reader = new FlvHubReader();
    let out: LiveStream | undefined;
    const offSource = hub.on((e) => {
      if (e.type === "publish.stop" && e.stream === source) ws.close(1000, "source ended");
    });
    if (source.ended) ws.close(1000, "source ended");
    ws.on("message", (data, isBinary) => {
      if (!isBinary) return ws.close(1003, "binary FLV only");
      try {
        for (const msg of reader.push(data)) {
          out ??= hub.open(name, ip, { evict: () => ws.terminate() });
          if (msg.type === "config") out.config(msg.track);
          else out.frame(msg.frame);
        }
      } catch (err) {
        log.warn("internal.rendition_refused", { error: err });
        ws.close(err instanceof StreamBusyError ? 4009 : 1007, "refused");
      }
    });
    log.info("internal.rendition_start");
    return new Promise((resolve) =>
      ws.on("close", () => {
        offSource();
        // Lost unless its source ended as a clean stop: a transcoder that reconnects continues.
        const lost = source.ended ? source.lost : true;
        if (out) hub.close(out, "transcoder disconnected", lost);
        this.#sockets.delete(ws);
        log.info("internal.rendition_stop", { lost });
        resolve();
      })
    );
  }

  /** Closes every internal socket and waits for their streams to be let go. */
  async close(): Promise<void> {
    const open = [...this.#sockets];
    for (const [ws] of open) ws.terminate();
    await Promise.all(open.map(([, done]) => done));
    await this.#server.close();
  }
}

/** A name this origin may feed from or make renditions of: a valid name, not a rendition. */
function isSource(name: string): boolean {
  return STREAM_NAME_RE.test(name) && !isRendition(name);
}
