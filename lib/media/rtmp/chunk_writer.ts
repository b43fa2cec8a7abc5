/**
 * RTMP chunk writer (Adobe RTMP 1.0 section 5.3): cuts one message into chunks of the current
 * outgoing chunk size, a fmt 0 chunk first and fmt 3 continuations after it, and returns them as
 * one buffer ready for the socket. It never compresses first headers into fmt 1/2/3, which costs
 * a few bytes per message but keeps no per-chunk-stream state and lets the caller interleave
 * writes across chunk streams freely. Timestamps of 0xFFFFFF and above travel in the extended
 * timestamp field, repeated in every continuation chunk as the spec requires.
 */

import { DEFAULT_CHUNK_SIZE, MAX_CHUNK_SIZE, MessageType, type RtmpMessage } from "./messages.ts";

const EXTENDED_TIMESTAMP = 0xffffff;
const MAX_MESSAGE_LENGTH = 0xffffff;

export interface ChunkWriterOptions {
  /** Outgoing chunk size to start with; default 128. */
  chunkSize?: number;
}

/** Length of the basic header that carries `csid`. */
function basicHeaderLength(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function writeBasicHeader(out: Uint8Array, at: number, fmt: number, csid: number): number {
  if (csid < 64) {
    out[at] = (fmt << 6) | csid; // fmt, cs id
    return at + 1;
  }
  const id = csid - 64;
  if (csid < 320) {
    out[at] = fmt << 6; // fmt, cs id 0: two-byte form
    out[at + 1] = id; // cs id - 64
    return at + 2;
  }
  out[at] = (fmt << 6) | 1; // fmt, cs id 1: three-byte form
  out[at + 1] = id & 0xff; // cs id - 64, low byte
  out[at + 2] = id >>> 8; // cs id - 64, high byte
  return at + 3;
}

/** The size a Set Chunk Size payload announces, checked before any of it is written. */
function announcedChunkSize(payload: Uint8Array): number {
  if (payload.length < 4) {
    throw new RangeError(
      `Cannot write set chunk size: payload is ${payload.length} bytes, expected 4`,
    );
  }
  const size = new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
  if (size < 1 || size > MAX_CHUNK_SIZE) {
    throw new RangeError(`Cannot write set chunk size: ${size} is not in 1..${MAX_CHUNK_SIZE}`);
  }
  return size;
}

function checkRange(value: number, min: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot write chunk: ${what} ${value} is not an integer in ${min}..${max}`,
    );
  }
}

/** Turns messages into chunk bytes for one direction of one connection. */
export class ChunkWriter {
  #chunkSize: number = DEFAULT_CHUNK_SIZE;

  constructor(options: ChunkWriterOptions = {}) {
    if (options.chunkSize !== undefined) this.setChunkSize(options.chunkSize);
  }

  /** The current outgoing chunk size. */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  /**
   * Changes the outgoing chunk size (1..2^31-1). `write()` of a Set Chunk Size message does this
   * by itself, so call it directly only when the peer learns the size some other way.
   */
  setChunkSize(size: number): void {
    if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
      throw new RangeError(
        `Cannot set chunk size: ${size} is not an integer in 1..${MAX_CHUNK_SIZE}`,
      );
    }
    this.#chunkSize = size;
  }

  /**
   * Returns the chunks of one message. `timestamp` is taken modulo 2^32. Writing a Set Chunk
   * Size message switches this writer to the new size for the messages after it, the moment the
   * peer's reader switches too.
   */
  write(msg: RtmpMessage): Uint8Array {
    const { csid, typeId, streamId, payload } = msg;
    checkRange(csid, 2, 65599, "chunk stream id");
    checkRange(typeId, 0, 255, "message type id");
    checkRange(streamId, 0, 0xffffffff, "message stream id");
    checkRange(msg.timestamp, 0, Number.MAX_SAFE_INTEGER, "timestamp");
    checkRange(payload.length, 0, MAX_MESSAGE_LENGTH, "message length");
    const nextChunkSize = typeId === MessageType.SET_CHUNK_SIZE ? announcedChunkSize(payload) : 0;
    const timestamp = msg.timestamp % 0x100000000;
    const extended = timestamp >= EXTENDED_TIMESTAMP;
    const chunkSize = this.#chunkSize;
    const basic = basicHeaderLength(csid);
    const ext = extended ? 4 : 0;
    const chunks = Math.max(1, Math.ceil(payload.length / chunkSize));
    const out = new Uint8Array(basic + 11 + ext + payload.length + (chunks - 1) * (basic + ext));
    const view = new DataView(out.buffer);

    let at = writeBasicHeader(out, 0, 0, csid);
    const ts24 = extended ? EXTENDED_TIMESTAMP : timestamp;
    out[at] = ts24 >>> 16; // timestamp
    out[at + 1] = (ts24 >>> 8) & 0xff;
    out[at + 2] = ts24 & 0xff;
    const length = payload.length;
    out[at + 3] = length >>> 16; // message length
    out[at + 4] = (length >>> 8) & 0xff;
    out[at + 5] = length & 0xff;
    out[at + 6] = typeId; // message type id
    view.setUint32(at + 7, streamId, true); // message stream id, little-endian
    at += 11;
    if (extended) {
      view.setUint32(at, timestamp); // extended timestamp
      at += 4;
    }

    let sent = 0;
    for (;;) {
      const n = Math.min(chunkSize, length - sent);
      out.set(payload.subarray(sent, sent + n), at); // chunk data
      at += n;
      sent += n;
      if (sent >= length) break;
      at = writeBasicHeader(out, at, 3, csid);
      if (extended) {
        view.setUint32(at, timestamp); // extended timestamp, repeated on fmt 3
        at += 4;
      }
    }

    if (nextChunkSize !== 0) this.#chunkSize = nextChunkSize;
    return out;
  }
}
