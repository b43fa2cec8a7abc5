/**
 * RTMP chunk reader (Adobe RTMP 1.0 section 5.3): turns the byte stream after the handshake back
 * into complete messages. Bytes may arrive split anywhere, one at a time included; the parser
 * keeps only a small header scratch buffer and, per chunk stream, the fields later headers
 * inherit plus the payload buffer of the message in progress, which is allocated once at the
 * declared length and filled straight from the pushed bytes. It applies the control messages
 * that change how the following bytes parse (Set Chunk Size, Abort) and the peer's Window
 * Acknowledgement Size, and still hands them on. Limits on message size, buffered bytes and the
 * number of chunk streams keep a hostile peer from making it hold unbounded memory.
 */

import {
  DEFAULT_CHUNK_SIZE,
  MessageType,
  parseAbort,
  parseSetChunkSize,
  parseWindowAckSize,
  type RtmpMessage,
  RtmpProtocolError,
} from "./messages.ts";

/** Largest Set Chunk Size accepted from a peer (the spec allows up to 2^31-1). */
export const MAX_PEER_CHUNK_SIZE = 0xffffff;

export interface ChunkReaderOptions {
  /** Largest message length a header may declare; default 8 MiB. */
  maxMessageSize?: number;
  /**
   * Largest sum of declared lengths of the messages in progress at once; default twice
   * `maxMessageSize`, room for one maximal video frame interleaved with smaller messages.
   */
  maxBufferedBytes?: number;
  /** Most chunk streams a peer may open; default 64 (encoders use a handful). */
  maxChunkStreams?: number;
  /**
   * Shared by every reader of a server: each payload buffer is reserved from it before it is
   * allocated and returned when its message completes, is aborted or the reader is disposed,
   * so many connections together cannot hold more than the pool allows.
   */
  pool?: BufferPool;
}

/** A budget of bytes shared by many readers. */
export interface BufferPool {
  /** Takes `bytes` from the pool; false when that would exceed it. */
  reserve(bytes: number): boolean;
  release(bytes: number): void;
  readonly limit: number;
}

/** What a chunk stream remembers between chunks: the fields later headers may omit. */
interface ChunkStream {
  csid: number;
  /** Timestamp of the last message started on this chunk stream. */
  timestamp: number;
  /** Delta a fmt 3 header starting a new message applies (after fmt 0: its timestamp). */
  delta: number;
  length: number;
  typeId: number;
  streamId: number;
  /** Whether the last fmt 0/1/2 header used the extended timestamp field. */
  extended: boolean;
  /** Payload of the message in progress, or null between messages. */
  payload: Uint8Array | null;
  /** Bytes of `payload` filled so far. */
  received: number;
}

const EXTENDED_TIMESTAMP = 0xffffff;
/** Message header length by fmt. */
const MESSAGE_HEADER_LENGTH = [11, 7, 3, 0] as const;
/** Basic header (3) + fmt 0 message header (11) + extended timestamp (4). */
const MAX_HEADER_LENGTH = 18;
/** Below this many bytes a plain loop beats allocating a subarray for `set()`. */
const SMALL_COPY = 64;

// Header parsing steps; each waits until `#need` bytes of header are in the scratch buffer.
const STEP_BASIC = 0;
const STEP_CSID = 1;
const STEP_EXTENDED = 2;
const STEP_COMPLETE = 3;

/**
 * Push bytes with `push()`, then take complete messages with `read()` (or iterate `drain()`),
 * in the order they completed. A `RtmpProtocolError` leaves the reader failed: every later push
 * throws it again. Messages completed before the error stay readable.
 *
 * Acknowledgements: the reader counts `bytesReceived` and adopts the window from the peer's
 * Window Acknowledgement Size messages (or `setAckWindow()`); after each push the session calls
 * `takeAck()` and, when it returns a number, sends an Acknowledgement carrying it.
 */
export class ChunkReader {
  #maxMessageSize: number;
  #maxBufferedBytes: number;
  readonly maxChunkStreams: number;
  readonly #pool: BufferPool | undefined;

