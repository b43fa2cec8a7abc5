/**
 * The browser ingest protocol on the wire (docs/architecture.md, "Browser ingest"): parsing
 * and validating what a publisher's page sends over its WebSocket — JSON text messages
 * (publish, track configs, stop) and binary frame messages (track, flags, a float64
 * microsecond timestamp, then the WebCodecs chunk) — and the JSON the server answers with.
 * Pure: bytes and strings in, values out. Anything malformed throws `IngestMessageError`,
 * which the session answers with `bad_message`; a config is parsed here with the same AVC
 * and AAC parsers RTMP uses, so a config that would not package is refused on arrival.
 */
import { parseAacConfig } from "@cascade/media/aac";
import { parseAvcConfig } from "@cascade/media/avc";
import type { AacConfig, AvcConfig } from "@cascade/media/frame";

/** Close code of each error the server reports (4000–4999 are the application's own). */
export const CLOSE_CODES = {
  bad_message: 4000,
  unauthorized: 4001,
  timeout: 4008,
  already_live: 4009,
  too_large: 4013,
  rate_limited: 4029,
  internal: 1011,
} as const;

export type IngestErrorCode = keyof typeof CLOSE_CODES;

/** A message that does not follow the protocol. */
export class IngestMessageError extends SyntaxError {
  override name = "IngestMessageError";
}

/** Longest stream key accepted: keys are tokens, not documents. */
const MAX_KEY_LENGTH = 512;

/** Sample rates an Opus encoder takes in (RFC 6716 §2). */
const OPUS_RATES: readonly number[] = [8000, 12000, 16000, 24000, 48000];

export type ClientMessage =
  | { type: "publish"; key: string }
  | { type: "video-config"; avc: AvcConfig }
  | { type: "audio-config"; codec: "aac"; aac: AacConfig }
  | { type: "audio-config"; codec: "opus"; sampleRate: number; channels: 1 | 2 }
  | { type: "stop" };

/** Parses one text message. Throws `IngestMessageError` when it is not one of the protocol's. */
export function parseClientMessage(text: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new IngestMessageError("Cannot parse message: not JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new IngestMessageError("Cannot parse message: not a JSON object");
  }
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case "publish": {
      if (typeof m.key !== "string" || m.key.length > MAX_KEY_LENGTH) {
        throw new IngestMessageError(
          `Cannot parse publish: key must be a string of at most ${MAX_KEY_LENGTH} characters`,
        );
      }
      return { type: "publish", key: m.key };
    }
    case "video-config":
      return { type: "video-config", avc: videoConfig(m) };
    case "audio-config":
      return audioConfig(m);
    case "stop":
      return { type: "stop" };
    default:
      throw new IngestMessageError(
        `Cannot parse message: unknown type ${JSON.stringify(m.type)?.slice(0, 40)}`,
      );
  }
}

function videoConfig(m: Record<string, unknown>): AvcConfig {
  if (typeof m.codec !== "string" || !/^avc1\.[0-9a-fA-F]{6}$/.test(m.codec)) {
    throw new IngestMessageError("Cannot parse video-config: codec must be avc1.PPCCLL (H.264)");
  }
  const avc = parseRecord("video-config", m.description, parseAvcConfig);
  if (avc.sps.length === 0 || avc.pps.length === 0) {
    throw new IngestMessageError("Cannot parse video-config: the avcC has no SPS or no PPS");
  }
  return avc;
}

