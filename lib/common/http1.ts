/**
 * HTTP/1.1 on one TCP connection, as every role's listener (`http_server.ts`) speaks it:
 * reading a request head within a byte limit, its body (`Content-Length` or chunked) as a
 * stream, and writing a response. The server owns timing and budgets; this module owns bytes.
 *
 * Strict where leniency lets one request be read two ways (request smuggling): a head must
 * end in CRLF CRLF, header lines may not be folded, `Content-Length` and `Transfer-Encoding`
 * may not come together, `Transfer-Encoding` must be exactly `chunked`. A head that breaks a
 * rule is a `BadRequest` (answered 400, or 431 when it is too long) and the connection closes.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A request line and headers; header names are lower case, in arrival order. */
export interface RequestHead {
  readonly method: string;
  /** Path and query as sent, still percent-encoded. */
  readonly target: string;
  /** `HTTP/1.0` or `HTTP/1.1`. */
  readonly version: string;
  /** [name, value] pairs, names lower case. */
  readonly headers: readonly (readonly [string, string])[];
  /** Bytes of the request line and headers. */
  readonly headBytes: number;
}

/** A request that cannot be read; `status` is what to answer before closing. */
export class BadRequest extends Error {
  readonly status: 400 | 431 | 501;
  constructor(status: 400 | 431 | 501, message: string) {
    super(message);
    this.name = "BadRequest";
    this.status = status;
  }
}

/** A header's value; repeated headers are joined with ", ". */
export function headerOf(head: RequestHead, name: string): string | undefined {
  let value: string | undefined;
  for (const [n, v] of head.headers) {
    if (n === name) value = value === undefined ? v : `${value}, ${v}`;
  }
  return value;
}

const TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// deno-lint-ignore no-control-regex
const BAD_VALUE_RE = /[\x00-\x08\x0a-\x1f\x7f]/;
const TARGET_RE = /^[\x21-\x7e]+$/;

/**
 * The bytes a connection has read and not yet used, and reads of more. One per connection;
 * its buffer grows to the head limit when a head needs it, and is shared by successive
 * requests (pipelined bytes stay for the next one).
 */
export class ConnReader {
  readonly #conn: Deno.Conn;
  #buf: Uint8Array<ArrayBuffer>;
  #start = 0;
  #end = 0;
  #eof = false;

  constructor(conn: Deno.Conn, initialBytes = 4096) {
    this.#conn = conn;
    this.#buf = new Uint8Array(initialBytes);
  }

