/**
 * H.264 in its AVCC form (ISO/IEC 14496-15), as RTMP/FLV carry it: parsing the
 * AVCDecoderConfigurationRecord into an `AvcConfig` (with the picture size decoded from
 * the first sequence parameter set, ITU-T H.264 7.3.2.1.1) and walking the length-prefixed
 * NAL units of a frame. Parameter sets and the record stay views of the caller's bytes.
 */
import type { AvcConfig } from "./frame.ts";

/** NAL unit types (ITU-T H.264 table 7-1) that the packagers look for. */
export const NAL_TYPE = {
  /** Coded slice of a non-IDR picture. */
  SLICE: 1,
  IDR: 5,
  SEI: 6,
  SPS: 7,
  PPS: 8,
  /** Access unit delimiter. */
  AUD: 9,
} as const;

/**
 * Parses an AVCDecoderConfigurationRecord. Width and height come from the first SPS and
 * are left out when the record carries none; a present but unparseable SPS is an error.
 */
export function parseAvcConfig(record: Uint8Array): AvcConfig {
  const fail = (detail: string) => new SyntaxError(`Cannot parse AVC config: ${detail}`);
  if (record.length < 7) throw fail(`need at least 7 bytes, got ${record.length}`);
  if (record[0] !== 1) throw fail(`configurationVersion ${record[0]}, expected 1`);
  const profile = record[1]!; // AVCProfileIndication
  const compatibility = record[2]!; // profile_compatibility
  const level = record[3]!; // AVCLevelIndication
  const nalLengthSize = (record[4]! & 0x03) + 1; // lengthSizeMinusOne + 1
  if (nalLengthSize === 3) throw fail("NAL length size 3 is not allowed");

  let at = 6;
  const readSets = (count: number, what: string): Uint8Array[] => {
    const sets: Uint8Array[] = [];
    for (let i = 0; i < count; i++) {
      if (at + 2 > record.length) throw fail(`${what} ${i} length runs past the end`);
      const length = (record[at]! << 8) | record[at + 1]!; // sequence/pictureParameterSetLength
      at += 2;
      if (at + length > record.length) {
        throw fail(`${what} ${i} of ${length} bytes runs past the end`);
      }
      sets.push(record.subarray(at, at + length));
      at += length;
    }
    return sets;
  };
  const sps = readSets(record[5]! & 0x1f, "SPS"); // numOfSequenceParameterSets
  if (at >= record.length) throw fail("numOfPictureParameterSets missing");
  const ppsCount = record[at++]!; // numOfPictureParameterSets
  const pps = readSets(ppsCount, "PPS");
  // High profiles may append chroma_format and bit depths; the SPS says the same, so skip.

  const config: AvcConfig = { profile, compatibility, level, nalLengthSize, sps, pps, record };
  const first = sps[0];
  if (first !== undefined) {
    const size = parseSpsSize(first);
    config.width = size.width;
    config.height = size.height;
  }
  return config;
}

/** The displayed picture size an SPS NAL unit (with its header byte) describes. */
export function parseSpsSize(nalu: Uint8Array): { width: number; height: number } {
  if (nalu.length < 4) throw spsError(`need at least 4 bytes, got ${nalu.length}`);
  const nalType = nalu[0]! & 0x1f; // nal_unit_type
  if (nalType !== NAL_TYPE.SPS) throw spsError(`NAL unit type ${nalType}, expected 7`);
  const b = new BitReader(unescapeRbsp(nalu.subarray(1)));
  const profileIdc = b.bits(8); // profile_idc
  b.bits(8); // constraint_set0..5_flag, reserved_zero_2bits
  b.bits(8); // level_idc
  b.ue("seq_parameter_set_id", 31);
  let chromaFormatIdc = 1; // inferred 4:2:0 when absent
  let separateColourPlane = false;
  if (HIGH_PROFILES.has(profileIdc)) {
    chromaFormatIdc = b.ue("chroma_format_idc", 3);
    if (chromaFormatIdc === 3) separateColourPlane = b.bit() === 1; // separate_colour_plane_flag
    b.ue("bit_depth_luma_minus8", 6);
    b.ue("bit_depth_chroma_minus8", 6);
    b.bit(); // qpprime_y_zero_transform_bypass_flag
    if (b.bit()) { // seq_scaling_matrix_present_flag
      const lists = chromaFormatIdc === 3 ? 12 : 8;
      for (let i = 0; i < lists; i++) {
        if (b.bit()) skipScalingList(b, i < 6 ? 16 : 64); // seq_scaling_list_present_flag[i]
      }
    }
  }
  b.ue("log2_max_frame_num_minus4", 12);
  const pocType = b.ue("pic_order_cnt_type", 2);
  if (pocType === 0) {
    b.ue("log2_max_pic_order_cnt_lsb_minus4", 12);
  } else if (pocType === 1) {
    b.bit(); // delta_pic_order_always_zero_flag
    b.se(); // offset_for_non_ref_pic
    b.se(); // offset_for_top_to_bottom_field
    const cycle = b.ue("num_ref_frames_in_pic_order_cnt_cycle", 255);
    for (let i = 0; i < cycle; i++) b.se(); // offset_for_ref_frame[i]
  }
  b.ue("max_num_ref_frames", 16);
  b.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthInMbs = b.ue("pic_width_in_mbs_minus1", 4095) + 1;
  const heightInMapUnits = b.ue("pic_height_in_map_units_minus1", 4095) + 1;
  const frameMbsOnly = b.bit(); // frame_mbs_only_flag
  if (!frameMbsOnly) b.bit(); // mb_adaptive_frame_field_flag
  b.bit(); // direct_8x8_inference_flag
  let cropLeft = 0, cropRight = 0, cropTop = 0, cropBottom = 0;
  if (b.bit()) { // frame_cropping_flag
    cropLeft = b.ue("frame_crop_left_offset");
    cropRight = b.ue("frame_crop_right_offset");
    cropTop = b.ue("frame_crop_top_offset");
    cropBottom = b.ue("frame_crop_bottom_offset");
  }

  // Crop units, H.264 equations 7-19 to 7-22 with SubWidthC/SubHeightC from table 6-1.
  const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
  const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
  const subHeightC = chromaArrayType === 1 ? 2 : 1;
  const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
  const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
  const width = widthInMbs * 16 - (cropLeft + cropRight) * cropUnitX;
  const height = (2 - frameMbsOnly) * heightInMapUnits * 16 - (cropTop + cropBottom) * cropUnitY;
  if (width <= 0 || height <= 0) {
    throw spsError(`cropping leaves a ${width}x${height} picture`);
  }
  return { width, height };
}