function audioConfig(m: Record<string, unknown>): ClientMessage {
  const { sampleRate, channels } = m;
  if (m.codec === "opus") {
    if (typeof sampleRate !== "number" || !OPUS_RATES.includes(sampleRate)) {
      throw new IngestMessageError(
        `Cannot parse audio-config: Opus sampleRate must be one of ${OPUS_RATES.join(", ")}`,
      );
    }
    if (channels !== 1 && channels !== 2) {
      throw new IngestMessageError("Cannot parse audio-config: Opus channels must be 1 or 2");
    }
    return { type: "audio-config", codec: "opus", sampleRate, channels };
  }
  if (typeof m.codec !== "string" || !/^mp4a\.40\.\d{1,2}$/.test(m.codec)) {
    throw new IngestMessageError("Cannot parse audio-config: codec must be mp4a.40.N or opus");
  }
  const aac = parseRecord("audio-config", m.description, parseAacConfig);
  // ADTS, and so MPEG-TS, can carry only the four AAC profiles (Main, LC, SSR, LTP).
  if (aac.objectType > 4) {
    throw new IngestMessageError(
      `Cannot parse audio-config: AAC object type ${aac.objectType} is not supported`,
    );
  }
  return { type: "audio-config", codec: "aac", aac };
}

/** Decodes a base64 `description` and parses it, turning any failure into a bad message. */
function parseRecord<T>(what: string, description: unknown, parse: (b: Uint8Array) => T): T {
  if (typeof description !== "string" || description === "") {
    throw new IngestMessageError(`Cannot parse ${what}: description must be base64`);
  }
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(description), (c) => c.charCodeAt(0));
  } catch {
    throw new IngestMessageError(`Cannot parse ${what}: description is not base64`);
  }
  try {
    return parse(bytes);
  } catch (err) {
    throw new IngestMessageError(`Cannot parse ${what}: ${(err as Error).message}`);
  }
}

/** Bytes before the chunk in a binary frame message. */
export const FRAME_HEADER_BYTES = 10;

export interface FrameMessage {
  kind: "video" | "audio";
  keyframe: boolean;
  /** The WebCodecs chunk timestamp, µs. */
  timestampUs: number;
  /** Video: AVC length-prefixed NAL units. Audio: one raw AAC frame or one Opus packet. */
  data: Uint8Array;
}

/** Parses one binary message; `data` is a view of `bytes`. */
export function parseFrameMessage(bytes: Uint8Array): FrameMessage {
  if (bytes.length <= FRAME_HEADER_BYTES) {
    throw new IngestMessageError(
      `Cannot parse frame: ${bytes.length} bytes, need a ${FRAME_HEADER_BYTES}-byte header and data`,
    );
  }
  const track = bytes[0]; // track: 1 video, 2 audio
  if (track !== 1 && track !== 2) {
    throw new IngestMessageError(`Cannot parse frame: unknown track ${track}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const timestampUs = view.getFloat64(2); // timestamp, µs, big-endian
  if (!Number.isFinite(timestampUs)) {
    throw new IngestMessageError("Cannot parse frame: timestamp is not a finite number");
  }
  return {
    kind: track === 1 ? "video" : "audio",
    keyframe: (bytes[1]! & 0x01) !== 0, // flags bit 0: keyframe
    timestampUs,
    data: bytes.subarray(FRAME_HEADER_BYTES),
  };
}

/**
 * Checks that `data` is exactly a run of NAL units with `lengthSize`-byte length prefixes,
 * as the avcC announced; a frame that is not would make the packagers write garbage.
 */
export function checkAvccFrame(data: Uint8Array, lengthSize: number): void {
  let at = 0;
  while (at < data.length) {
    if (at + lengthSize > data.length) {
      throw new IngestMessageError("Cannot parse video frame: a NAL unit length is cut short");
    }
    let length = 0;
    for (let i = 0; i < lengthSize; i++) length = length * 256 + data[at + i]!;
    at += lengthSize;
    if (length === 0 || at + length > data.length) {
      throw new IngestMessageError(
        `Cannot parse video frame: NAL unit of ${length} bytes does not fit the frame`,
      );
    }
    at += length;
  }
}

/** The server's JSON messages. */
export const serverMessages = {
  publishing: (name: string) => JSON.stringify({ type: "publishing", name }),
  error: (code: IngestErrorCode, message: string) =>
    JSON.stringify({ type: "error", code, message }),
  stats: (bitrate: number, frames: number) => JSON.stringify({ type: "stats", bitrate, frames }),
  warning: (code: "audio_unavailable", message: string) =>
    JSON.stringify({ type: "warning", code, message }),
};
