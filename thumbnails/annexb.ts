/**
 * A keyframe as a decoder reads it from a pipe: the AVCC access unit the hub carries
 * (length-prefixed NAL units) rewritten as an H.264 Annex-B byte stream (start-code
 * prefixed), preceded by the SPS and PPS of the stream's decoder configuration record, so
 * ffmpeg can decode the one picture with no container and no earlier frame.
 */
import type { AvcConfig } from "@cascade/media/frame";
import { forEachNalu, NAL_TYPE } from "@cascade/media/avc";

/** Annex B's four-byte start code (B.1.1: zero_byte + start_code_prefix_one_3bytes). */
const START_CODE = [0x00, 0x00, 0x00, 0x01];

/**
 * `config`'s parameter sets then `avcc`'s NAL units, each after a start code. Access unit
 * delimiters are left out (they carry nothing to decode). Throws `SyntaxError` for an AVCC
 * frame whose lengths run past its end.
 */
export function keyframeToAnnexB(config: AvcConfig, avcc: Uint8Array): Uint8Array {
  const units: Uint8Array[] = [...config.sps, ...config.pps];
  forEachNalu(avcc, config.nalLengthSize, (start, end) => {
    if ((avcc[start]! & 0x1f) !== NAL_TYPE.AUD) units.push(avcc.subarray(start, end));
  });
  let size = 0;
  for (const u of units) size += START_CODE.length + u.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const u of units) {
    out.set(START_CODE, at);
    out.set(u, at + START_CODE.length);
    at += START_CODE.length + u.length;
  }
  return out;
}
