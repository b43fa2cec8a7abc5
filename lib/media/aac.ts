/**
 * AAC configuration: parsing an MPEG-4 AudioSpecificConfig (ISO/IEC 14496-3 1.6.2.1), as
 * RTMP/FLV sequence headers carry it, into an `AacConfig`, and writing the 7-byte ADTS
 * header (ISO/IEC 13818-7 6.2, no CRC) that MPEG-TS needs in front of each raw AAC frame.
 * The config is normalised for ADTS: explicit SBR/PS signalling reports the core codec and
 * rate, and an explicit frequency that has an index gets that index.
 */
import type { AacConfig } from "./frame.ts";

/** Bytes in an ADTS header without CRC. */
export const ADTS_HEADER_SIZE = 7;

/** samplingFrequencyIndex → Hz (ISO/IEC 14496-3 table 1.18); 13 and 14 are reserved. */
export const AAC_SAMPLE_RATES: readonly number[] = [
  96000,
  88200,
  64000,
  48000,
  44100,
  32000,
  24000,
  22050,
  16000,
  12000,
  11025,
  8000,
  7350,
];

/** samplingFrequencyIndex meaning "a 24-bit samplingFrequency follows". */
const EXPLICIT_FREQUENCY = 0x0f;
/** Audio object types of explicit (hierarchical) SBR and PS signalling: HE-AAC v1, v2. */
const OBJECT_TYPE_SBR = 5;
const OBJECT_TYPE_PS = 29;

/**
 * The AAC-LC config of `sampleRate` and `channels` (1–7), as an encoder of that audio
 * declares it: for a track whose AAC is still to come (a transcoder's), so that players see
 * the audio from the first segment. Throws `RangeError` for a rate outside the AAC table.
 */
export function aacLcConfig(sampleRate: number, channels: number): AacConfig {
  const index = AAC_SAMPLE_RATES.indexOf(sampleRate);
  if (index < 0) throw new RangeError(`No AAC sampling frequency index for ${sampleRate} Hz`);
  return parseAacConfig(
    new Uint8Array([(2 << 3) | (index >> 1), ((index & 1) << 7) | (channels << 3)]),
  );
}

/**
 * Parses an AudioSpecificConfig. Throws `SyntaxError` when it is too short and
 * `RangeError` for a reserved or unusable value: object type 0, sampling index 13 or 14,
 * a zero explicit frequency, or a channel configuration outside 1..7 (0 means a program
 * config element, which ADTS output cannot carry here).
 */
export function parseAacConfig(asc: Uint8Array): AacConfig {
  const b = new AscReader(asc);
  let objectType = readObjectType(b);
  let { index: sampleRateIndex, rate: sampleRate } = readSamplingFrequency(b);
  const channelConfig = b.bits(4); // channelConfiguration
  if (objectType === OBJECT_TYPE_SBR || objectType === OBJECT_TYPE_PS) {
    // Explicit HE-AAC: the extension (SBR) rate follows, then the core object type. ADTS
    // and MPEG-TS describe only the core, signalling SBR implicitly, so report that.
    readSamplingFrequency(b); // extensionSamplingFrequencyIndex
    objectType = readObjectType(b);
  }
  if (channelConfig < 1 || channelConfig > 7) {
    throw new RangeError(
      `Cannot parse AudioSpecificConfig: channelConfiguration ${channelConfig} is not 1 to 7`,
    );
  }
  if (sampleRateIndex === EXPLICIT_FREQUENCY) {
    const index = AAC_SAMPLE_RATES.indexOf(sampleRate);
    if (index >= 0) sampleRateIndex = index;
  }
  return { objectType, sampleRateIndex, sampleRate, channelConfig, record: asc };
}

function readObjectType(b: AscReader): number {
  let objectType = b.bits(5); // audioObjectType
  if (objectType === 31) objectType = 32 + b.bits(6); // audioObjectTypeExt
  if (objectType === 0) {
    throw new RangeError("Cannot parse AudioSpecificConfig: audioObjectType 0 is null");
  }
  return objectType;
}

function readSamplingFrequency(b: AscReader): { index: number; rate: number } {
  const index = b.bits(4); // samplingFrequencyIndex
  if (index === EXPLICIT_FREQUENCY) {
    const rate = b.bits(24); // samplingFrequency
    if (rate === 0) throw new RangeError("Cannot parse AudioSpecificConfig: samplingFrequency 0");
    return { index, rate };
  }
  const rate = AAC_SAMPLE_RATES[index];
  if (rate === undefined) {
    throw new RangeError(
      `Cannot parse AudioSpecificConfig: samplingFrequencyIndex ${index} is reserved`,
    );
  }
  return { index, rate };
}

/** MSB-first bit reader for the few fields of an AudioSpecificConfig. */
class AscReader {
  readonly #bytes: Uint8Array;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) {
      const byte = this.#bytes[this.#pos >> 3];
      if (byte === undefined) {
        throw new SyntaxError(
          `Cannot parse AudioSpecificConfig: ends early, ${this.#bytes.length} bytes`,
        );
      }
      v = v * 2 + ((byte >> (7 - (this.#pos & 7))) & 1);
      this.#pos++;
    }
    return v;
  }
}

/**
 * Writes the 7-byte ADTS header for one raw AAC frame of `payloadLength` bytes at
 * `target[offset]`. Throws `RangeError` if the header does not fit, the frame is too long
 * for the 13-bit frame length, or the config cannot be expressed in ADTS.
 */
export function writeAdtsHeader(
  target: Uint8Array,
  offset: number,
  config: AacConfig,
  payloadLength: number,
): void {
  const frameLength = ADTS_HEADER_SIZE + payloadLength;
  const { objectType, sampleRateIndex, channelConfig } = config;
  if (offset < 0 || offset + ADTS_HEADER_SIZE > target.length) {
    throw new RangeError(`Cannot write ADTS header: offset ${offset} leaves no room for 7 bytes`);
  }
  if (payloadLength < 0 || frameLength > 0x1fff) {
    throw new RangeError(
      `Cannot write ADTS header: payload of ${payloadLength} bytes is not 0 to 8184`,
    );
  }
  if (objectType < 1 || objectType > 4) {
    throw new RangeError(`Cannot write ADTS header: object type ${objectType} has no ADTS profile`);
  }
  if (sampleRateIndex > 12) {
    throw new RangeError(`Cannot write ADTS header: sampling index ${sampleRateIndex}`);
  }
  if (channelConfig > 7) {
    throw new RangeError(`Cannot write ADTS header: channel configuration ${channelConfig}`);
  }
  target[offset] = 0xff; // syncword (12 bits)
  target[offset + 1] = 0xf1; // syncword, ID 0 (MPEG-4), layer 00, protection_absent 1
  target[offset + 2] = ((objectType - 1) << 6) | // profile_ObjectType
    (sampleRateIndex << 2) | // sampling_frequency_index, private_bit 0
    (channelConfig >> 2); // channel_configuration (high bit)
  target[offset + 3] = ((channelConfig & 0x03) << 6) | // channel_configuration (low bits)
    // original_copy, home, copyright_identification_bit and _start all 0
    (frameLength >> 11); // aac_frame_length (13 bits, top 2)
  target[offset + 4] = (frameLength >> 3) & 0xff; // aac_frame_length (middle 8)
  // aac_frame_length (low 3), adts_buffer_fullness 0x7FF (VBR, top 5)
  target[offset + 5] = ((frameLength & 0x07) << 5) | 0x1f;
  target[offset + 6] = 0xfc; // adts_buffer_fullness (low 6), number_of_raw_data_blocks_in_frame 0
}