/**
 * Calls `fn(start, end)` for each NAL unit of an AVCC frame (`nalLengthSize`-byte big-endian
 * lengths, each followed by that many bytes); `start..end` indexes `avcc`, nothing is copied.
 * Zero-length units are skipped. Throws `SyntaxError` if a length runs past the end.
 */
export function forEachNalu(
  avcc: Uint8Array,
  nalLengthSize: number,
  fn: (start: number, end: number) => void,
): void {
  if (nalLengthSize < 1 || nalLengthSize > 4 || !Number.isInteger(nalLengthSize)) {
    throw new RangeError(`Cannot walk NAL units: length size ${nalLengthSize} is not 1 to 4`);
  }
  let at = 0;
  while (at < avcc.length) {
    if (at + nalLengthSize > avcc.length) {
      throw new SyntaxError(
        `Cannot parse AVCC frame: ${
          avcc.length - at
        } trailing bytes at ${at}, too few for a length`,
      );
    }
    let length = 0;
    for (let i = 0; i < nalLengthSize; i++) length = length * 256 + avcc[at + i]!;
    const start = at + nalLengthSize;
    const end = start + length;
    if (end > avcc.length) {
      throw new SyntaxError(
        `Cannot parse AVCC frame: NAL unit at ${at} has length ${length}, ${
          avcc.length - start
        } left`,
      );
    }
    if (length > 0) fn(start, end);
    at = end;
  }
}

/** profile_idc values whose SPS carries chroma_format_idc and scaling lists (7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

function spsError(detail: string): SyntaxError {
  return new SyntaxError(`Cannot parse SPS: ${detail}`);
}

/** Removes emulation_prevention_three_byte (0x000003 → 0x0000); copies only when needed. */
export function unescapeRbsp(ebsp: Uint8Array): Uint8Array {
  let zeros = 0;
  let out: Uint8Array | undefined;
  let n = 0;
  for (let i = 0; i < ebsp.length; i++) {
    const byte = ebsp[i]!;
    if (zeros >= 2 && byte === 0x03) {
      if (out === undefined) {
        out = new Uint8Array(ebsp.length);
        out.set(ebsp.subarray(0, i));
        n = i;
      }
      zeros = 0;
      continue;
    }
    zeros = byte === 0 ? zeros + 1 : 0;
    if (out !== undefined) out[n++] = byte;
  }
  return out === undefined ? ebsp : out.subarray(0, n);
}

/** scaling_list() (7.3.2.1.1.1): only read past, the size does not depend on it. */
function skipScalingList(b: BitReader, size: number): void {
  let lastScale = 8;
  let nextScale = 8;
  for (let j = 0; j < size; j++) {
    if (nextScale !== 0) {
      const delta = b.se(); // delta_scale
      if (delta < -128 || delta > 127) throw spsError(`delta_scale ${delta} out of range`);
      nextScale = (lastScale + delta + 256) % 256;
    }
    lastScale = nextScale === 0 ? lastScale : nextScale;
  }
}

/** MSB-first bit reader with Exp-Golomb codes (H.264 9.1) over an RBSP. */
class BitReader {
  readonly #bytes: Uint8Array;
  #pos = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  bit(): number {
    const byte = this.#bytes[this.#pos >> 3];
    if (byte === undefined) throw spsError("ends early");
    const v = (byte >> (7 - (this.#pos & 7))) & 1;
    this.#pos++;
    return v;
  }

  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  /** ue(v); `max` bounds syntax elements whose range the spec limits. */
  ue(name = "ue(v)", max = 0xfffffffe): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw spsError(`${name} has more than 31 leading zero bits`);
    }
    const v = 2 ** zeros - 1 + this.bits(zeros);
    if (v > max) throw spsError(`${name} ${v} is over ${max}`);
    return v;
  }

  /** se(v): 1, -1, 2, -2, … from ue(v) 1, 2, 3, 4, … */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}
