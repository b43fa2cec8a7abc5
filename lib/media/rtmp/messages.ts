/**
 * RTMP message vocabulary shared by the handshake, chunk reader and chunk writer: the message
 * and user-control type numbers (Adobe RTMP 1.0, sections 5.4, 6.2 and 7.1), the
 * `RtmpMessage` value the chunk layer reads and writes, builders and parsers for the small
 * protocol control payloads, and a splitter for aggregate messages. Everything here is pure:
 * builders return fresh payload bytes, parsers read payload bytes and throw
 * `RtmpProtocolError` when the peer sent something that cannot be parsed, and `RangeError`
 * when our own caller passes a value the wire format cannot carry.
 */

/** Thrown for bytes from the peer that break the RTMP protocol; the connection should close. */
export class RtmpProtocolError extends SyntaxError {
  override name = "RtmpProtocolError";
}

/** One complete RTMP message, as reassembled from chunks or handed to the chunk writer. */
export interface RtmpMessage {
  /** Message type id, one of `MessageType`. */
  typeId: number;
  /** Message stream id; 0 for protocol control and connection-level commands. */
  streamId: number;
  /** Absolute timestamp in milliseconds, an unsigned 32-bit value that wraps. */
  timestamp: number;
  /** Chunk stream id the message travels on (2..65599). */
  csid: number;
  payload: Uint8Array;
}

/** Message type ids (RTMP 1.0 sections 5.4 and 7.1). */
export const MessageType = {
  SET_CHUNK_SIZE: 1,
  ABORT: 2,
  ACK: 3,
  USER_CONTROL: 4,
  WINDOW_ACK_SIZE: 5,
  SET_PEER_BANDWIDTH: 6,
  AUDIO: 8,
  VIDEO: 9,
  DATA_AMF3: 15,
  SHARED_OBJECT_AMF3: 16,
  COMMAND_AMF3: 17,
  DATA_AMF0: 18,
  SHARED_OBJECT_AMF0: 19,
  COMMAND_AMF0: 20,
  AGGREGATE: 22,
} as const;

/** User control event types (RTMP 1.0 section 7.1.7). */
export const UserControlEvent = {
  STREAM_BEGIN: 0,
  STREAM_EOF: 1,
  STREAM_DRY: 2,
  SET_BUFFER_LENGTH: 3,
  STREAM_IS_RECORDED: 4,
  PING_REQUEST: 6,
  PING_RESPONSE: 7,
} as const;

/** Limit types of Set Peer Bandwidth (RTMP 1.0 section 5.4.5). */
export const PeerBandwidthLimit = {
  HARD: 0,
  SOFT: 1,
  DYNAMIC: 2,
} as const;

/** The chunk size every RTMP connection starts with, in both directions. */
export const DEFAULT_CHUNK_SIZE = 128;

/** The largest chunk size the spec allows (31 bits; the top bit must be zero). */
export const MAX_CHUNK_SIZE = 0x7fffffff;

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`Cannot encode ${what}: ${value} is not an integer in 0..${max}`);
  }
}

function u32Payload(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value);
  return out;
}

function readU32(payload: Uint8Array, what: string): number {
  if (payload.length < 4) {
    throw new RtmpProtocolError(
      `Cannot parse ${what}: payload is ${payload.length} bytes, expected 4`,
    );
  }
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
}

/** Payload of Set Chunk Size (type 1): the new maximum chunk size, 1..2^31-1. */
export function setChunkSizePayload(size: number): Uint8Array {
  if (!Number.isInteger(size) || size < 1 || size > MAX_CHUNK_SIZE) {
    throw new RangeError(`Cannot encode set chunk size: ${size} is not in 1..${MAX_CHUNK_SIZE}`);
  }
  return u32Payload(size); // chunk size, first bit 0
}

/** Payload of Abort Message (type 2): the chunk stream whose partial message to drop. */
export function abortPayload(csid: number): Uint8Array {
  checkUint(csid, 0xffffffff, "abort");
  return u32Payload(csid); // chunk stream ID
}

/**
 * Payload of Acknowledgement (type 3). `bytesReceived` is the running byte count; the
 * sequence number on the wire is that count modulo 2^32.
 */
export function ackPayload(bytesReceived: number): Uint8Array {
  checkUint(bytesReceived, Number.MAX_SAFE_INTEGER, "acknowledgement");
  return u32Payload(bytesReceived % 0x100000000); // sequence number
}

/** Payload of Window Acknowledgement Size (type 5). */
export function windowAckSizePayload(size: number): Uint8Array {
  checkUint(size, 0xffffffff, "window acknowledgement size");
  return u32Payload(size); // acknowledgement window size
}

/** Payload of Set Peer Bandwidth (type 6); `limitType` is one of `PeerBandwidthLimit`. */
export function setPeerBandwidthPayload(size: number, limitType: number): Uint8Array {
  checkUint(size, 0xffffffff, "set peer bandwidth");
  checkUint(limitType, 2, "set peer bandwidth limit type");
  const out = new Uint8Array(5);
  new DataView(out.buffer).setUint32(0, size); // acknowledgement window size
  out[4] = limitType; // limit type
  return out;
}

