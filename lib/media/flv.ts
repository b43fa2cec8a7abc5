/**
 * The ingest adapter from FLV tag bodies (what RTMP audio and video messages, types 8 and 9,
 * carry) to Cascade's `HubMessage`s: H.264 sequence headers and AAC AudioSpecificConfigs
 * become track configs, coded frames become `MediaFrame`s whose data is a view of the body.
 * RTMP's 32-bit millisecond timestamps are unwrapped per track here, so nothing downstream
 * sees the wrap. Codecs other than legacy-FLV AVC and AAC, including every Enhanced RTMP
 * FourCC, are refused with `UnsupportedCodecError`. Also reads FLV files tag by tag, for
 * tools and tests that replay ffmpeg's output.
 */
import { parseAacConfig } from "./aac.ts";
import { parseAvcConfig } from "./avc.ts";
import type { HubMessage } from "./frame.ts";

/** The publisher uses a codec Cascade does not carry; the session should be refused. */
export class UnsupportedCodecError extends Error {
  override name = "UnsupportedCodecError";
  readonly kind: "video" | "audio";
  /** FLV CodecID / SoundFormat, or the Enhanced RTMP FourCC. */
  readonly codec: number | string;

  constructor(kind: "video" | "audio", codec: number | string, label?: string) {
    super(`Unsupported ${kind} codec: ${codec}${label ? ` (${label})` : ""}`);
    this.kind = kind;
    this.codec = codec;
  }
}

/** FLV video CodecID names (FLV spec E.4.3.1), for error messages. */
const VIDEO_CODECS: Record<number, string> = {
  1: "JPEG",
  2: "Sorenson H.263",
  3: "Screen video",
  4: "On2 VP6",
  5: "On2 VP6 with alpha",
  6: "Screen video v2",
  12: "HEVC via legacy FLV",
};

/** FLV SoundFormat names (FLV spec E.4.2.1), for error messages. */
const AUDIO_CODECS: Record<number, string> = {
  0: "Linear PCM, platform endian",
  1: "ADPCM",
  2: "MP3",
  3: "Linear PCM, little endian",
  4: "Nellymoser 16 kHz mono",
  5: "Nellymoser 8 kHz mono",
  6: "Nellymoser",
  7: "G.711 A-law",
  8: "G.711 mu-law",
  11: "Speex",
  14: "MP3 8 kHz",
  15: "Device-specific sound",
};

const CODEC_ID_AVC = 7;
const SOUND_FORMAT_AAC = 10;
/** Enhanced RTMP reuses the reserved SoundFormat 9 to announce an audio FourCC. */
const SOUND_FORMAT_EX_HEADER = 9;
const FRAME_TYPE_KEY = 1;
const FRAME_TYPE_COMMAND = 5;

/**
 * Turns RTMP's 32-bit timestamps into an unbounded timeline: each step is taken as the
 * signed 32-bit difference from the previous one, so a wrap moves forward by the small
 * real step and a small backward jump stays a small backward jump.
 */
class TimestampUnwrapper {
  #lastRaw = -1;
  #last = 0;

  unwrap(timestamp: number): number {
    const raw = timestamp >>> 0;
    if (this.#lastRaw < 0) {
      this.#last = raw;
    } else {
      this.#last += (raw - this.#lastRaw) | 0; // | 0: the difference as a signed 32-bit step
    }
    this.#lastRaw = raw;
    return this.#last;
  }
}

/**
 * Demuxes one publisher's RTMP audio and video message bodies. Holds per-track state:
 * whether the track's config has arrived (frames before it are dropped, returning `null`)
 * and the timestamp unwrapping.
 */
export class FlvDemuxer {
  #videoConfigured = false;
  #audioConfigured = false;
  readonly #videoClock = new TimestampUnwrapper();
  readonly #audioClock = new TimestampUnwrapper();

