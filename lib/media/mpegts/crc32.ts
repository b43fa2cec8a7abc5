/**
 * CRC-32/MPEG-2, the checksum that closes every PSI section (PAT, PMT) in an MPEG-2
 * transport stream (ISO/IEC 13818-1 Annex A): polynomial 0x04C11DB7, initial value
 * 0xFFFFFFFF, bits processed most significant first, no final XOR. A section followed by
 * its own CRC checks to 0, which is how demuxers verify it. Ogg's page checksum is the same
 * CRC started from 0 instead (`crc32Msb`).
 */

const TABLE = /* @__PURE__ */ (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 24;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
    }
    table[i] = crc >>> 0;
  }
  return table;
})();

/** CRC-32/MPEG-2 of `bytes[start, end)` as an unsigned 32-bit number. */
export function crc32Mpeg(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32Msb(bytes, 0xffffffff, start, end);
}

/**
 * The polynomial-0x04C11DB7, most-significant-bit-first CRC-32 of `bytes[start, end)` from
 * `initial`, with no final XOR: MPEG-2 starts at 0xFFFFFFFF, Ogg (RFC 3533) at 0.
 */
export function crc32Msb(
  bytes: Uint8Array,
  initial: number,
  start = 0,
  end = bytes.length,
): number {
  if (start < 0 || end > bytes.length || start > end) {
    throw new RangeError(`Cannot checksum range ${start}..${end} of ${bytes.length} bytes`);
  }
  let crc = initial;
  for (let i = start; i < end; i++) {
    crc = (crc << 8) ^ TABLE[((crc >>> 24) ^ bytes[i]!) & 0xff]!;
  }
  return crc >>> 0;
}
