/**
 * MPEG-2 transport stream muxer (ISO/IEC 13818-1) for one program of H.264 video and/or
 * AAC audio, the container of HLS segments. It turns `MediaFrame`s into 188-byte packets:
 * video as Annex B access units (an access unit delimiter first, SPS and PPS before every
 * keyframe) in unbounded PES packets, audio as one ADTS frame per PES packet. Payload bytes
 * are copied once, from the frame straight into the output buffer; the Annex B start codes,
 * parameter sets and ADTS header are interleaved on the way without building the access
 * unit anywhere else.
 *
 * Usage:
 * ```ts
 * const muxer = new TsMuxer({ video: avcConfig, audio: aacConfig });
 * muxer.writeTables(); // at the start of every segment
 * for (const frame of frames) muxer.writeFrame(frame);
 * await file.write(muxer.take()); // before the next write*() call
 * ```
 *
 * - PIDs: PAT 0x0000, PMT 0x1000 (program 1), video 0x100 (stream_type 0x1B, stream_id
 *   0xE0), audio 0x101 (stream_type 0x0F, stream_id 0xC0). The PCR rides on the video PID,
 *   or on the audio PID when there is no video track.
 * - Time: frame milliseconds become 90 kHz ticks plus `TIMESTAMP_OFFSET_90K` (1.4 s), mod
 *   2^33. Video writes PTS and DTS when they differ (B-frames), audio PTS only. Each PES
 *   on the PCR PID starts with a PCR `PCR_DELAY_90K` (0.7 s) behind its DTS.
 * - Keyframes (`frame.keyframe`) set random_access_indicator; every AAC frame is one.
 * - Continuity counters run per PID across segments, as HLS players expect of one stream.
 * - `setTracks()` swaps the configs mid-stream (a new sequence header); the PMT version
 *   changes only when the set of streams does. Call `writeTables()` after it.
 * - Errors: `TypeError` for a frame of a kind or codec without a configured track;
 *   `RangeError` for an out-of-range config, a non-finite timestamp or an oversized audio
 *   frame; `SyntaxError` (from `forEachNalu`) for a malformed AVCC frame. A `writeFrame()`
 *   that throws has written nothing.
 */

import { ADTS_HEADER_SIZE, writeAdtsHeader } from "../aac.ts";
import { forEachNalu, NAL_TYPE } from "../avc.ts";
import type { AacConfig, AvcConfig, MediaFrame } from "../frame.ts";
import {
  ADAPTATION_FLAGS_ONLY_SIZE,
  ADAPTATION_WITH_PCR_SIZE,
  AFC_ADAPTATION_AND_PAYLOAD,
  AFC_PAYLOAD,
  TS_BODY_SIZE,
  TS_PACKET_SIZE,
  writeAdaptationField,
  writeTsHeader,
} from "./packet.ts";
import { pesHeaderSize, STREAM_ID, writePesHeader } from "./pes.ts";
import {
  buildPat,
  buildPmt,
  buildSectionPacket,
  PAT_PID,
  type PmtStream,
  STREAM_TYPE,
} from "./psi.ts";

/** The PIDs this muxer writes. */
export const TS_PID = {
  PAT: PAT_PID,
  PMT: 0x1000,
  VIDEO: 0x100,
  AUDIO: 0x101,
} as const;

/** Added to every PTS and DTS (1.4 s, as ffmpeg does) so the first DTS is not 0. */
export const TIMESTAMP_OFFSET_90K = 126_000;
/** How far each PCR runs behind the DTS of the PES it starts: the decoder's buffering room. */
export const PCR_DELAY_90K = 63_000;

export interface TsTracks {
  video?: AvcConfig;
  audio?: AacConfig;
}

const PROGRAM_NUMBER = 1;
const TRANSPORT_STREAM_ID = 1;

/** 4-byte Annex B start code, used before every NAL unit (zero_byte + start_code_prefix). */
const START_CODE = new Uint8Array([0x00, 0x00, 0x00, 0x01]);
/** Start code + access_unit_delimiter NAL (nal_unit_type 9), primary_pic_type 7 (any slice). */
const ACCESS_UNIT_DELIMITER = new Uint8Array([0x00, 0x00, 0x00, 0x01, 0x09, 0xf0]);

