/**
 * PES packet headers (ISO/IEC 13818-1 §2.4.3.6) for elementary streams carried in a
 * transport stream: the fixed 6-byte start, the optional header with PTS and, when it
 * differs, DTS. Timestamps are 33-bit values in 90 kHz units; callers pass any
 * non-negative integer and it is written mod 2^33, which is how the clock wraps.
 */

/** stream_id values (Table 2-22) for the first video and audio stream. */
export const STREAM_ID = {
  /** ITU-T H.262 / ISO/IEC 11172-2 / 14496-2 / 14496-10 video stream number 0. */
  VIDEO: 0xe0,
  /** ISO/IEC 13818-3 / 11172-3 / 13818-7 / 14496-3 audio stream number 0. */
  AUDIO: 0xc0,
} as const;

export const TIMESTAMP_MODULUS = 2 ** 33;
const MAX_PES_PACKET_LENGTH = 0xffff;

/** Bytes of a PES header carrying PTS only (9) or PTS and DTS (14). */
export function pesHeaderSize(withDts: boolean): number {
  return withDts ? 19 : 14;
}

/**
 * Writes a 5-byte PTS or DTS field: the 4-bit `prefix` ('0010' PTS alone, '0011' PTS
 * with DTS, '0001' DTS), then the 33-bit timestamp in three parts each closed by a
 * marker_bit.
 */
export function writeTimestamp(
  target: Uint8Array,
  offset: number,
  prefix: number,
  timestamp90k: number,
): void {
  const ts = ((timestamp90k % TIMESTAMP_MODULUS) + TIMESTAMP_MODULUS) % TIMESTAMP_MODULUS;
  const low30 = ts % 2 ** 30;
  target[offset] = (prefix << 4) | (Math.floor(ts / 2 ** 30) << 1) | 1; // [32:30], marker_bit
  target[offset + 1] = low30 >>> 22; // [29:22]
  target[offset + 2] = ((low30 >>> 14) & 0xfe) | 1; // [21:15], marker_bit
  target[offset + 3] = (low30 >>> 7) & 0xff; // [14:7]
  target[offset + 4] = ((low30 & 0x7f) << 1) | 1; // [6:0], marker_bit
}

/**
 * Writes a PES header and returns its size. DTS is written only when it differs from PTS
 * (the spec forbids an equal DTS). `payloadLength` is the number of elementary stream
 * bytes that follow, or null for an unbounded video PES (PES_packet_length 0).
 */
export function writePesHeader(
  target: Uint8Array,
  offset: number,
  streamId: number,
  pts90k: number,
  dts90k: number,
  payloadLength: number | null,
): number {
  const withDts = dts90k !== pts90k;
  const size = pesHeaderSize(withDts);
  let packetLength = 0;
  if (payloadLength !== null) {
    packetLength = size - 6 + payloadLength;
    if (packetLength > MAX_PES_PACKET_LENGTH) {
      throw new RangeError(`Cannot write PES header: packet length ${packetLength} over 65535`);
    }
  }
  target[offset] = 0x00; // packet_start_code_prefix
  target[offset + 1] = 0x00;
  target[offset + 2] = 0x01;
  target[offset + 3] = streamId; // stream_id
  target[offset + 4] = packetLength >>> 8; // PES_packet_length
  target[offset + 5] = packetLength & 0xff;
  // '10', PES_scrambling_control 00, PES_priority 0, data_alignment_indicator 1,
  // copyright 0, original_or_copy 0
  target[offset + 6] = 0x84;
  // PTS_DTS_flags, ESCR_flag 0, ES_rate_flag 0, DSM_trick_mode_flag 0,
  // additional_copy_info_flag 0, PES_CRC_flag 0, PES_extension_flag 0
  target[offset + 7] = withDts ? 0xc0 : 0x80;
  target[offset + 8] = size - 9; // PES_header_data_length
  writeTimestamp(target, offset + 9, withDts ? 0b0011 : 0b0010, pts90k); // PTS
  if (withDts) writeTimestamp(target, offset + 14, 0b0001, dts90k); // DTS
  return size;
}