/** Reads the new chunk size from a Set Chunk Size payload (range checks are the reader's). */
export function parseSetChunkSize(payload: Uint8Array): number {
  return readU32(payload, "set chunk size");
}

/** Reads the chunk stream id from an Abort Message payload. */
export function parseAbort(payload: Uint8Array): number {
  return readU32(payload, "abort");
}

/** Reads the sequence number from an Acknowledgement payload. */
export function parseAck(payload: Uint8Array): number {
  return readU32(payload, "acknowledgement");
}

/** Reads the window size from a Window Acknowledgement Size payload. */
export function parseWindowAckSize(payload: Uint8Array): number {
  return readU32(payload, "window acknowledgement size");
}

/** Reads a Set Peer Bandwidth payload. */
export function parseSetPeerBandwidth(payload: Uint8Array): { size: number; limitType: number } {
  const size = readU32(payload, "set peer bandwidth");
  if (payload.length < 5) {
    throw new RtmpProtocolError(
      `Cannot parse set peer bandwidth: payload is ${payload.length} bytes, expected 5`,
    );
  }
  return { size, limitType: payload[4]! };
}

/** A decoded user control message. */
export interface UserControl {
  /** Event type, one of `UserControlEvent`. */
  event: number;
  /** Stream id for stream events, timestamp for pings. */
  value: number;
  /** Buffer length in milliseconds; only for `SET_BUFFER_LENGTH`. */
  bufferLength?: number;
}

/**
 * Payload of a User Control Message (type 4): event type and 4-byte event data;
 * `SET_BUFFER_LENGTH` carries the stream id in `value` plus `bufferLength`.
 */
export function userControlPayload(event: number, value: number, bufferLength = 0): Uint8Array {
  checkUint(event, 0xffff, "user control event");
  checkUint(value, 0xffffffff, "user control value");
  const withLength = event === UserControlEvent.SET_BUFFER_LENGTH;
  if (withLength) checkUint(bufferLength, 0xffffffff, "user control buffer length");
  const out = new Uint8Array(withLength ? 10 : 6);
  const view = new DataView(out.buffer);
  view.setUint16(0, event); // event type
  view.setUint32(2, value); // event data
  if (withLength) view.setUint32(6, bufferLength); // buffer length, ms
  return out;
}

/** Decodes a User Control Message payload. */
export function parseUserControl(payload: Uint8Array): UserControl {
  const need = payload.length >= 2 && ((payload[0]! << 8) | payload[1]!) ===
      UserControlEvent.SET_BUFFER_LENGTH
    ? 10
    : 6;
  if (payload.length < need) {
    throw new RtmpProtocolError(
      `Cannot parse user control message: payload is ${payload.length} bytes, expected ${need}`,
    );
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const event = view.getUint16(0);
  const value = view.getUint32(2);
  return need === 10 ? { event, value, bufferLength: view.getUint32(6) } : { event, value };
}

const AGGREGATE_TAG_HEADER = 11;

/**
 * Splits an Aggregate Message (type 22) into its sub-messages. The body is a run of FLV-tag
 * shaped records (type, size, timestamp, stream id, data, back pointer); each sub-message keeps
 * the aggregate's stream and chunk stream, and is timed at the aggregate's timestamp plus its
 * offset from the first record. Payloads are views into the aggregate payload, not copies.
 * A missing back pointer after the last record is tolerated.
 */
export function splitAggregate(aggregate: RtmpMessage): RtmpMessage[] {
  const p = aggregate.payload;
  const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
  const out: RtmpMessage[] = [];
  let first = 0;
  let pos = 0;
  while (pos < p.length) {
    if (p.length - pos < AGGREGATE_TAG_HEADER) {
      throw new RtmpProtocolError(
        `Cannot parse aggregate message: truncated sub-message header at offset ${pos}`,
      );
    }
    const typeId = p[pos]!; // TagType
    const size = view.getUint32(pos) & 0xffffff; // DataSize
    const time = (view.getUint32(pos + 4) >>> 8) + p[pos + 7]! * 0x1000000; // Timestamp + TimestampExtended
    const start = pos + AGGREGATE_TAG_HEADER; // after StreamID (3 bytes, always 0)
    const end = start + size;
    if (end > p.length) {
      throw new RtmpProtocolError(
        `Cannot parse aggregate message: sub-message at offset ${pos} needs ${size} bytes, ${
          p.length - start
        } left`,
      );
    }
    if (out.length === 0) first = time;
    out.push({
      typeId,
      streamId: aggregate.streamId,
      timestamp: (aggregate.timestamp + time - first) >>> 0,
      csid: aggregate.csid,
      payload: p.subarray(start, end),
    });
    const left = p.length - end;
    if (left !== 0 && left < 4) {
      throw new RtmpProtocolError(
        `Cannot parse aggregate message: truncated back pointer at offset ${end}`,
      );
    }
    pos = left === 0 ? end : end + 4; // PreviousTagSize
  }
  return out;
}