  /** Bytes read and not yet taken. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  get eof(): boolean {
    return this.#eof;
  }

  /** Reads once more into the buffer (growing it up to `limit` bytes held); false at EOF. */
  async fill(limit: number): Promise<boolean> {
    if (this.#eof) return false;
    if (this.#end === this.#buf.length) {
      const held = this.#end - this.#start;
      if (this.#start > 0 && held < this.#buf.length / 2) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        if (this.#buf.length >= limit) return true; // the caller sees it holds `limit`
        const next = new Uint8Array(Math.min(limit, this.#buf.length * 2));
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      }
      this.#start = 0;
      this.#end = held;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) {
      this.#eof = true;
      return false;
    }
    this.#end += n;
    return true;
  }

  /** Up to `max` buffered bytes, taken (a copy: the buffer is reused). */
  take(max: number): Uint8Array<ArrayBuffer> {
    const n = Math.min(max, this.#end - this.#start);
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }

  /** Every byte buffered, taken (what an upgraded connection read past its head). */
  takeAll(): Uint8Array<ArrayBuffer> {
    return this.take(this.buffered);
  }

  /**
   * The next request head. Null when the peer closed before sending a byte of one; throws
   * `BadRequest` for a malformed head, one over `maxBytes`, or a connection cut inside one.
   */
  async readHead(maxBytes: number): Promise<RequestHead | null> {
    // The head with its closing CRLF CRLF may take maxBytes + 4 bytes.
    const limit = maxBytes + 4;
    let searched = 0;
    while (true) {
      const at = this.#find(searched);
      if (at >= 0 && at <= limit) return this.#parseHead(at);
      if (this.buffered >= limit) throw new BadRequest(431, "Request head too large");
      searched = Math.max(0, this.buffered - 3);
      if (!await this.fill(limit)) {
        if (this.buffered === 0) return null;
        throw new BadRequest(400, "Connection closed inside a request head");
      }
    }
  }

  /** Offset past `\r\n\r\n` from the start of the buffered bytes, or -1. */
  #find(from: number): number {
    const b = this.#buf;
    for (let i = this.#start + from; i + 3 < this.#end; i++) {
      if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) {
        return i + 4 - this.#start;
      }
    }
    return -1;
  }

  #parseHead(length: number): RequestHead {
    const text = decoder.decode(this.#buf.subarray(this.#start, this.#start + length - 4));
    this.#start += length;
    const lines = text.split("\r\n");
    const [method = "", target = "", version = "", ...extra] = lines[0]!.split(" ");
    if (!TOKEN_RE.test(method) || !TARGET_RE.test(target) || extra.length > 0) {
      throw new BadRequest(400, "Malformed request line");
    }
    if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
      throw new BadRequest(400, `Unsupported protocol ${version.slice(0, 16)}`);
    }
    const headers: [string, string][] = [];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(":");
      const name = line.slice(0, colon);
      if (colon <= 0 || !TOKEN_RE.test(name)) throw new BadRequest(400, "Malformed header line");
      const value = line.slice(colon + 1).trim();
      if (BAD_VALUE_RE.test(value)) throw new BadRequest(400, "Control character in a header");
      headers.push([name.toLowerCase(), value]);
    }
    return { method, target, version, headers, headBytes: length };
  }
}

/** How the body of a request is framed: its length, chunked, or none. */
export function bodyFraming(head: RequestHead): { length: number } | "chunked" | null {
  const te = headerOf(head, "transfer-encoding");
  const cl = headerOf(head, "content-length");
  if (te !== undefined) {
    if (cl !== undefined) throw new BadRequest(400, "Both Content-Length and Transfer-Encoding");
    if (te.toLowerCase() !== "chunked") throw new BadRequest(501, "Unsupported Transfer-Encoding");
    return "chunked";
  }
  if (cl === undefined) return null;
  if (!/^\d{1,15}$/.test(cl)) throw new BadRequest(400, "Malformed Content-Length");
  const length = Number(cl);
  return length === 0 ? null : { length };
}

/**
 * The body of the request whose head `reader` just read, as a stream. `done` settles when
 * the body has been read to its end (true) or cannot be (false: malformed, cut, cancelled);
 * `beforeFirstRead` runs once, when the body is first pulled (to answer `100-continue`).
 */
export function requestBody(
  reader: ConnReader,
  framing: { length: number } | "chunked",
  beforeFirstRead: () => Promise<void>,
): { stream: ReadableStream<Uint8Array<ArrayBuffer>>; done: Promise<boolean> } {
  let settle: (complete: boolean) => void = () => {};
  const done = new Promise<boolean>((resolve) => settle = resolve);
  let started = false;
  const chunks = framing === "chunked" ? chunkedBody(reader) : sizedBody(reader, framing.length);
  const stream = new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      try {
        if (!started) {
          started = true;
          await beforeFirstRead();
        }
        const next = await chunks.next();
        if (next.done) {
          settle(true);
          controller.close();
        } else controller.enqueue(next.value);
      } catch (err) {
        settle(false);
        controller.error(err);
      }
    },
    cancel() {
      settle(false);
    },
  });
  return { stream, done };
}

/** Cap on one piece handed to a body's reader. */
const BODY_PIECE = 64 * 1024;

async function* sizedBody(
  reader: ConnReader,
  length: number,
): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  let left = length;
  while (left > 0) {
    if (reader.buffered === 0 && !await reader.fill(BODY_PIECE)) {
      throw new BadRequest(400, "Connection closed inside a request body");
    }
    const piece = reader.take(Math.min(left, BODY_PIECE));
    left -= piece.byteLength;
    yield piece;
  }
}

