/**
 * A scriptable origin for edge tests, written on raw TCP so that it can misbehave the way
 * real origins do: cut a body short, send garbage, answer 5xx, stall, or be slow. It speaks
 * enough HTTP/1.1 (keep-alive, `Content-Length` bodies) for undici and counts every request
 * by path, which is how tests prove that N viewers cost one origin fetch.
 */

export interface FakeReply {
  status?: number;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /** Send only this many body bytes (the full length still announced), then close. */
  cutAt?: number;
  /** Wait before answering: a delay in ms, or a promise to wait for. */
  delay?: number | Promise<unknown>;
  /** Never answer (until the origin closes). */
  hang?: boolean;
}

export type FakeHandler = (path: string) => FakeReply | undefined;

const encoder = new TextEncoder();

export class FakeOrigin implements AsyncDisposable {
  readonly url: string;
  /** Replies by request path; a path not listed (and not handled) gets 404. */
  readonly files = new Map<string, FakeReply>();
  /** Paths requested, in order. */
  readonly requests: string[] = [];
  handler: FakeHandler | undefined;
  readonly #listener: Deno.Listener;
  readonly #conns = new Set<Deno.Conn>();
  readonly #serving: Promise<void>;
  readonly #closing = Promise.withResolvers<void>();
  #closed = false;

  private constructor(listener: Deno.Listener) {
    this.#listener = listener;
    this.url = `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    this.#serving = this.#accept();
  }

  static start(): FakeOrigin {
    return new FakeOrigin(Deno.listen({ hostname: "127.0.0.1", port: 0 }));
  }

  /** Requests made for `path`. */
  count(path: string): number {
    return this.requests.filter((p) => p === path).length;
  }

  /** Drops every open connection (as a crashed origin would) but keeps listening. */
  dropConnections(): void {
    for (const conn of this.#conns) closeQuietly(conn);
    this.#conns.clear();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.resolve();
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    this.dropConnections();
    await this.#serving;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #accept(): Promise<void> {
    const sessions: Promise<void>[] = [];
    try {
      for await (const conn of this.#listener) {
        this.#conns.add(conn);
        sessions.push(this.#session(conn).finally(() => this.#conns.delete(conn)));
      }
    } catch {
      // The listener was closed.
    }
    await Promise.allSettled(sessions);
  }

  async #session(conn: Deno.Conn): Promise<void> {
    let buffered = "";
    const chunk = new Uint8Array(16 * 1024);
    const decoder = new TextDecoder();
    try {
      while (!this.#closed) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) {
          const n = await conn.read(chunk);
          if (n === null) return;
          buffered += decoder.decode(chunk.subarray(0, n), { stream: true });
          continue;
        }
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const path = head.split("\r\n")[0]!.split(" ")[1] ?? "/";
        this.requests.push(path);
        const reply = this.handler?.(path) ?? this.files.get(path) ?? { status: 404, body: "" };
        if (!(await this.#answer(conn, reply))) return;
      }
    } catch {
      // The connection was dropped.
    } finally {
      closeQuietly(conn);
    }
  }

  /** Writes one response; false when the connection must close after it. */
  async #answer(conn: Deno.Conn, reply: FakeReply): Promise<boolean> {
    if (reply.hang) {
      await this.#closing.promise;
      return false;
    }
    if (typeof reply.delay === "number") {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        new Promise((resolve) => (timer = setTimeout(resolve, reply.delay as number))),
        this.#closing.promise,
      ]);
      clearTimeout(timer);
    } else if (reply.delay !== undefined) {
      await Promise.race([reply.delay, this.#closing.promise]);
    }
    if (this.#closed) return false;
    const body = typeof reply.body === "string"
      ? encoder.encode(reply.body)
      : reply.body ?? new Uint8Array();
    const status = reply.status ?? 200;
    const lines = [`HTTP/1.1 ${status} X`, `Content-Length: ${body.byteLength}`];
    for (const [k, v] of Object.entries(reply.headers ?? {})) lines.push(`${k}: ${v}`);
    const sent = reply.cutAt === undefined ? body : body.subarray(0, reply.cutAt);
    const headBytes = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
    const out = new Uint8Array(headBytes.byteLength + sent.byteLength);
    out.set(headBytes);
    out.set(sent, headBytes.byteLength);
    await writeAll(conn, out);
    return reply.cutAt === undefined;
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.byteLength) at += await conn.write(data.subarray(at));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/** `packets` MPEG-TS packets (sync byte, then bytes that differ per packet): a fake segment. */
export function fakeSegment(packets: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(packets * 188);
  for (let p = 0; p < packets; p++) {
    const at = p * 188;
    out[at] = 0x47; // sync_byte
    for (let i = 1; i < 188; i++) out[at + i] = (p * 31 + i * 7 + seed) & 0xff;
  }
  return out;
}

/** A live media playlist of `count` 2 s segments from `first`. */
export function fakePlaylist(first: number, count = 3, target = 2): string {
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-MEDIA-SEQUENCE:${first}`,
  ];
  for (let i = 0; i < count; i++) lines.push("#EXTINF:2.000,", `${first + i}.ts`);
  return lines.join("\n") + "\n";
}