  #chunkSize = DEFAULT_CHUNK_SIZE;
  #streams = new Map<number, ChunkStream>();

  #header = new Uint8Array(MAX_HEADER_LENGTH);
  #headerView = new DataView(this.#header.buffer);
  /** Header bytes in the scratch buffer. */
  #have = 0;
  /** Header bytes needed before the next step can run. */
  #need = 1;
  #step = STEP_BASIC;
  #fmt = 0;
  #basicLength = 1;
  #extended = false;

  /** Chunk stream whose header was parsed last; its chunk body is read next. */
  #stream: ChunkStream | null = null;
  #inBody = false;
  /** Bytes of the current chunk body still to read. */
  #bodyLeft = 0;

  #queue: RtmpMessage[] = [];
  #queueHead = 0;

  #buffered = 0;
  #bytesReceived = 0;
  #ackWindow = 0;
  #ackedAt = 0;
  #error: RtmpProtocolError | null = null;

  constructor(options: ChunkReaderOptions = {}) {
    this.#maxMessageSize = options.maxMessageSize ?? 8 * 1024 * 1024;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? 2 * this.#maxMessageSize;
    this.maxChunkStreams = options.maxChunkStreams ?? 64;
    this.#pool = options.pool;
  }

  /** Largest message length a header may declare. */
  get maxMessageSize(): number {
    return this.#maxMessageSize;
  }

  /** Largest sum of declared lengths of the messages in progress at once. */
  get maxBufferedBytes(): number {
    return this.#maxBufferedBytes;
  }

  /**
   * Changes the limits for messages that start from now on (a session widens them once the
   * peer is authorized to publish); `maxBufferedBytes` defaults to twice `maxMessageSize`.
   */
  setLimits(maxMessageSize: number, maxBufferedBytes = 2 * maxMessageSize): void {
    this.#maxMessageSize = maxMessageSize;
    this.#maxBufferedBytes = maxBufferedBytes;
  }

  /** Returns the buffers of messages in progress to the pool; the reader is done. */
  dispose(): void {
    for (const stream of this.#streams.values()) {
      if (stream.payload !== null) this.#free(stream.payload.length);
      stream.payload = null;
    }
    this.#error ??= new RtmpProtocolError("Cannot read chunks: the reader was disposed");
  }

  /** The chunk size the peer currently sends with. */
  get chunkSize(): number {
    return this.#chunkSize;
  }

  /** Total bytes pushed, for Acknowledgement sequence numbers. */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Memory held for incomplete input: payloads in progress plus header bytes. */
  get bufferedBytes(): number {
    return this.#buffered + this.#have;
  }

  /** Bytes after which an Acknowledgement is due; 0 means none is ever due. */
  get ackWindow(): number {
    return this.#ackWindow;
  }

  setAckWindow(size: number): void {
    if (!Number.isInteger(size) || size < 0 || size > 0xffffffff) {
      throw new RangeError(`Cannot set acknowledgement window: ${size} is not in 0..4294967295`);
    }
    this.#ackWindow = size;
  }

