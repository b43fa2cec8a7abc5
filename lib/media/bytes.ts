/**
 * Small big-endian byte reader and writer over `Uint8Array`, shared by the wire codecs
 * (AMF0, RTMP, FLV, MPEG-TS). Readers throw `RangeError` when asked to read past the end,
 * so a truncated input surfaces as one catchable error instead of garbage values.
 */

/** Reads big-endian integers, floats and byte runs from a buffer without copying. */
export class ByteReader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  offset: number;

  constructor(bytes: Uint8Array, offset = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  #need(n: number): number {
    const at = this.offset;
    if (at + n > this.bytes.length) {
      throw new RangeError(
        `Cannot read ${n} bytes at offset ${at}: only ${this.bytes.length - at} left`,
      );
    }
    this.offset = at + n;
    return at;
  }

  u8(): number {
    return this.bytes[this.#need(1)]!;
  }

  u16(): number {
    return this.view.getUint16(this.#need(2));
  }

  u24(): number {
    const at = this.#need(3);
    return (this.bytes[at]! << 16) | (this.bytes[at + 1]! << 8) | this.bytes[at + 2]!;
  }

  /** Signed 24-bit, as FLV's composition time offset. */
  i24(): number {
    const v = this.u24();
    return v & 0x800000 ? v - 0x1000000 : v;
  }

  u32(): number {
    return this.view.getUint32(this.#need(4));
  }

  i16(): number {
    return this.view.getInt16(this.#need(2));
  }

  f64(): number {
    return this.view.getFloat64(this.#need(8));
  }

  /** A view (not a copy) of the next `n` bytes. */
  bytesView(n: number): Uint8Array {
    const at = this.#need(n);
    return this.bytes.subarray(at, at + n);
  }

  skip(n: number): void {
    this.#need(n);
  }
}

/** Appends big-endian values to a growable buffer; `finish()` returns a view of what was written. */
export class ByteWriter {
  #buf: Uint8Array;
  #view: DataView;
  length = 0;

  constructor(initialCapacity = 256) {
    this.#buf = new Uint8Array(Math.max(16, initialCapacity));
    this.#view = new DataView(this.#buf.buffer);
  }

  #room(n: number): number {
    const at = this.length;
    if (at + n > this.#buf.length) {
      let cap = this.#buf.length * 2;
      while (cap < at + n) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.#buf.subarray(0, at));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    this.length = at + n;
    return at;
  }

  u8(v: number): this {
    const at = this.#room(1);
    this.#buf[at] = v;
    return this;
  }

  u16(v: number): this {
    const at = this.#room(2);
    this.#view.setUint16(at, v);
    return this;
  }

  u24(v: number): this {
    const at = this.#room(3);
    this.#buf[at] = (v >>> 16) & 0xff;
    this.#buf[at + 1] = (v >>> 8) & 0xff;
    this.#buf[at + 2] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    const at = this.#room(4);
    this.#view.setUint32(at, v >>> 0);
    return this;
  }

  u32le(v: number): this {
    const at = this.#room(4);
    this.#view.setUint32(at, v >>> 0, true);
    return this;
  }

  f64(v: number): this {
    const at = this.#room(8);
    this.#view.setFloat64(at, v);
    return this;
  }

  bytes(b: Uint8Array): this {
    const at = this.#room(b.length);
    this.#buf.set(b, at);
    return this;
  }

  /** A view of the written bytes; valid until the writer is written to again. */
  finish(): Uint8Array {
    return this.#buf.subarray(0, this.length);
  }
}

/** Joins byte arrays into one new array. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
