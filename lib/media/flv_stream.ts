/**
 * FLV as a byte stream, both ways, for programs that speak FLV over a pipe (the transcoder's
 * ffmpeg children): `flvHeader` and `flvTag` write Cascade's `HubMessage`s as an FLV file
 * (FLV spec annex E; the tag bodies are what `FlvDemuxer` in `flv.ts` reads), and
 * `FlvStreamReader` takes an FLV file fed in arbitrary chunks and hands back whole tags,
 * whose bodies `FlvDemuxer` turns back into configs and frames. Pure: bytes in, values out.
 */
import type { FlvFileTag } from "./flv.ts";
import type { HubMessage } from "./frame.ts";

const TAG_AUDIO = 8;
const TAG_VIDEO = 9;
const TAG_HEADER_BYTES = 11;
const FILE_HEADER_BYTES = 9;
/** Largest tag body accepted (DataSize is 24 bits; a bigger value means a corrupt stream). */
const MAX_TAG_BYTES = 0xffffff;

/** The 9-byte FLV header (audio and video flags set) and PreviousTagSize0. */
export function flvHeader(): Uint8Array {
  const out = new Uint8Array(FILE_HEADER_BYTES + 4);
  out.set([0x46, 0x4c, 0x56], 0); // Signature "FLV"
  out[3] = 1; // Version
  out[4] = 0x05; // TypeFlagsAudio | TypeFlagsVideo
  new DataView(out.buffer).setUint32(5, FILE_HEADER_BYTES); // DataOffset
  return out; // PreviousTagSize0 = 0
}

/**
 * One FLV tag and its PreviousTagSize for a config or frame; `timestamp` is the tag's
 * time in ms (video: the dts; the composition offset goes in the AVC header).
 */
export function flvTag(msg: HubMessage, timestamp: number): Uint8Array {
  let type: number;
  let head: Uint8Array;
  let payload: Uint8Array;
  if (msg.type === "config") {
    if (msg.track.kind === "video") {
      type = TAG_VIDEO;
      head = Uint8Array.of(0x17, 0, 0, 0, 0); // keyframe|AVC, AVCPacketType 0, CompositionTime 0
      payload = msg.track.avc.record;
    } else {
      type = TAG_AUDIO;
      head = Uint8Array.of(0xaf, 0); // AAC, 44 kHz, 16-bit, stereo; AACPacketType 0
      payload = msg.track.aac.record;
    }
  } else if (msg.frame.kind === "video") {
    const f = msg.frame;
    const cts = Math.round(f.pts - f.dts);
    type = TAG_VIDEO;
    head = Uint8Array.of(
      (f.keyframe ? 0x10 : 0x20) | 7, // FrameType (1 key, 2 inter) | CodecID 7 (AVC)
      1, // AVCPacketType: NALU
      (cts >> 16) & 0xff, // CompositionTime, SI24
      (cts >> 8) & 0xff,
      cts & 0xff,
    );
    payload = msg.frame.data;
  } else {
    type = TAG_AUDIO;
    head = Uint8Array.of(0xaf, 1); // AAC raw
    payload = msg.frame.data;
  }
  const size = head.length + payload.length;
  const out = new Uint8Array(TAG_HEADER_BYTES + size + 4);
  const view = new DataView(out.buffer);
  const ts = Math.max(0, Math.round(timestamp));
  view.setUint32(0, (type << 24) | size); // TagType, DataSize
  view.setUint32(4, ((ts & 0xffffff) << 8) | ((ts / 0x1000000) & 0xff)); // Timestamp, Extended
  out.set([0, 0, 0], 8); // StreamID
  out.set(head, TAG_HEADER_BYTES);
  out.set(payload, TAG_HEADER_BYTES + head.length);
  view.setUint32(TAG_HEADER_BYTES + size, TAG_HEADER_BYTES + size); // PreviousTagSize
  return out;
}

/**
 * Reads an FLV file fed in chunks of any size: `push(chunk)` returns the tags completed by
 * it. Bodies are views of the bytes fed in (never overwritten; a tag that spans chunks is
 * copied once). Throws `SyntaxError` on a stream that is not FLV.
 */
export class FlvStreamReader {
  #buf: Uint8Array = new Uint8Array(0);
  #at = 0;
  #headerDone = false;

  push(chunk: Uint8Array): FlvFileTag[] {
    this.#append(chunk);
    const out: FlvFileTag[] = [];
    const buf = this.#buf;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (!this.#headerDone) {
      if (buf.length < FILE_HEADER_BYTES) return out;
      if (buf[0] !== 0x46 || buf[1] !== 0x4c || buf[2] !== 0x56) {
        throw new SyntaxError("Cannot parse FLV stream: no FLV signature");
      }
      const dataOffset = view.getUint32(5); // DataOffset
      if (buf.length < dataOffset + 4) return out;
      this.#at = dataOffset + 4; // after PreviousTagSize0
      this.#headerDone = true;
    }
    while (this.#at + TAG_HEADER_BYTES <= buf.length) {
      const at = this.#at;
      const size = view.getUint32(at) & 0xffffff; // DataSize
      if (size > MAX_TAG_BYTES) throw new SyntaxError(`Cannot parse FLV stream: tag of ${size}`);
      const end = at + TAG_HEADER_BYTES + size + 4; // through PreviousTagSize
      if (end > buf.length) break;
      out.push({
        type: buf[at]! & 0x1f, // TagType
        timestamp: (view.getUint32(at + 3) & 0xffffff) + buf[at + 7]! * 0x1000000,
        body: buf.subarray(at + TAG_HEADER_BYTES, at + TAG_HEADER_BYTES + size),
      });
      this.#at = end;
    }
    return out;
  }

  /** Keeps the unread tail and appends `chunk`, copying only when a tag spans chunks. */
  #append(chunk: Uint8Array): void {
    const tail = this.#buf.subarray(this.#at);
    this.#at = 0;
    if (tail.length === 0) {
      this.#buf = chunk;
      return;
    }
    const joined = new Uint8Array(tail.length + chunk.length);
    joined.set(tail, 0);
    joined.set(chunk, tail.length);
    this.#buf = joined;
  }
}
