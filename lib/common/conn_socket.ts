/**
 * A `Deno.Conn` as the `node:stream` socket the `ws` package serves WebSockets on, for the
 * listener's upgrades (`http_server.ts`). Node's streams are imported on the first upgrade,
 * not at start: a role that never takes one never loads them. Reads follow the stream's
 * demand (a paused socket stops reading the connection); each write resolves once the
 * connection took it, which is what `ws` waits on for its send callbacks.
 */
import type { Buffer } from "node:buffer";
import type { Duplex } from "node:stream";

const READ_BYTES = 64 * 1024;

type SocketClass = new (conn: Deno.Conn) => Duplex;
let made: Promise<{ Socket: SocketClass; toBuffer: (b: Uint8Array) => Buffer }> | undefined;

/** The socket over `conn`, and what was read past the upgrade's head as a `Buffer`. */
export async function connSocket(
  conn: Deno.Conn,
  rest: Uint8Array,
): Promise<{ socket: Duplex; head: Buffer }> {
  const { Socket, toBuffer } = await (made ??= define());
  return { socket: new Socket(conn), head: toBuffer(rest) };
}

async function define() {
  const { Duplex } = await import("node:stream");
  const { Buffer } = await import("node:buffer");

  class ConnSocket extends Duplex {
    readonly #conn: Deno.Conn;
    readonly remoteAddress: string | undefined;
    readonly remotePort: number | undefined;
    #reading = false;
    #wanted = false;

    constructor(conn: Deno.Conn) {
      super({ allowHalfOpen: false });
      this.#conn = conn;
      const addr = conn.remoteAddr as Deno.NetAddr;
      this.remoteAddress = addr.hostname;
      this.remotePort = addr.port;
    }

    /** Idle timeouts belong to the socket's owner (`ws` turns node's off the same way). */
    setTimeout(): this {
      return this;
    }

    setNoDelay(noDelay = true): this {
      (this.#conn as Deno.TcpConn).setNoDelay?.(noDelay);
      return this;
    }

    setKeepAlive(): this {
      return this;
    }

    override _read(): void {
      this.#wanted = true;
      if (!this.#reading) this.#pump();
    }

    async #pump(): Promise<void> {
      this.#reading = true;
      try {
        while (this.#wanted) {
          const buf = new Uint8Array(READ_BYTES);
          const n = await this.#conn.read(buf);
          if (n === null) {
            this.push(null);
            return;
          }
          this.#wanted = this.push(Buffer.from(buf.buffer, 0, n));
        }
      } catch (err) {
        this.destroy(err as Error);
      } finally {
        this.#reading = false;
      }
    }

    override _write(chunk: Buffer, _encoding: string, done: (err?: Error | null) => void): void {
      writeAll(this.#conn, chunk).then(() => done(), (err) => done(err));
    }

    override _final(done: (err?: Error | null) => void): void {
      (this.#conn as Deno.TcpConn).closeWrite().then(() => done(), () => done());
    }

    override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
      done(err);
    }
  }
  return {
    Socket: ConnSocket as unknown as SocketClass,
    toBuffer: (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) done += await conn.write(bytes.subarray(done));
}