  /**
   * The byte count to acknowledge when at least a window's worth arrived since the last one
   * (pass it to `ackPayload()`), else null.
   */
  takeAck(): number | null {
    if (this.#ackWindow === 0 || this.#bytesReceived - this.#ackedAt < this.#ackWindow) return null;
    this.#ackedAt = this.#bytesReceived;
    return this.#bytesReceived;
  }

  /** The next complete message, or undefined when none is waiting. */
  read(): RtmpMessage | undefined {
    const queue = this.#queue;
    if (this.#queueHead === queue.length) return undefined;
    const msg = queue[this.#queueHead++];
    if (this.#queueHead === queue.length) {
      queue.length = 0;
      this.#queueHead = 0;
    }
    return msg;
  }

  /** Yields and removes every complete message waiting. */
  *drain(): Generator<RtmpMessage, void, undefined> {
    for (let msg = this.read(); msg !== undefined; msg = this.read()) yield msg;
  }

  /** Parses `data`; the reader keeps no reference to it afterwards. */
  push(data: Uint8Array): void {
    if (this.#error !== null) throw this.#error;
    this.#bytesReceived += data.length;
    try {
      this.#parse(data);
    } catch (e) {
      if (e instanceof RtmpProtocolError) this.#error = e;
      throw e;
    }
  }

  #parse(data: Uint8Array): void {
    const end = data.length;
    const header = this.#header;
    let pos = 0;
    while (pos < end) {
      if (this.#inBody) {
        const stream = this.#stream!;
        const payload = stream.payload!;
        const n = Math.min(this.#bodyLeft, end - pos);
        let at = stream.received;
        if (n < SMALL_COPY) {
          for (let i = 0; i < n; i++) payload[at++] = data[pos + i]!;
        } else {
          payload.set(data.subarray(pos, pos + n), at);
        }
        stream.received += n;
        pos += n;
        this.#bodyLeft -= n;
        if (this.#bodyLeft === 0) {
          this.#inBody = false;
          if (stream.received === stream.length) this.#complete(stream);
        }
      } else {
        let have = this.#have;
        const need = this.#need;
        while (have < need && pos < end) header[have++] = data[pos++]!;
        this.#have = have;
        if (have === need) this.#advanceHeader();
      }
    }
  }

  /** Runs the header steps the scratch buffer now has bytes for. */
  #advanceHeader(): void {
    const header = this.#header;
    if (this.#step === STEP_BASIC) {
      const first = header[0]!;
      this.#fmt = first >>> 6; // fmt
      const id = first & 0x3f; // cs id, or 0/1 for the two- and three-byte forms
      this.#basicLength = id === 0 ? 2 : id === 1 ? 3 : 1;
      this.#step = STEP_CSID;
      this.#need = this.#basicLength;
      if (this.#have < this.#need) return;
    }
    if (this.#step === STEP_CSID) {
      const id = header[0]! & 0x3f;
      const csid = id === 0
        ? header[1]! + 64 // cs id - 64
        : id === 1
        ? header[1]! + header[2]! * 256 + 64 // cs id - 64, little-endian
        : id;
      this.#stream = this.#chunkStream(csid, this.#fmt);
      this.#step = STEP_EXTENDED;
      this.#need = this.#basicLength + MESSAGE_HEADER_LENGTH[this.#fmt as 0 | 1 | 2 | 3];
      if (this.#have < this.#need) return;
    }
    if (this.#step === STEP_EXTENDED) {
      // fmt 3 carries the extended field exactly when the header it inherits from did
      this.#extended = this.#fmt === 3
        ? this.#stream!.extended
        : this.#u24(this.#basicLength) === EXTENDED_TIMESTAMP;
      this.#step = STEP_COMPLETE;
      if (this.#extended) {
        this.#need += 4;
        return;
      }
    }
    this.#applyHeader();
  }

  #u24(at: number): number {
    const h = this.#header;
    return (h[at]! << 16) | (h[at + 1]! << 8) | h[at + 2]!;
  }

  #chunkStream(csid: number, fmt: number): ChunkStream {
    const known = this.#streams.get(csid);
    if (known !== undefined) return known;
    if (fmt !== 0) {
      throw new RtmpProtocolError(
        `Cannot parse chunk header: fmt ${fmt} on chunk stream ${csid} before any fmt 0 header`,
      );
    }
    if (this.#streams.size >= this.maxChunkStreams) {
      throw new RtmpProtocolError(
        `Cannot parse chunk header: chunk stream ${csid} exceeds the limit of ${this.maxChunkStreams} chunk streams`,
      );
    }
    const stream: ChunkStream = {
      csid,
      timestamp: 0,
      delta: 0,
      length: 0,
      typeId: 0,
      streamId: 0,
      extended: false,
      payload: null,
      received: 0,
    };
    this.#streams.set(csid, stream);
    return stream;
  }

  /** Applies a complete header in the scratch buffer and sets up its chunk body. */
  #applyHeader(): void {
    const stream = this.#stream!;
    const fmt = this.#fmt;
    const at = this.#basicLength;
    this.#have = 0;
    this.#need = 1;
    this.#step = STEP_BASIC;

    if (stream.payload !== null) {
      if (fmt !== 3) {
        throw new RtmpProtocolError(
          `Cannot parse chunk header: fmt ${fmt} on chunk stream ${stream.csid} interrupts a message with ${
            stream.length - stream.received
          } bytes missing`,
        );
      }
      // a continuation chunk; its repeated extended timestamp carries nothing new
      this.#startBody(stream);
      return;
    }

    if (fmt !== 3) {
      const time = this.#extended
        ? this.#headerView.getUint32(at + MESSAGE_HEADER_LENGTH[fmt as 0 | 1 | 2]) // extended timestamp
        : this.#u24(at); // timestamp or timestamp delta
      if (fmt === 0) {
        stream.timestamp = time;
        stream.delta = time;
        stream.streamId = this.#headerView.getUint32(at + 7, true); // message stream id, little-endian
      } else {
        stream.delta = time;
        stream.timestamp = (stream.timestamp + time) >>> 0;
      }
      if (fmt !== 2) {
        const length = this.#u24(at + 3); // message length
        if (length > this.#maxMessageSize) {
          throw new RtmpProtocolError(
            `Cannot parse chunk header: message length ${length} exceeds the limit of ${this.#maxMessageSize} bytes`,
          );
        }
        stream.length = length;
        stream.typeId = this.#header[at + 6]!; // message type id
      }
      stream.extended = this.#extended;
    } else {
      stream.timestamp = (stream.timestamp + stream.delta) >>> 0;
    }

    const length = stream.length;
    if (this.#buffered + length > this.#maxBufferedBytes) {
      throw new RtmpProtocolError(
        `Cannot parse chunk header: a ${length}-byte message would exceed the limit of ${this.#maxBufferedBytes} buffered bytes`,
      );
    }
    if (this.#pool !== undefined && !this.#pool.reserve(length)) {
      throw new RtmpProtocolError(
        `Cannot buffer a ${length}-byte message: the server's budget of ${this.#pool.limit} bytes for messages in progress is spent`,
      );
    }
    stream.payload = new Uint8Array(length);
    stream.received = 0;
    this.#buffered += length;
    if (length === 0) {
      this.#complete(stream);
      return;
    }
    this.#startBody(stream);
  }

  #startBody(stream: ChunkStream): void {
    this.#bodyLeft = Math.min(this.#chunkSize, stream.length - stream.received);
    this.#inBody = true;
  }

  #complete(stream: ChunkStream): void {
    const payload = stream.payload!;
    stream.payload = null;
    this.#free(payload.length);
    const msg: RtmpMessage = {
      typeId: stream.typeId,
      streamId: stream.streamId,
      timestamp: stream.timestamp,
      csid: stream.csid,
      payload,
    };
    this.#queue.push(msg);
    switch (msg.typeId) {
      case MessageType.SET_CHUNK_SIZE: {
        const size = parseSetChunkSize(payload);
        if (size < 1 || size > MAX_PEER_CHUNK_SIZE) {
          throw new RtmpProtocolError(
            `Cannot apply set chunk size: ${size} is not in 1..${MAX_PEER_CHUNK_SIZE}`,
          );
        }
        this.#chunkSize = size;
        break;
      }
      case MessageType.ABORT: {
        const aborted = this.#streams.get(parseAbort(payload));
        if (aborted !== undefined && aborted.payload !== null) {
          this.#free(aborted.payload.length);
          aborted.payload = null;
        }
        break;
      }
      case MessageType.WINDOW_ACK_SIZE:
        this.#ackWindow = parseWindowAckSize(payload);
        break;
    }
  }

  #free(bytes: number): void {
    this.#buffered -= bytes;
    this.#pool?.release(bytes);
  }
}
