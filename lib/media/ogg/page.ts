/**
 * Writing Ogg pages (RFC 3533 §6): the container an Ogg Opus stream travels in to ffmpeg.
 * Each page carries whole packets, laced into 255-byte segments, and a CRC-32 over the page
 * (polynomial 0x04C11DB7, initial value 0, most significant bit first, no final XOR — not
 * the MPEG-2 variant, which starts at 0xFFFFFFFF).
 */

import { crc32Msb } from "../mpegts/crc32.ts";

/** `header_type` flags. */
export const OGG_FLAGS = {
  /** First page of a logical bitstream. */
  BOS: 0x02,
  /** Last page of a logical bitstream. */
  EOS: 0x04,
} as const;

/** Bytes of a page header before its segment table. */
const HEADER_BYTES = 27;
/** Most packet bytes one page can lace: 255 segments of 255 bytes, the last one short. */
export const MAX_PAGE_PACKET_BYTES = 255 * 255 - 1;

/** The Ogg CRC-32 of `bytes`, as an unsigned 32-bit number. */
export function crc32Ogg(bytes: Uint8Array): number {
  return crc32Msb(bytes, 0);
}

export interface OggPage {
  /** `OGG_FLAGS` or-ed together; 0 for a page in the middle. */
  flags: number;
  /** The codec's position after the last packet that ends on this page (Opus: 48 kHz samples). */
  granulePosition: bigint;
  serial: number;
  sequence: number;
  /** Whole packets, together at most `MAX_PAGE_PACKET_BYTES` plus one lacing byte each. */
  packets: readonly Uint8Array[];
}

/** One page with its CRC. Throws `RangeError` when the packets do not fit one page. */
export function writeOggPage(page: OggPage): Uint8Array {
  const lacing: number[] = [];
  let bodyBytes = 0;
  for (const packet of page.packets) {
    // A packet is laced as 255s and one final value below 255 (0 when it is a multiple).
    for (let left = packet.length;; left -= 255) {
      lacing.push(Math.min(left, 255));
      if (left < 255) break;
    }
    bodyBytes += packet.length;
  }
  if (lacing.length > 255) {
    throw new RangeError(
      `Cannot write Ogg page: ${bodyBytes} bytes of packets need ${lacing.length} segments, at most 255`,
    );
  }
  const out = new Uint8Array(HEADER_BYTES + lacing.length + bodyBytes);
  const view = new DataView(out.buffer);
  out.set([0x4f, 0x67, 0x67, 0x53]); // capture_pattern "OggS"
  out[4] = 0; // stream_structure_version
  out[5] = page.flags; // header_type_flag
  view.setBigInt64(6, page.granulePosition, true); // absolute granule position
  view.setUint32(14, page.serial, true); // stream serial number
  view.setUint32(18, page.sequence, true); // page sequence no
  // page checksum (bytes 22..25) stays 0 while the CRC is computed
  out[26] = lacing.length; // page_segments
  out.set(lacing, HEADER_BYTES); // segment_table
  let at = HEADER_BYTES + lacing.length;
  for (const packet of page.packets) {
    out.set(packet, at);
    at += packet.length;
  }
  view.setUint32(22, crc32Ogg(out), true);
  return out;
}