  /** An RTMP video message (type 9) body: a config, a frame, or `null` for nothing to pass on. */
  video(timestamp: number, body: Uint8Array): HubMessage | null {
    if (body.length === 0) return null;
    const b0 = body[0]!;
    if (b0 & 0x80) { // IsExHeader: Enhanced RTMP, FourCC in bytes 1..4
      if (((b0 >> 4) & 0x07) === FRAME_TYPE_COMMAND) return null;
      throw new UnsupportedCodecError("video", fourcc(body, "video"), "Enhanced RTMP");
    }
    const frameType = b0 >> 4; // FrameType
    const codecId = b0 & 0x0f; // CodecID
    if (frameType === FRAME_TYPE_COMMAND) return null;
    if (codecId !== CODEC_ID_AVC) {
      throw new UnsupportedCodecError("video", codecId, VIDEO_CODECS[codecId]);
    }
    if (body.length < 5) {
      throw new SyntaxError(
        `Cannot parse FLV video tag: AVC header needs 5 bytes, got ${body.length}`,
      );
    }
    const packetType = body[1]!; // AVCPacketType
    switch (packetType) {
      case 0: { // AVC sequence header
        if (body.length === 5) return null; // ffmpeg sends an empty one before it knows the config
        const avc = parseAvcConfig(body.subarray(5));
        this.#videoConfigured = true;
        return { type: "config", track: { kind: "video", codec: "h264", avc } };
      }
      case 1: { // AVC NALU
        if (!this.#videoConfigured || body.length === 5) return null;
        // CompositionTime: SI24, sign-extended by shifting it through the top of an int32
        const cts = ((body[2]! << 24) | (body[3]! << 16) | (body[4]! << 8)) >> 8;
        const dts = this.#videoClock.unwrap(timestamp);
        return {
          type: "frame",
          frame: {
            kind: "video",
            codec: "h264",
            dts,
            pts: dts + cts,
            keyframe: frameType === FRAME_TYPE_KEY,
            data: body.subarray(5),
          },
        };
      }
      case 2: // AVC end of sequence
        return null;
      default:
        throw new SyntaxError(`Cannot parse FLV video tag: unknown AVCPacketType ${packetType}`);
    }
  }

  /** An RTMP audio message (type 8) body: a config, a frame, or `null` for nothing to pass on. */
  audio(timestamp: number, body: Uint8Array): HubMessage | null {
    if (body.length === 0) return null;
    const soundFormat = body[0]! >> 4; // SoundFormat
    if (soundFormat === SOUND_FORMAT_EX_HEADER) {
      throw new UnsupportedCodecError("audio", fourcc(body, "audio"), "Enhanced RTMP");
    }
    if (soundFormat !== SOUND_FORMAT_AAC) {
      throw new UnsupportedCodecError("audio", soundFormat, AUDIO_CODECS[soundFormat]);
    }
    if (body.length < 2) {
      throw new SyntaxError("Cannot parse FLV audio tag: AAC header needs 2 bytes, got 1");
    }
    const packetType = body[1]!; // AACPacketType
    switch (packetType) {
      case 0: { // AAC sequence header
        if (body.length === 2) return null; // ffmpeg sends an empty one when copying from ADTS
        const aac = parseAacConfig(body.subarray(2));
        this.#audioConfigured = true;
        return { type: "config", track: { kind: "audio", codec: "aac", aac } };
      }
      case 1: { // AAC raw
        if (!this.#audioConfigured || body.length === 2) return null;
        const dts = this.#audioClock.unwrap(timestamp);
        return {
          type: "frame",
          frame: {
            kind: "audio",
            codec: "aac",
            dts,
            pts: dts,
            keyframe: true,
            data: body.subarray(2),
          },
        };
      }
      default:
        throw new SyntaxError(`Cannot parse FLV audio tag: unknown AACPacketType ${packetType}`);
    }
  }
}

/** The Enhanced RTMP FourCC after the first byte, printable for an error message. */
function fourcc(body: Uint8Array, kind: string): string {
  if (body.length < 5) {
    throw new SyntaxError(
      `Cannot parse FLV ${kind} tag: extended header needs 5 bytes, got ${body.length}`,
    );
  }
  let s = "";
  for (let i = 1; i < 5; i++) {
    const c = body[i]!;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return s;
}

/** One tag of an FLV file. */
export interface FlvFileTag {
  /** TagType: 8 audio, 9 video, 18 script data. */
  type: number;
  /** Timestamp with TimestampExtended as its upper 8 bits, ms. */
  timestamp: number;
  /** The tag body (view, no copy): what an RTMP message of the same type carries. */
  body: Uint8Array;
}

/** Reads an FLV file (FLV spec annex E): header, then tags each followed by PreviousTagSize. */
export function* flvFileTags(file: Uint8Array): Generator<FlvFileTag> {
  const fail = (detail: string) => new SyntaxError(`Cannot parse FLV file: ${detail}`);
  if (file.length < 9 || file[0] !== 0x46 || file[1] !== 0x4c || file[2] !== 0x56) {
    throw fail("no FLV signature");
  }
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let at = view.getUint32(5) + 4; // DataOffset, then PreviousTagSize0
  while (at < file.length) {
    if (at + 11 > file.length) throw fail(`truncated tag header at ${at}`);
    const type = file[at]! & 0x1f; // TagType (Filter bit and reserved bits masked off)
    const size = view.getUint32(at) & 0xffffff; // DataSize
    // Timestamp (24 bits), then TimestampExtended as the upper 8 bits
    const timestamp = (view.getUint32(at + 3) & 0xffffff) + file[at + 7]! * 0x1000000;
    const start = at + 11; // after StreamID
    if (start + size > file.length) throw fail(`tag at ${at} runs past the end`);
    yield { type, timestamp, body: file.subarray(start, start + size) };
    at = start + size + 4; // PreviousTagSize
  }
}