const NO_BYTES = new Uint8Array(0);

/** Slots of the continuity counters. */
const CC_PAT = 0;
const CC_PMT = 1;
const CC_VIDEO = 2;
const CC_AUDIO = 3;

/** Muxes frames into transport stream packets; see the module comment for the details. */
export class TsMuxer {
  #video: AvcConfig | undefined;
  #audio: AacConfig | undefined;
  #pcrPid: number = TS_PID.VIDEO;
  /** Stream list of the current PMT, to notice when `setTracks()` changes it. */
  #streamsKey = "";
  #pmtVersion = 0;
  #pat: Uint8Array = new Uint8Array(0);
  #pmt: Uint8Array = new Uint8Array(0);
  readonly #cc = new Uint8Array(4);

  #out = new Uint8Array(64 * 1024);
  #length = 0;

  /** The PES payload as (source, start, end) runs, reused across frames. */
  readonly #runSource: Uint8Array[] = [];
  readonly #runStart: number[] = [];
  readonly #runEnd: number[] = [];
  #runCount = 0;
  #runIndex = 0;
  #runPos = 0;

  /** NAL units of the frame being scanned, reused across frames. */
  readonly #naluStart: number[] = [];
  readonly #naluEnd: number[] = [];
  #naluCount = 0;
  readonly #collectNalu = (start: number, end: number): void => {
    this.#naluStart[this.#naluCount] = start;
    this.#naluEnd[this.#naluCount] = end;
    this.#naluCount++;
  };

  readonly #adts = new Uint8Array(ADTS_HEADER_SIZE);

  constructor(tracks: TsTracks) {
    this.setTracks(tracks);
  }

  /**
   * Replaces the track configs. Pending bytes and continuity counters are kept; the PMT
   * version increments when a track is added or removed. Throws `TypeError` with no tracks.
   */
  setTracks(tracks: TsTracks): void {
    if (tracks.video === undefined && tracks.audio === undefined) {
      throw new TypeError("Cannot mux MPEG-TS: no video or audio track");
    }
    this.#video = tracks.video;
    this.#audio = tracks.audio;
    this.#pcrPid = tracks.video !== undefined ? TS_PID.VIDEO : TS_PID.AUDIO;
    const streams: PmtStream[] = [];
    if (tracks.video) streams.push({ streamType: STREAM_TYPE.H264, pid: TS_PID.VIDEO });
    if (tracks.audio) streams.push({ streamType: STREAM_TYPE.AAC_ADTS, pid: TS_PID.AUDIO });
    const key = streams.map((s) => s.pid).join();
    if (this.#streamsKey !== "" && key !== this.#streamsKey) {
      this.#pmtVersion = (this.#pmtVersion + 1) % 32;
    }
    this.#streamsKey = key;
    this.#pat = buildSectionPacket(
      TS_PID.PAT,
      buildPat({
        transportStreamId: TRANSPORT_STREAM_ID,
        programNumber: PROGRAM_NUMBER,
        pmtPid: TS_PID.PMT,
        version: 0,
      }),
    );
    this.#pmt = buildSectionPacket(
      TS_PID.PMT,
      buildPmt({
        programNumber: PROGRAM_NUMBER,
        pcrPid: this.#pcrPid,
        version: this.#pmtVersion,
        streams,
      }),
    );
  }

  /** Writes PAT+PMT; call at the start of every segment. */
  writeTables(): void {
    this.#reserve(2 * TS_PACKET_SIZE);
    this.#writeTable(this.#pat, CC_PAT);
    this.#writeTable(this.#pmt, CC_PMT);
  }

  /** Appends the TS packets of one frame (frame.kind selects the PID). */
  writeFrame(frame: MediaFrame): void {
    if (frame.kind === "video") this.#writeVideo(frame);
    else if (frame.kind === "audio") this.#writeAudio(frame);
    else throw new TypeError(`Cannot mux frame: unknown kind ${String(frame.kind)}`);
  }

  /**
   * Bytes written since the last take(): one contiguous view; the muxer reuses a growable
   * internal buffer, so the caller must consume (write to disk) before the next write.
   */
  take(): Uint8Array {
    const bytes = this.#out.subarray(0, this.#length);
    this.#length = 0;
    return bytes;
  }

  /** Bytes written and not yet taken; always a multiple of 188. */
  get bytesPending(): number {
    return this.#length;
  }

  #writeTable(packet: Uint8Array, slot: number): void {
    const at = this.#length;
    this.#out.set(packet, at);
    this.#out[at + 3] = (packet[3]! & 0xf0) | this.#nextCc(slot); // continuity_counter
    this.#length = at + TS_PACKET_SIZE;
  }

  #writeVideo(frame: MediaFrame): void {
    const config = this.#video;
    if (config === undefined) throw new TypeError("Cannot mux video frame: no video track");
    if (frame.codec !== "h264") {
      throw new TypeError(`Cannot mux video frame: codec ${frame.codec} is not h264`);
    }
    const data = frame.data;
    this.#naluCount = 0;
    forEachNalu(data, config.nalLengthSize, this.#collectNalu);

    let hasIdr = false;
    let hasSps = false;
    let hasPps = false;
    for (let i = 0; i < this.#naluCount; i++) {
      const type = data[this.#naluStart[i]!]! & 0x1f; // nal_unit_type
      if (type === NAL_TYPE.IDR) hasIdr = true;
      else if (type === NAL_TYPE.SPS) hasSps = true;
      else if (type === NAL_TYPE.PPS) hasPps = true;
    }
    // A keyframe needs its parameter sets in band. When the frame already carries both it
    // keeps its own (they may be newer than the config); otherwise the config's replace
    // whatever partial set it had, so none is written twice.
    const insertParameterSets = (frame.keyframe || hasIdr) && !(hasSps && hasPps);

    this.#runCount = 0;
    this.#addRun(ACCESS_UNIT_DELIMITER, 0, ACCESS_UNIT_DELIMITER.length);
    if (insertParameterSets) {
      for (const sps of config.sps) this.#addNalu(sps, 0, sps.length);
      for (const pps of config.pps) this.#addNalu(pps, 0, pps.length);
    }
    for (let i = 0; i < this.#naluCount; i++) {
      const start = this.#naluStart[i]!;
      const type = data[start]! & 0x1f; // nal_unit_type
      if (type === NAL_TYPE.AUD) continue;
      if (insertParameterSets && (type === NAL_TYPE.SPS || type === NAL_TYPE.PPS)) continue;
      this.#addNalu(data, start, this.#naluEnd[i]!);
    }

    const pts = toTs90k(frame.pts);
    const dts = toTs90k(frame.dts);
    this.#writePes(
      TS_PID.VIDEO,
      CC_VIDEO,
      STREAM_ID.VIDEO,
      pts,
      dts,
      false,
      frame.keyframe,
      this.#pcrPid === TS_PID.VIDEO ? dts - PCR_DELAY_90K : null,
    );
  }

  #writeAudio(frame: MediaFrame): void {
    const config = this.#audio;
    if (config === undefined) throw new TypeError("Cannot mux audio frame: no audio track");
    if (frame.codec !== "aac") {
      throw new TypeError(`Cannot mux audio frame: codec ${frame.codec} is not aac`);
    }
    writeAdtsHeader(this.#adts, 0, config, frame.data.length);
    this.#runCount = 0;
    this.#addRun(this.#adts, 0, ADTS_HEADER_SIZE);
    this.#addRun(frame.data, 0, frame.data.length);
    const pts = toTs90k(frame.pts);
    this.#writePes(
      TS_PID.AUDIO,
      CC_AUDIO,
      STREAM_ID.AUDIO,
      pts,
      pts,
      true,
      frame.keyframe,
      this.#pcrPid === TS_PID.AUDIO ? pts - PCR_DELAY_90K : null,
    );
  }

  #addNalu(source: Uint8Array, start: number, end: number): void {
    this.#addRun(START_CODE, 0, START_CODE.length);
    this.#addRun(source, start, end);
  }

  #addRun(source: Uint8Array, start: number, end: number): void {
    const i = this.#runCount++;
    this.#runSource[i] = source;
    this.#runStart[i] = start;
    this.#runEnd[i] = end;
  }

  /**
   * Packetizes one PES packet whose payload is the current runs: the PES header and, on
   * the first packet, an adaptation field with random_access_indicator and PCR; the last
   * packet is filled up with adaptation-field stuffing.
   */
  #writePes(
    pid: number,
    ccSlot: number,
    streamId: number,
    pts: number,
    dts: number,
    bounded: boolean,
    randomAccess: boolean,
    pcr: number | null,
  ): void {
    let payloadLength = 0;
    for (let i = 0; i < this.#runCount; i++) payloadLength += this.#runEnd[i]! - this.#runStart[i]!;
    const headerSize = pesHeaderSize(pts !== dts);
    const firstFields = pcr !== null
      ? ADAPTATION_WITH_PCR_SIZE
      : randomAccess
      ? ADAPTATION_FLAGS_ONLY_SIZE
      : 0;
    let remaining = headerSize + payloadLength;
    this.#reserve(Math.ceil((remaining + firstFields) / TS_BODY_SIZE) * TS_PACKET_SIZE);

    const out = this.#out;
    this.#runIndex = 0;
    this.#runPos = this.#runStart[0] ?? 0;
    let first = true;
    while (remaining > 0) {
      const at = this.#length;
      let adaptationSize = first ? firstFields : 0;
      let room = TS_BODY_SIZE - adaptationSize;
      if (remaining < room) {
        adaptationSize += room - remaining; // stuffing in the adaptation field
        room = remaining;
      }
      writeTsHeader(
        out,
        at,
        pid,
        first,
        adaptationSize > 0 ? AFC_ADAPTATION_AND_PAYLOAD : AFC_PAYLOAD,
        this.#nextCc(ccSlot),
      );
      let p = at + 4;
      if (adaptationSize > 0) {
        writeAdaptationField(out, p, adaptationSize, first && randomAccess, first ? pcr : null);
        p += adaptationSize;
      }
      let bytes = room;
      if (first) {
        writePesHeader(out, p, streamId, pts, dts, bounded ? payloadLength : null);
        p += headerSize;
        bytes -= headerSize;
      }
      this.#copyRuns(out, p, bytes);
      remaining -= room;
      this.#length = at + TS_PACKET_SIZE;
      first = false;
    }
    // Drop the references so the muxer does not keep the last frame's buffer alive.
    this.#runSource.fill(NO_BYTES, 0, this.#runCount);
  }

  /** Copies the next `count` payload bytes from the runs to `out[at]`. */
  #copyRuns(out: Uint8Array, at: number, count: number): void {
    while (count > 0) {
      const i = this.#runIndex;
      const source = this.#runSource[i]!;
      const end = this.#runEnd[i]!;
      let pos = this.#runPos;
      const n = Math.min(count, end - pos);
      // set() is a memcpy but costs a view; start codes and short tails copy faster by hand.
      if (n < 32) {
        for (let k = 0; k < n; k++) out[at + k] = source[pos + k]!;
      } else {
        out.set(source.subarray(pos, pos + n), at);
      }
      at += n;
      count -= n;
      pos += n;
      if (pos === end) {
        this.#runIndex = i + 1;
        this.#runPos = this.#runStart[i + 1] ?? 0;
      } else {
        this.#runPos = pos;
      }
    }
  }

  #nextCc(slot: number): number {
    const cc = this.#cc[slot]!;
    this.#cc[slot] = (cc + 1) & 0x0f;
    return cc;
  }

  /** Makes room for `bytes` more output bytes, doubling the buffer as needed. */
  #reserve(bytes: number): void {
    const needed = this.#length + bytes;
    if (needed <= this.#out.length) return;
    let capacity = this.#out.length * 2;
    while (capacity < needed) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.#out.subarray(0, this.#length));
    this.#out = next;
  }
}

/** Frame milliseconds to 90 kHz ticks on the muxer's offset timeline (wrapped when written). */
function toTs90k(ms: number): number {
  if (!Number.isFinite(ms)) throw new RangeError(`Cannot mux frame: timestamp ${ms} ms`);
  return Math.round(ms * 90) + TIMESTAMP_OFFSET_90K;
}
