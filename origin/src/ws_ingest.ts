/**
 * Browser ingest: the `/ingest/ws` WebSocket endpoint on the origin's HTTP listener (and the
 * all-in-one's), one `WsSession` per publisher. The npm `ws` package does the RFC 6455
 * framing (`noServer`, so the guarded listener of `http_server.ts` keeps its connection
 * budget); this module owns the sockets' lifecycles: the time allowed for the first message,
 * the idle timeout, `stats` every 2 s, the message-size cap,
 * kicks and shutdown. Opus audio goes to an ffmpeg child (`opus_transcoder.ts`). Log lines
 * carry the client address and the resolved name, never the key (it is in the first
 * message, not the URL). See docs/architecture.md, "Browser ingest".
 */
import type { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import { LazyWsServer } from "@cascade/common/ws_server";
import type { Duplex } from "node:stream";
import type { Logger } from "@cascade/common/log";
import type { UpgradedConnection } from "@cascade/common/http_server";
import type { PublishAuthorizer } from "@cascade/common/publish_auth";
import type { StreamHub } from "@cascade/stream/hub";
import { CLOSE_CODES, serverMessages } from "./ws_messages.ts";
import { STATS_WINDOW_MS, type TranscoderFactory, WsSession } from "./ws_session.ts";

/** The path browsers publish to. */
export const WS_INGEST_PATH = "/ingest/ws";

export interface WsIngestOptions {
  app: string;
  originId: string;
  hub: StreamHub;
  auth: PublishAuthorizer;
  log: Logger;
  maxMessageBytes: number;
  maxFps: number;
  maxKbps: number;
  authTimeoutMs: number;
  idleTimeoutMs: number;
  opusTranscoder: TranscoderFactory;
}

/** The part of a `ws` socket this module uses (the package ships no types). */
interface Socket {
  readonly readyState: number;
  send(text: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void;
  on(event: "close", listener: () => void): void;
  on(event: "error", listener: (err: Error & { code?: string }) => void): void;
}

const OPEN = 1;

/**
 * The ingest's `ws` server. `ws` answers a message over `maxPayload` by closing with 1009
 * before the message is read; the protocol answers it with a `too_large` error and close code
 * 4013 instead.
 */
function ingestServer(maxPayload: number): LazyWsServer {
  return new LazyWsServer(({ WebSocket, WebSocketServer }) => {
    class IngestSocket extends (WebSocket as new (...args: never[]) => Socket) {
      override close(code?: number, reason?: string): void {
        if (code !== 1009 || this.readyState !== OPEN) return super.close(code, reason);
        this.send(serverMessages.error("too_large", "Message larger than this server accepts"));
        super.close(CLOSE_CODES.too_large, "too_large");
      }
    }
    return new WebSocketServer({
      noServer: true,
      maxPayload,
      perMessageDeflate: false,
      WebSocket: IngestSocket,
    });
  });
}

interface Connection {
  session: WsSession;
  socket: Socket;
}

export class WsIngest {
  readonly #o: WsIngestOptions;
  readonly #server: LazyWsServer;
  readonly #connections = new Set<Connection>();
  readonly #closed = new Set<Promise<void>>();

  constructor(opts: WsIngestOptions) {
    this.#o = opts;
    this.#server = ingestServer(opts.maxMessageBytes);
  }

  get connections(): number {
    return this.#connections.size;
  }

  /** The upgrade handler for `WS_INGEST_PATH`. */
  readonly upgrade = (
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    conn: UpgradedConnection,
  ): void => {
    this.#server.get().then((server) => {
      server.handleUpgrade(req, socket, head, (ws: Socket) => this.#serve(req, ws, conn));
    }).catch((err) => {
      this.#o.log.error("ws_ingest.unavailable", { error: err });
      socket.destroy();
    });
  };

  #serve(req: IncomingMessage, socket: Socket, conn: UpgradedConnection): void {
    const clientIp = req.socket.remoteAddress ?? "unknown";
    const log = this.#o.log.child({ client: `${clientIp}:${req.socket.remotePort}` });
    const session = new WsSession({
      app: this.#o.app,
      originId: this.#o.originId,
      clientIp,
      hub: this.#o.hub,
      auth: this.#o.auth,
      log,
      maxFps: this.#o.maxFps,
      maxKbps: this.#o.maxKbps,
      opusTranscoder: this.#o.opusTranscoder,
    }, {
      send: (text) => {
        if (socket.readyState === OPEN) socket.send(text);
      },
      close: (code, reason) => socket.close(code, reason),
      established: () => conn.established(),
      terminate: () => socket.terminate(),
    });
    const connection: Connection = { session, socket };
    this.#connections.add(connection);
    let nextStats = performance.now() + STATS_WINDOW_MS;
    const timer = setInterval(() => {
      const now = performance.now();
      if (session.waitingForPublish) {
        if (now - session.lastActivity > this.#o.authTimeoutMs) {
          session.fail("timeout", "No publish message in time", CLOSE_CODES.timeout);
        }
      } else if (session.publishing && now - session.lastActivity > this.#o.idleTimeoutMs) {
        log.info("ws_ingest.timeout", { phase: "idle", stream: session.streamName });
        // Silence is a vanished publisher: the playlist waits for it to come back.
        session.closed("idle timeout");
        socket.terminate();
      }
      if (now >= nextStats) {
        nextStats = now + STATS_WINDOW_MS;
        const stats = session.tick(now);
        if (stats !== null && socket.readyState === OPEN) socket.send(stats);
      }
    }, 500);
    socket.on("message", (data, isBinary) => {
      try {
        if (isBinary) session.onBinary(data);
        else session.onText(data.toString("utf8"));
      } catch (err) {
        log.error("ws_ingest.session_failed", { error: err, stream: session.streamName });
        session.fail("internal", "Internal error", CLOSE_CODES.internal);
      }
    });
    socket.on("error", (err) => {
      log.info("ws_ingest.socket_error", { error: err, stream: session.streamName });
    });
    let done!: () => void;
    const closed = new Promise<void>((resolve) => (done = resolve));
    this.#closed.add(closed);
    socket.on("close", () => {
      clearInterval(timer);
      session.closed("disconnected");
      this.#connections.delete(connection);
      this.#closed.delete(closed);
      done();
    });
  }

  /** Kicks the browser publisher of `name`, if it publishes here. */
  kick(name: string, description: string): boolean {
    for (const c of this.#connections) {
      if (c.session.streamName === name) {
        c.session.fail("unauthorized", description, CLOSE_CODES.unauthorized);
        return true;
      }
    }
    return false;
  }

  /** Ends every browser broadcast (as a clean stop) and waits for the sockets to close. */
  async close(): Promise<void> {
    for (const c of this.#connections) {
      c.session.fail("internal", "Server shutting down", 1001);
    }
    const deadline = setTimeout(() => {
      for (const c of this.#connections) c.socket.terminate();
    }, 2000);
    await Promise.all([...this.#closed]);
    clearTimeout(deadline);
    await this.#server.close();
  }
}
