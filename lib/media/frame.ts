/**
 * The one internal media type every protocol adapter speaks: ingest (RTMP/FLV) turns the
 * wire into `TrackConfig` and `MediaFrame` values, and consumers (HLS packager, recorder)
 * read only these. Timestamps are milliseconds on an unwrapped, monotonic-per-publish
 * timeline (RTMP's 32-bit wrap already removed), so consumers never see the wrap.
 */

export type VideoCodec = "h264";
export type AudioCodec = "aac";

/** H.264 decoder configuration (from an AVCDecoderConfigurationRecord). */
export interface AvcConfig {
  profile: number;
  compatibility: number;
  level: number;
  /** Bytes in each NALU length prefix of the AVCC frames (1, 2 or 4). */
  nalLengthSize: number;
  sps: Uint8Array[];
  pps: Uint8Array[];
  /** The raw record, kept for muxers that store it verbatim (MP4, FLV). */
  record: Uint8Array;
  width?: number;
  height?: number;
}

/** AAC decoder configuration (from an AudioSpecificConfig). */
export interface AacConfig {
  /** MPEG-4 audio object type (2 = AAC LC). */
  objectType: number;
  sampleRateIndex: number;
  sampleRate: number;
  channelConfig: number;
  /** The raw AudioSpecificConfig bytes. */
  record: Uint8Array;
}

export type TrackConfig =
  | { kind: "video"; codec: VideoCodec; avc: AvcConfig }
  | { kind: "audio"; codec: AudioCodec; aac: AacConfig };

export interface MediaFrame {
  kind: "video" | "audio";
  codec: VideoCodec | AudioCodec;
  /** Decode time, ms. */
  dts: number;
  /** Presentation time, ms (dts + composition offset for video, = dts for audio). */
  pts: number;
  /** Video: an IDR access unit. Audio: always true. */
  keyframe: boolean;
  /** H.264: AVCC (length-prefixed NAL units). AAC: one raw access unit without ADTS. */
  data: Uint8Array;
}

/** What a stream hub delivers to each consumer, in order. */
export type HubMessage =
  | { type: "config"; track: TrackConfig }
  | { type: "frame"; frame: MediaFrame };

/** True when `b` configures the same track as `a` (same kind, same decoder record bytes). */
export function sameTrackConfig(a: TrackConfig | undefined, b: TrackConfig): boolean {
  if (!a || a.kind !== b.kind) return false;
  const ra = a.kind === "video" ? a.avc.record : a.aac.record;
  const rb = b.kind === "video" ? b.avc.record : b.aac.record;
  return ra.length === rb.length && ra.every((v, i) => v === rb[i]);
}
