/**
 * Writing a handler's answer on an HTTP/1.1 connection (`http_server.ts`): a fetch `Response`
 * (its body streamed, with `Content-Length` when the response gives one, else chunked) or a
 * `RawReply`, whose body is already whole in memory and goes out as it is, in one write with
 * its head when small. HEAD requests and 1xx/204/304 statuses get no body.
 */
import { bodyless, chunk, LAST_CHUNK, type RequestHead, responseHead } from "./http1.ts";

/** An answer whose body is already whole in memory (the edge's cached segments). */
export interface RawReply {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | null;
}

/** What a handler answers. */
export type Reply = Response | RawReply;

export interface ReplyOptions {
  /** Seconds to advertise in `Keep-Alive`, or null to close after this response. */
  keepAliveSeconds: number | null;
  /** A write making no progress for this long closes the connection. */
  stallMs: number;
  /** Aborted when the client has gone: a streamed body stops. */
  signal: AbortSignal;
}

/** Bodies up to this size leave in the same write as their head. */
const JOIN_BELOW = 16 * 1024;

/**
 * Writes `reply` for the request `head`; resolves true when the connection may serve another
 * request (everything written, framing intact), false when it must close.
 */
export async function writeReply(
  conn: Deno.Conn,
  head: RequestHead,
  reply: Reply,
  o: ReplyOptions,
): Promise<boolean> {
  if (reply instanceof Response) return await writeResponse(conn, head, reply, o);
  const noBody = head.method === "HEAD" || bodyless(reply.status);
  const declared = declaredLength(reply.headers);
  const framing = bodyless(reply.status) ? null : {
    length: head.method === "HEAD" && declared !== null ? declared : reply.body?.byteLength ?? 0,
  };
  const top = responseHead(
    reply.status,
    Object.entries(reply.headers),
    framing,
    o.keepAliveSeconds,
  );
  const body = noBody || reply.body === null ? null : reply.body;
  try {
    if (body === null) await writeAll(conn, top, o.stallMs);
    else if (body.byteLength < JOIN_BELOW) await writeAll(conn, concat(top, body), o.stallMs);
    else {
      await writeAll(conn, top, o.stallMs);
      await writeAll(conn, body, o.stallMs);
    }
    return o.keepAliveSeconds !== null;
  } catch {
    return false;
  }
}

async function writeResponse(
  conn: Deno.Conn,
  head: RequestHead,
  res: Response,
  o: ReplyOptions,
): Promise<boolean> {
  const declared = res.headers.get("content-length");
  const length = declared !== null && /^\d{1,15}$/.test(declared) ? Number(declared) : null;
  const sendsBody = head.method !== "HEAD" && !bodyless(res.status) && res.body !== null;
  // HTTP/1.0 has no chunked framing: such a body ends with the connection.
  const closeDelimited = sendsBody && length === null && head.version === "HTTP/1.0";
  const framing = bodyless(res.status)
    ? null
    : res.body === null
    ? { length: 0 }
    : length !== null
    ? { length }
    : head.method === "HEAD" || closeDelimited
    ? null
    : "chunked" as const;
  const keepAlive = closeDelimited ? null : o.keepAliveSeconds;
  const top = responseHead(res.status, res.headers, framing, keepAlive);
  if (!sendsBody) {
    await res.body?.cancel().catch(() => {});
    try {
      await writeAll(conn, top, o.stallMs);
      return keepAlive !== null;
    } catch {
      return false;
    }
  }
  const reader = res.body!.getReader();
  const stop = () => reader.cancel().catch(() => {});
  o.signal.addEventListener("abort", stop, { once: true });
  let sent = 0;
  try {
    let pending: Uint8Array | null = top;
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.byteLength === 0) continue;
      sent += value.byteLength;
      const framed = framing === "chunked" ? chunk(value) : value;
      if (pending !== null && framed.byteLength < JOIN_BELOW) {
        // The head goes out with a small first piece of the body.
        await writeAll(conn, concat(pending, framed), o.stallMs);
      } else {
        if (pending !== null) await writeAll(conn, pending, o.stallMs);
        await writeAll(conn, framed, o.stallMs);
      }
      pending = null;
    }
    if (pending !== null) await writeAll(conn, pending, o.stallMs);
    if (framing === "chunked") await writeAll(conn, LAST_CHUNK, o.stallMs);
    return keepAlive !== null && (length === null || sent === length);
  } catch {
    await stop();
    return false;
  } finally {
    o.signal.removeEventListener("abort", stop);
  }
}

function declaredLength(headers: Record<string, string>): number | null {
  for (const [name, value] of Object.entries(headers)) {
    if (name.toLowerCase() === "content-length" && /^\d{1,15}$/.test(value)) return Number(value);
  }
  return null;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** Writes all of `bytes`, closing `conn` when a write makes no progress for `stallMs`. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array, stallMs: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const timer = setTimeout(() => {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }, stallMs);
    try {
      done += await conn.write(bytes.subarray(done));
    } finally {
      clearTimeout(timer);
    }
  }
}