/** Longest chunk-size line (hex size and extensions) accepted. */
const CHUNK_LINE_MAX = 1024;

async function* chunkedBody(reader: ConnReader): AsyncGenerator<Uint8Array<ArrayBuffer>> {
  while (true) {
    const line = await readLine(reader);
    const size = line.split(";", 1)[0]!.trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(size)) throw new BadRequest(400, "Malformed chunk size");
    let left = parseInt(size, 16);
    if (left === 0) {
      // Trailers, if any, up to the empty line.
      while ((await readLine(reader)) !== "") { /* ignored */ }
      return;
    }
    while (left > 0) {
      if (reader.buffered === 0 && !await reader.fill(BODY_PIECE)) {
        throw new BadRequest(400, "Connection closed inside a chunk");
      }
      const piece = reader.take(Math.min(left, BODY_PIECE));
      left -= piece.byteLength;
      yield piece;
    }
    if ((await readLine(reader)) !== "") throw new BadRequest(400, "Chunk not followed by CRLF");
  }
}

async function readLine(reader: ConnReader): Promise<string> {
  let line = "";
  while (true) {
    if (reader.buffered === 0 && !await reader.fill(BODY_PIECE)) {
      throw new BadRequest(400, "Connection closed inside a chunked body");
    }
    const byte = reader.take(1)[0]!;
    if (byte === 10) {
      if (!line.endsWith("\r")) throw new BadRequest(400, "Bare LF in a chunked body");
      return line.slice(0, -1);
    }
    line += String.fromCharCode(byte);
    if (line.length > CHUNK_LINE_MAX) throw new BadRequest(400, "Chunk line too long");
  }
}

/** Reason phrases of the statuses roles answer (others get none, which HTTP allows). */
const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  307: "Temporary Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  416: "Range Not Satisfiable",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

let dateSecond = -1;
let dateValue = "";

/** The `Date` header, made once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** Statuses whose responses carry no body and no `Content-Length` of one. */
export function bodyless(status: number): boolean {
  return status < 200 || status === 204 || status === 304;
}

/**
 * A response head: status line, the given headers (names as given; `connection`,
 * `keep-alive`, `date` and `transfer-encoding` are the server's and skipped), `Date`, the
 * connection's fate, and `framing`: a length, chunked, or none.
 */
export function responseHead(
  status: number,
  headers: Iterable<[string, string]>,
  framing: { length: number } | "chunked" | null,
  keepAliveSeconds: number | null,
): Uint8Array<ArrayBuffer> {
  let text = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`;
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (
      lower === "connection" || lower === "keep-alive" || lower === "date" ||
      lower === "transfer-encoding" || lower === "content-length"
    ) continue;
    text += `${name}: ${value}\r\n`;
  }
  text += `date: ${httpDate()}\r\n`;
  if (framing === "chunked") text += "transfer-encoding: chunked\r\n";
  else if (framing !== null) text += `content-length: ${framing.length}\r\n`;
  text += keepAliveSeconds === null
    ? "connection: close\r\n\r\n"
    : `connection: keep-alive\r\nkeep-alive: timeout=${keepAliveSeconds}\r\n\r\n`;
  return encoder.encode(text);
}

/** `data` framed as one chunk of a chunked body. */
export function chunk(data: Uint8Array): Uint8Array<ArrayBuffer> {
  const size = encoder.encode(`${data.byteLength.toString(16)}\r\n`);
  const out = new Uint8Array(size.byteLength + data.byteLength + 2);
  out.set(size);
  out.set(data, size.byteLength);
  out.set([13, 10], size.byteLength + data.byteLength);
  return out;
}

/** The end of a chunked body. */
export const LAST_CHUNK = encoder.encode("0\r\n\r\n");

/** A bare answer to a request that could not be read, closing the connection. */
export function errorReply(status: number): Uint8Array<ArrayBuffer> {
  return encoder.encode(
    `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
  );
}
