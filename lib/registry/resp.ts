/**
 * RESP2, the Redis serialization protocol, without I/O: `encodeCommand` turns a command into
 * the bytes a server reads (an array of bulk strings), and `RespParser` turns the bytes a
 * server writes back into replies as they arrive, however the stream is cut into reads.
 * Bulk strings are decoded as UTF-8: every value the registry stores is JSON or text.
 */

/** A reply the server sent as an error (`-ERR …`); `message` is the server's text. */
export class ReplyError extends Error {
  override name = "ReplyError";
}

/** Integers, (bulk) strings, nil, arrays of those, or an error inside an array. */
export type Reply = string | number | null | ReplyError | Reply[];

const encoder = new TextEncoder();

/** `*N\r\n` then `$len\r\narg\r\n` per argument, lengths in bytes. */
export function encodeCommand(args: readonly (string | number)[]): Uint8Array {
  const parts = args.map((a) => encoder.encode(String(a)));
  const count = encoder.encode(`*${parts.length}\r\n`);
  // Per argument: "$", its length's digits, CRLF, the bytes, CRLF.
  let size = count.length;
  for (const p of parts) size += String(p.length).length + p.length + 5;
  const out = new Uint8Array(size);
  out.set(count, 0);
  let at = count.length;
  for (const p of parts) {
    at += encoder.encodeInto(`$${p.length}\r\n`, out.subarray(at)).written;
    out.set(p, at);
    at += p.length;
    out[at++] = 13;
    out[at++] = 10;
  }
  return out;
}

/** Thrown inside the parser when the buffer ends in the middle of a reply. */
const INCOMPLETE = Symbol("incomplete");

/** Replies larger than this are a broken or hostile server, not a registry value. */
const MAX_BULK_BYTES = 64 * 1024 * 1024;

export class RespParser {
  readonly #decoder = new TextDecoder();
  #buf = new Uint8Array(0);
  #pos = 0;

  /** Adds bytes read from the connection; `chunk` is copied, so the caller may reuse it. */
  push(chunk: Uint8Array): void {
    if (this.#pos >= this.#buf.length) {
      this.#buf = chunk.slice();
    } else {
      const rest = this.#buf.subarray(this.#pos);
      const joined = new Uint8Array(rest.length + chunk.length);
      joined.set(rest, 0);
      joined.set(chunk, rest.length);
      this.#buf = joined;
    }
    this.#pos = 0;
  }

  /**
   * The next complete reply, or `undefined` until more bytes arrive. Throws `SyntaxError` on
   * bytes that are not RESP2; the connection is then beyond repair.
   */
  next(): { reply: Reply } | undefined {
    if (this.#pos >= this.#buf.length) return undefined;
    const start = this.#pos;
    try {
      return { reply: this.#value() };
    } catch (err) {
      if (err !== INCOMPLETE) throw err;
      this.#pos = start;
      return undefined;
    }
  }

  #value(): Reply {
    const type = this.#buf[this.#pos];
    const line = this.#line();
    switch (type) {
      case 0x2b: // '+'
        return line;
      case 0x2d: // '-'
        return new ReplyError(line);
      case 0x3a: // ':'
        return this.#integer(line);
      case 0x24: { // '$'
        const length = this.#integer(line);
        if (length === -1) return null;
        if (length < 0 || length > MAX_BULK_BYTES) throw new SyntaxError(`bad bulk length ${line}`);
        const end = this.#pos + length;
        if (end + 2 > this.#buf.length) throw INCOMPLETE;
        const value = this.#decoder.decode(this.#buf.subarray(this.#pos, end));
        this.#pos = end + 2;
        return value;
      }
      case 0x2a: { // '*'
        const count = this.#integer(line);
        if (count === -1) return null;
        if (count < 0) throw new SyntaxError(`bad array length ${line}`);
        const items: Reply[] = [];
        for (let i = 0; i < count; i++) items.push(this.#value());
        return items;
      }
      default:
        throw new SyntaxError(`unexpected reply type byte ${type}`);
    }
  }

  /** The rest of the current line after its type byte; moves past its CRLF. */
  #line(): string {
    const cr = this.#buf.indexOf(13, this.#pos + 1);
    if (cr === -1 || cr + 1 >= this.#buf.length) throw INCOMPLETE;
    const text = this.#decoder.decode(this.#buf.subarray(this.#pos + 1, cr));
    this.#pos = cr + 2;
    return text;
  }

  #integer(text: string): number {
    const n = Number(text);
    if (text === "" || !Number.isInteger(n)) throw new SyntaxError(`bad integer ${text}`);
    return n;
  }
}
