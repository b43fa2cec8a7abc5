/**
 * Reading an ADTS stream (ISO/IEC 13818-7 6.2), as ffmpeg's `-f adts` writes it: splitting
 * the bytes, which arrive in arbitrary chunks, into raw AAC frames, and the AudioSpecificConfig
 * (ISO/IEC 14496-3 1.6.2.1) each header implies, so a transcoder's output can enter the hub
 * like the AAC of an RTMP publisher. The inverse of `writeAdtsHeader` in `aac.ts`.
 */
import { ADTS_HEADER_SIZE, parseAacConfig } from "./aac.ts";
import { concatBytes } from "./bytes.ts";
import type { AacConfig } from "./frame.ts";

export interface AdtsFrame {
  config: AacConfig;
  /** One raw AAC frame, without its header. */
  data: Uint8Array;
}

/** The 2-byte AudioSpecificConfig an ADTS header describes. */
export function adtsAudioSpecificConfig(header: Uint8Array): Uint8Array {
  const objectType = (header[2]! >> 6) + 1; // profile_ObjectType + 1
  const sampleRateIndex = (header[2]! >> 2) & 0x0f; // sampling_frequency_index
  const channelConfig = ((header[2]! & 0x01) << 2) | (header[3]! >> 6); // channel_configuration
  return new Uint8Array([
    (objectType << 3) | (sampleRateIndex >> 1), // audioObjectType, samplingFrequencyIndex
    ((sampleRateIndex & 0x01) << 7) | (channelConfig << 3), // …, channelConfiguration, GASpecificConfig 0
  ]);
}

/**
 * Splits ADTS bytes into frames. Throws `SyntaxError` where a frame should start and no
 * syncword is, or a header is unusable (a frame length shorter than its header, more than
 * one raw data block per frame).
 */
export class AdtsReader {
  #pending: Uint8Array = new Uint8Array(0);
  #config: AacConfig | undefined;
  #configHeader = new Uint8Array(4);

  /** Feeds bytes; returns the frames they complete. Frame data are copies. */
  push(chunk: Uint8Array): AdtsFrame[] {
    const bytes = this.#pending.length === 0 ? chunk : concatBytes([this.#pending, chunk]);
    const frames: AdtsFrame[] = [];
    let at = 0;
    while (bytes.length - at >= ADTS_HEADER_SIZE) {
      if (bytes[at] !== 0xff || (bytes[at + 1]! & 0xf6) !== 0xf0) { // syncword, layer 00
        throw new SyntaxError(`Cannot read ADTS: no syncword at byte ${at}`);
      }
      const protectionAbsent = bytes[at + 1]! & 0x01;
      const headerLength = protectionAbsent ? ADTS_HEADER_SIZE : ADTS_HEADER_SIZE + 2; // + crc_check
      const frameLength = ((bytes[at + 3]! & 0x03) << 11) | // aac_frame_length (13 bits)
        (bytes[at + 4]! << 3) | (bytes[at + 5]! >> 5);
      if (frameLength < headerLength) {
        throw new SyntaxError(`Cannot read ADTS: frame length ${frameLength} at byte ${at}`);
      }
      if ((bytes[at + 6]! & 0x03) !== 0) { // number_of_raw_data_blocks_in_frame
        throw new SyntaxError("Cannot read ADTS: more than one raw data block per frame");
      }
      if (bytes.length - at < frameLength) break;
      frames.push({
        config: this.#configOf(bytes.subarray(at, at + 4)),
        data: bytes.slice(at + headerLength, at + frameLength),
      });
      at += frameLength;
    }
    this.#pending = bytes.slice(at);
    return frames;
  }

  /** The config of a header, the same object while the header's fields stay the same. */
  #configOf(header: Uint8Array): AacConfig {
    // Bytes 2 and the top of 3 hold profile, rate and channels; the rest is per frame.
    const same = this.#config && header[2] === this.#configHeader[2] &&
      (header[3]! & 0xc0) === (this.#configHeader[3]! & 0xc0);
    if (!same) {
      this.#config = parseAacConfig(adtsAudioSpecificConfig(header));
      this.#configHeader = header.slice();
    }
    return this.#config!;
  }
}
