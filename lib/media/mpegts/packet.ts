/**
 * Writers for the fixed parts of a 188-byte MPEG-2 transport stream packet
 * (ISO/IEC 13818-1 §2.4.3.2): the 4-byte packet header and the adaptation field with its
 * optional PCR and stuffing. They write into a caller's buffer at an offset so a muxer
 * can lay packets straight into its output without intermediate copies.
 */

export const TS_PACKET_SIZE = 188;
/** Bytes after the 4-byte header: payload plus adaptation field. */
export const TS_BODY_SIZE = TS_PACKET_SIZE - 4;
export const SYNC_BYTE = 0x47;

/** adaptation_field_control: payload only. */
export const AFC_PAYLOAD = 0b01;
/** adaptation_field_control: adaptation field followed by payload. */
export const AFC_ADAPTATION_AND_PAYLOAD = 0b11;

/** Bytes an adaptation field takes (length byte + flags + PCR) when it carries a PCR. */
export const ADAPTATION_WITH_PCR_SIZE = 8;
/** Bytes an adaptation field takes (length byte + flags) when it carries only flags. */
export const ADAPTATION_FLAGS_ONLY_SIZE = 2;

const PCR_BASE_MODULUS = 2 ** 33;

/** Writes the 4-byte transport packet header. */
export function writeTsHeader(
  target: Uint8Array,
  offset: number,
  pid: number,
  payloadUnitStart: boolean,
  adaptationFieldControl: number,
  continuityCounter: number,
): void {
  if (pid < 0 || pid > 0x1fff) throw new RangeError(`Cannot write TS header: PID ${pid}`);
  target[offset] = SYNC_BYTE; // sync_byte
  // transport_error_indicator 0, payload_unit_start_indicator, transport_priority 0, PID[12:8]
  target[offset + 1] = (payloadUnitStart ? 0x40 : 0) | (pid >>> 8);
  target[offset + 2] = pid & 0xff; // PID[7:0]
  // transport_scrambling_control 00, adaptation_field_control, continuity_counter
  target[offset + 3] = (adaptationFieldControl << 4) | (continuityCounter & 0x0f);
}

/**
 * Writes a 6-byte program_clock_reference: a 33-bit base in 90 kHz units (taken mod 2^33)
 * and a zero 9-bit 27 MHz extension.
 */
export function writePcr(target: Uint8Array, offset: number, base90k: number): void {
  const base = ((base90k % PCR_BASE_MODULUS) + PCR_BASE_MODULUS) % PCR_BASE_MODULUS;
  const low25 = base % 2 ** 25;
  target[offset] = Math.floor(base / 2 ** 25); // program_clock_reference_base[32:25]
  target[offset + 1] = low25 >>> 17; // program_clock_reference_base[24:17]
  target[offset + 2] = (low25 >>> 9) & 0xff; // program_clock_reference_base[16:9]
  target[offset + 3] = (low25 >>> 1) & 0xff; // program_clock_reference_base[8:1]
  // program_clock_reference_base[0], reserved 111111, program_clock_reference_extension[8]
  target[offset + 4] = ((low25 & 1) << 7) | 0x7e;
  target[offset + 5] = 0x00; // program_clock_reference_extension[7:0]
}

/**
 * Writes an adaptation field of exactly `size` bytes (1..184, counting its length byte),
 * carrying random_access_indicator and a PCR when `pcrBase90k` is not null, and padding
 * the rest with 0xFF stuffing bytes. A size of 1 is the single length byte 0, the only
 * way to stuff one byte.
 */
export function writeAdaptationField(
  target: Uint8Array,
  offset: number,
  size: number,
  randomAccess: boolean,
  pcrBase90k: number | null,
): void {
  const minimum = pcrBase90k !== null
    ? ADAPTATION_WITH_PCR_SIZE
    : randomAccess
    ? ADAPTATION_FLAGS_ONLY_SIZE
    : 1;
  if (size < minimum || size > TS_BODY_SIZE) {
    throw new RangeError(`Cannot write adaptation field: size ${size} outside ${minimum}..184`);
  }
  target[offset] = size - 1; // adaptation_field_length
  if (size === 1) return;
  // discontinuity_indicator 0, random_access_indicator, elementary_stream_priority_indicator 0,
  // PCR_flag, OPCR_flag 0, splicing_point_flag 0, transport_private_data_flag 0,
  // adaptation_field_extension_flag 0
  target[offset + 1] = (randomAccess ? 0x40 : 0) | (pcrBase90k !== null ? 0x10 : 0);
  let at = offset + 2;
  if (pcrBase90k !== null) {
    writePcr(target, at, pcrBase90k);
    at += 6;
  }
  target.fill(0xff, at, offset + size); // stuffing_byte
}
