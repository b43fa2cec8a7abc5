/**
 * One connection to a Redis server (or Sentinel) speaking RESP2 over Deno's own sockets: calls
 * are written in order, commands made in the same turn of the event loop leave in one write,
 * and replies are matched to calls first in, first out. On a subscriber connection, published
 * messages (`["message", channel, payload]`) go to `onMessage` instead. When the connection
 * ends — closed by either side, a read or write error, bytes that are not RESP — every call
 * still waiting is rejected with the reason and `closed` settles with it; a link is never
 * reused after that (`RedisClient` opens a new one). A server that stops answering (frozen,
 * or a half-open connection) would otherwise collect calls nobody waits for any more: a call
 * made while the oldest one has had no reply for `staleAfterMs` ends the link instead.
 */
import { concatBytes } from "@cascade/media/bytes";
import { encodeCommand, type Reply, ReplyError, RespParser } from "./resp.ts";

export interface LinkAddress {
  host: string;
  port: number;
  tls?: boolean;
}

const READ_BUFFER_BYTES = 64 * 1024;
/** Default for `staleAfterMs`: far beyond any reply the registry waits for (1.5 s). */
export const STALE_AFTER_MS = 10_000;

interface PendingCall extends PromiseWithResolvers<Reply> {
  sentAt: number;
}

export class RespLink {
  readonly #conn: Deno.Conn;
  readonly #parser = new RespParser();
  readonly #pending: PendingCall[] = [];
  readonly #onMessage: ((channel: string, message: string) => void) | undefined;
  readonly #staleAfterMs: number;
  #out: Uint8Array[] = [];
  #flushing = false;
  #error: Error | undefined;
  /** Settles, never rejecting, with the reason once the connection is gone. */
  readonly closed: Promise<Error>;

  constructor(
    conn: Deno.Conn,
    onMessage?: (channel: string, message: string) => void,
    staleAfterMs = STALE_AFTER_MS,
  ) {
    this.#conn = conn;
    this.#onMessage = onMessage;
    this.#staleAfterMs = staleAfterMs;
    this.closed = this.#read();
  }

  /** Sends one command; resolves with its reply, rejects with `ReplyError` or the link's end. */
  call(args: readonly (string | number)[]): Promise<Reply> {
    if (this.#error) return Promise.reject(this.#error);
    const now = performance.now();
    const oldest = this.#pending[0];
    if (oldest !== undefined && now - oldest.sentAt > this.#staleAfterMs) {
      return Promise.reject(this.#fail(new Error(`no reply for ${this.#staleAfterMs} ms`)));
    }
    const reply: PendingCall = { ...Promise.withResolvers<Reply>(), sentAt: now };
    this.#pending.push(reply);
    this.#out.push(encodeCommand(args));
    if (!this.#flushing) {
      this.#flushing = true;
      queueMicrotask(() => this.#flush());
    }
    return reply.promise;
  }

  /** Ends the connection; calls still waiting are rejected with `reason`. */
  close(reason = new Error("connection closed")): void {
    this.#fail(reason);
  }

  async #flush(): Promise<void> {
    try {
      while (this.#out.length > 0 && this.#error === undefined) {
        const data = this.#out.length === 1 ? this.#out[0]! : concatBytes(this.#out);
        this.#out = [];
        for (let at = 0; at < data.length;) at += await this.#conn.write(data.subarray(at));
      }
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.#flushing = false;
    }
  }

  async #read(): Promise<Error> {
    const buf = new Uint8Array(READ_BUFFER_BYTES);
    try {
      while (this.#error === undefined) {
        const n = await this.#conn.read(buf);
        if (n === null) return this.#fail(new Error("connection closed by the server"));
        this.#parser.push(buf.subarray(0, n));
        for (let r = this.#parser.next(); r !== undefined; r = this.#parser.next()) {
          this.#dispatch(r.reply);
        }
      }
    } catch (err) {
      return this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
    return this.#error;
  }

  #dispatch(reply: Reply): void {
    if (this.#onMessage !== undefined && Array.isArray(reply) && reply[0] === "message") {
      this.#onMessage(String(reply[1]), String(reply[2]));
      return;
    }
    const call = this.#pending.shift();
    if (call === undefined) throw new SyntaxError("a reply nobody asked for");
    if (reply instanceof ReplyError) call.reject(reply);
    else call.resolve(reply);
  }

  /** The first failure ends the link: the socket is closed and every waiting call rejected. */
  #fail(reason: Error): Error {
    if (this.#error !== undefined) return this.#error;
    this.#error = reason;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the other side.
    }
    for (const call of this.#pending.splice(0)) call.reject(reason);
    this.#out = [];
    return reason;
  }
}

/**
 * Connects to `address` (TLS for `rediss://`); rejects when `signal` aborts first, closing a
 * connection that arrives late.
 */
export async function openLink(
  address: LinkAddress,
  signal: AbortSignal,
  onMessage?: (channel: string, message: string) => void,
  staleAfterMs?: number,
): Promise<RespLink> {
  signal.throwIfAborted();
  const { host: hostname, port } = address;
  if (address.tls) {
    const tls = await raceAbort(Deno.connectTls({ hostname, port }), signal);
    return new RespLink(tls, onMessage, staleAfterMs);
  }
  const conn = await raceAbort(Deno.connect({ hostname, port, signal }), signal);
  conn.setNoDelay(true);
  conn.setKeepAlive(true);
  return new RespLink(conn, onMessage, staleAfterMs);
}

/** `connecting` unless `signal` aborts first; a connection that arrives after that is closed. */
async function raceAbort<C extends Deno.Conn>(
  connecting: Promise<C>,
  signal: AbortSignal,
): Promise<C> {
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => aborted.reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([connecting, aborted.promise]);
  } catch (err) {
    connecting.then((conn) => conn.close(), () => {});
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
