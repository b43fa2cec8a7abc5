/**
 * Program-specific information for a single-program transport stream (ISO/IEC 13818-1
 * §2.4.4): the program association section (PAT), the program map section (PMT), and
 * packing a section into one transport packet behind its pointer_field. Sections end
 * with their CRC-32/MPEG-2; both tables here always fit in one packet.
 */

import { crc32Mpeg } from "./crc32.ts";
import { AFC_PAYLOAD, TS_PACKET_SIZE, writeTsHeader } from "./packet.ts";

export const PAT_PID = 0x0000;

/** stream_type values (Table 2-34) this project muxes. */
export const STREAM_TYPE = {
  /** ISO/IEC 14496-10 (H.264/AVC) video. */
  H264: 0x1b,
  /** ISO/IEC 13818-7 audio with ADTS transport syntax. */
  AAC_ADTS: 0x0f,
} as const;

export interface PatOptions {
  transportStreamId: number;
  programNumber: number;
  pmtPid: number;
  /** version_number, 0..31. */
  version: number;
}

export interface PmtStream {
  streamType: number;
  pid: number;
}

export interface PmtOptions {
  programNumber: number;
  pcrPid: number;
  /** version_number, 0..31. */
  version: number;
  streams: readonly PmtStream[];
}

/** The PAT section, from table_id to CRC_32, announcing one program. */
export function buildPat(options: PatOptions): Uint8Array {
  checkPid(options.pmtPid);
  const section = new Uint8Array(3 + 5 + 4 + 4);
  writeSectionHeader(section, 0x00, options.transportStreamId, options.version);
  section[8] = options.programNumber >>> 8; // program_number
  section[9] = options.programNumber & 0xff;
  section[10] = 0xe0 | (options.pmtPid >>> 8); // reserved 111, program_map_PID
  section[11] = options.pmtPid & 0xff;
  writeCrc(section);
  return section;
}

/** The PMT section, from table_id to CRC_32, listing `streams` in order. */
export function buildPmt(options: PmtOptions): Uint8Array {
  checkPid(options.pcrPid);
  const section = new Uint8Array(3 + 9 + 5 * options.streams.length + 4);
  writeSectionHeader(section, 0x02, options.programNumber, options.version);
  section[8] = 0xe0 | (options.pcrPid >>> 8); // reserved 111, PCR_PID
  section[9] = options.pcrPid & 0xff;
  section[10] = 0xf0; // reserved 1111, program_info_length 0
  section[11] = 0x00;
  let at = 12;
  for (const stream of options.streams) {
    checkPid(stream.pid);
    section[at] = stream.streamType; // stream_type
    section[at + 1] = 0xe0 | (stream.pid >>> 8); // reserved 111, elementary_PID
    section[at + 2] = stream.pid & 0xff;
    section[at + 3] = 0xf0; // reserved 1111, ES_info_length 0
    section[at + 4] = 0x00;
    at += 5;
  }
  writeCrc(section);
  return section;
}

/**
 * One 188-byte transport packet carrying `section` from its first payload byte
 * (payload_unit_start_indicator set, pointer_field 0), padded with 0xFF.
 */
export function buildSectionPacket(
  pid: number,
  section: Uint8Array,
  continuityCounter = 0,
): Uint8Array {
  if (section.length > TS_PACKET_SIZE - 5) {
    throw new RangeError(`Cannot pack section into one packet: ${section.length} bytes`);
  }
  const packet = new Uint8Array(TS_PACKET_SIZE).fill(0xff);
  writeTsHeader(packet, 0, pid, true, AFC_PAYLOAD, continuityCounter);
  packet[4] = 0x00; // pointer_field
  packet.set(section, 5);
  return packet;
}

/** table_id through last_section_number (8 bytes); section_length from the buffer size. */
function writeSectionHeader(
  section: Uint8Array,
  tableId: number,
  idExtension: number,
  version: number,
): void {
  if (version < 0 || version > 31) throw new RangeError(`Cannot write PSI: version ${version}`);
  const sectionLength = section.length - 3;
  section[0] = tableId; // table_id
  // section_syntax_indicator 1, '0', reserved 11, section_length[11:8]
  section[1] = 0xb0 | (sectionLength >>> 8);
  section[2] = sectionLength & 0xff; // section_length[7:0]
  section[3] = idExtension >>> 8; // transport_stream_id or program_number
  section[4] = idExtension & 0xff;
  section[5] = 0xc0 | (version << 1) | 0x01; // reserved 11, version_number, current_next_indicator 1
  section[6] = 0x00; // section_number
  section[7] = 0x00; // last_section_number
}

function writeCrc(section: Uint8Array): void {
  const end = section.length - 4;
  new DataView(section.buffer, section.byteOffset).setUint32(end, crc32Mpeg(section, 0, end)); // CRC_32
}

function checkPid(pid: number): void {
  // 0x0000..0x000F and 0x1FFF are reserved (Table 2-3).
  if (!Number.isInteger(pid) || pid < 0x0010 || pid > 0x1ffe) {
    throw new RangeError(`Cannot use PID ${pid}: outside 0x0010..0x1FFE`);
  }
}
