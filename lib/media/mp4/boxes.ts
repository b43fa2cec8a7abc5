/**
 * ISO base media file format boxes (ISO/IEC 14496-12) for progressive MP4 files of one H.264
 * and/or one AAC track: pure functions that return the bytes of one box each, named after
 * the box they write, with each field named after the spec. `Mp4Muxer` assembles them into
 * `ftyp`/`moov`/`mdat`; nothing here knows about files or frames. Sample tables take their
 * values as typed arrays and run-length encode what the spec lets them (`stts`, `ctts`,
 * `stsc`); `stss` is left out when every sample is a sync sample, as §8.6.2 allows.
 */

import { ByteWriter } from "../bytes.ts";
import type { AacConfig, AvcConfig } from "../frame.ts";

/** Seconds between 1904-01-01 (the MP4 epoch) and 1970-01-01. */
const MP4_EPOCH_OFFSET_S = 2082844800;
const U32_MAX = 0xffffffff;

/** The fixed-point identity matrix of `mvhd` and `tkhd` (§8.2.2.3). */
const UNITY_MATRIX = [0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000];

function fourcc(w: ByteWriter, type: string): void {
  if (type.length !== 4) throw new TypeError(`Invalid box type: ${JSON.stringify(type)}`);
  for (let i = 0; i < 4; i++) w.u8(type.charCodeAt(i));
}

function u64(w: ByteWriter, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`Invalid 64-bit value: ${v}`);
  w.u32(Math.floor(v / 0x100000000));
  w.u32(v % 0x100000000);
}

/** A box: 32-bit size and type, then the children or payload, concatenated. */
export function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  let size = 8;
  for (const p of payload) size += p.length;
  if (size > U32_MAX) throw new RangeError(`Box ${type} is too large: ${size} bytes`);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, size); // size
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i); // type
  let at = 8;
  for (const p of payload) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A full box: a box whose payload starts with an 8-bit version and 24-bit flags. */
export function fullBox(
  type: string,
  version: number,
  flags: number,
  ...payload: Uint8Array[]
): Uint8Array {
  const head = new Uint8Array(4);
  head[0] = version; // version
  head[1] = (flags >>> 16) & 0xff; // flags
  head[2] = (flags >>> 8) & 0xff;
  head[3] = flags & 0xff;
  return box(type, head, ...payload);
}

/** Seconds since the MP4 epoch, for the creation and modification times. */
export function mp4Time(date: Date): number {
  return Math.max(0, Math.floor(date.getTime() / 1000) + MP4_EPOCH_OFFSET_S);
}

/** `ftyp` (§4.3): ISO base media with AVC, readable by MP4 v1 players. */
export function ftyp(): Uint8Array {
  const w = new ByteWriter(32);
  fourcc(w, "isom"); // major_brand
  w.u32(0x200); // minor_version
  for (const brand of ["isom", "iso2", "avc1", "mp41"]) fourcc(w, brand); // compatible_brands
  return box("ftyp", w.finish());
}

/** `free` (§8.1.2) of exactly `size` bytes (at least 8), zero-filled. */
export function free(size: number): Uint8Array {
  if (!Number.isSafeInteger(size) || size < 8) throw new RangeError(`Invalid free size: ${size}`);
  return box("free", new Uint8Array(size - 8));
}

/** Bytes of the 64-bit `mdat` header that `mdatHeader` writes. */
export const MDAT_HEADER_SIZE = 16;

/** The `mdat` header (§8.1.1) for `payloadSize` bytes, always in the 64-bit form. */
export function mdatHeader(payloadSize: number): Uint8Array {
  const w = new ByteWriter(MDAT_HEADER_SIZE);
  w.u32(1); // size: 1 = largesize follows
  fourcc(w, "mdat"); // type
  u64(w, MDAT_HEADER_SIZE + payloadSize); // largesize
  return w.finish().slice();
}

export interface MvhdFields {
  created: Date;
  /** Ticks per second of `duration`. */
  timescale: number;
  duration: number;
  nextTrackId: number;
}

/** `mvhd` (§8.2.2); version 1 only when a value needs 64 bits. */
export function mvhd(f: MvhdFields): Uint8Array {
  const t = mp4Time(f.created);
  const v1 = f.duration > U32_MAX || t > U32_MAX;
  const w = new ByteWriter(112);
  if (v1) {
    u64(w, t); // creation_time
    u64(w, t); // modification_time
    w.u32(f.timescale); // timescale
    u64(w, f.duration); // duration
  } else {
    w.u32(t).u32(t).u32(f.timescale).u32(f.duration);
  }
  w.u32(0x00010000); // rate 1.0
  w.u16(0x0100); // volume 1.0
  w.u16(0).u32(0).u32(0); // reserved
  for (const m of UNITY_MATRIX) w.u32(m); // matrix
  for (let i = 0; i < 6; i++) w.u32(0); // pre_defined
  w.u32(f.nextTrackId); // next_track_ID
  return fullBox("mvhd", v1 ? 1 : 0, 0, w.finish());
}

export interface TkhdFields {
  created: Date;
  trackId: number;
  /** In the movie timescale. */
  duration: number;
  /** Audio tracks play at full volume; video tracks are silent. */
  audio: boolean;
  width?: number;
  height?: number;
}

/** `tkhd` (§8.3.2), flags track_enabled | track_in_movie. */
export function tkhd(f: TkhdFields): Uint8Array {
  const t = mp4Time(f.created);
  const v1 = f.duration > U32_MAX || t > U32_MAX;
  const w = new ByteWriter(100);
  if (v1) {
    u64(w, t); // creation_time
    u64(w, t); // modification_time
    w.u32(f.trackId).u32(0); // track_ID, reserved
    u64(w, f.duration); // duration
  } else {
    w.u32(t).u32(t).u32(f.trackId).u32(0).u32(f.duration);
  }
  w.u32(0).u32(0); // reserved
  w.u16(0); // layer
  w.u16(0); // alternate_group
  w.u16(f.audio ? 0x0100 : 0); // volume
  w.u16(0); // reserved
  for (const m of UNITY_MATRIX) w.u32(m); // matrix
  w.u32(Math.round((f.width ?? 0) * 0x10000)); // width, 16.16
  w.u32(Math.round((f.height ?? 0) * 0x10000)); // height, 16.16
  return fullBox("tkhd", v1 ? 1 : 0, 0x000003, w.finish());
}

/** One `elst` entry: `mediaTime` -1 is an empty edit (nothing shown for its duration). */
export interface EditEntry {
  /** In the movie timescale. */
  segmentDuration: number;
  /** In the media timescale. */
  mediaTime: number;
}

/** `edts` holding an `elst` (§8.6.5, §8.6.6). */
export function edts(entries: EditEntry[]): Uint8Array {
  const v1 = entries.some((e) => e.segmentDuration > U32_MAX || e.mediaTime > 0x7fffffff);
  const w = new ByteWriter(8 + entries.length * 20);
  w.u32(entries.length); // entry_count
  for (const e of entries) {
    if (v1) {
      u64(w, e.segmentDuration); // segment_duration
      if (e.mediaTime < 0) w.u32(U32_MAX).u32(U32_MAX); // media_time -1
      else u64(w, e.mediaTime);
    } else {
      w.u32(e.segmentDuration); // segment_duration
      w.u32(e.mediaTime < 0 ? U32_MAX : e.mediaTime); // media_time
    }
    w.u16(1).u16(0); // media_rate_integer, media_rate_fraction
  }
  return box("edts", fullBox("elst", v1 ? 1 : 0, 0, w.finish()));
}

/** `mdhd` (§8.4.2), language `und`. */
export function mdhd(created: Date, timescale: number, duration: number): Uint8Array {
  const t = mp4Time(created);
  const v1 = duration > U32_MAX || t > U32_MAX;
  const w = new ByteWriter(36);
  if (v1) {
    u64(w, t); // creation_time
    u64(w, t); // modification_time
    w.u32(timescale); // timescale
    u64(w, duration); // duration
  } else {
    w.u32(t).u32(t).u32(timescale).u32(duration);
  }
  w.u16(0x55c4); // pad(1) + language "und" as three 5-bit letters
  w.u16(0); // pre_defined
  return fullBox("mdhd", v1 ? 1 : 0, 0, w.finish());
}

/** `hdlr` (§8.4.3). */
export function hdlr(handlerType: "vide" | "soun", name: string): Uint8Array {
  const w = new ByteWriter(32 + name.length);
  w.u32(0); // pre_defined
  fourcc(w, handlerType); // handler_type
  w.u32(0).u32(0).u32(0); // reserved
  w.bytes(new TextEncoder().encode(name)).u8(0); // name, null-terminated
  return fullBox("hdlr", 0, 0, w.finish());
}

/** `vmhd` (§12.1.2); flags 1 as the spec requires. */
export function vmhd(): Uint8Array {
  return fullBox("vmhd", 0, 1, new Uint8Array(8)); // graphicsmode, opcolor[3]
}

/** `smhd` (§12.2.2). */
export function smhd(): Uint8Array {
  return fullBox("smhd", 0, 0, new Uint8Array(4)); // balance, reserved
}

/** `dinf` with a `dref` of one self-contained `url ` entry (§8.7.1, §8.7.2). */
export function dinf(): Uint8Array {
  const count = new Uint8Array([0, 0, 0, 1]); // entry_count
  return box("dinf", fullBox("dref", 0, 0, count, fullBox("url ", 0, 1)));
}

/** `avc1` sample entry (ISO/IEC 14496-15 §5.4.2) with the `avcC` record verbatim. */
export function avc1(avc: AvcConfig): Uint8Array {
  const w = new ByteWriter(80);
  w.u32(0).u16(0); // reserved
  w.u16(1); // data_reference_index
  w.u16(0).u16(0); // pre_defined, reserved
  w.u32(0).u32(0).u32(0); // pre_defined
  w.u16(avc.width ?? 0); // width
  w.u16(avc.height ?? 0); // height
  w.u32(0x00480000); // horizresolution 72 dpi
  w.u32(0x00480000); // vertresolution 72 dpi
  w.u32(0); // reserved
  w.u16(1); // frame_count
  w.bytes(new Uint8Array(32)); // compressorname (empty Pascal string)
  w.u16(0x0018); // depth
  w.u16(0xffff); // pre_defined = -1
  return box("avc1", w.finish(), box("avcC", avc.record));
}

/** An MPEG-4 descriptor (ISO/IEC 14496-1 §8.3.3): tag, expandable size, payload. */
function descriptor(tag: number, ...payload: Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of payload) size += p.length;
  const w = new ByteWriter(size + 5);
  w.u8(tag);
  const lengthBytes: number[] = [];
  let n = size;
  do {
    lengthBytes.unshift(n & 0x7f);
    n >>>= 7;
  } while (n > 0);
  for (let i = 0; i < lengthBytes.length; i++) {
    w.u8(lengthBytes[i]! | (i < lengthBytes.length - 1 ? 0x80 : 0)); // sizeOfInstance
  }
  for (const p of payload) w.bytes(p);
  return w.finish().slice();
}

export interface AudioBitrates {
  max: number;
  avg: number;
  /** Largest access unit, for `bufferSizeDB`. */
  bufferSize: number;
}

/** `esds` (ISO/IEC 14496-14 §5.6) describing AAC with its AudioSpecificConfig. */
export function esds(aac: AacConfig, rates: AudioBitrates): Uint8Array {
  const es = new ByteWriter(3);
  es.u16(0); // ES_ID
  es.u8(0); // streamDependenceFlag, URL_Flag, OCRstreamFlag, streamPriority
  const dc = new ByteWriter(13);
  dc.u8(0x40); // objectTypeIndication: Audio ISO/IEC 14496-3
  dc.u8((0x05 << 2) | 1); // streamType audio, upStream 0, reserved 1
  dc.u24(Math.min(0xffffff, rates.bufferSize)); // bufferSizeDB
  dc.u32(rates.max); // maxBitrate
  dc.u32(rates.avg); // avgBitrate
  const decoderConfig = descriptor(0x04, dc.finish(), descriptor(0x05, aac.record));
  const slConfig = descriptor(0x06, new Uint8Array([0x02])); // predefined: MP4 file
  return fullBox("esds", 0, 0, descriptor(0x03, es.finish(), decoderConfig, slConfig));
}

/** `mp4a` sample entry (ISO/IEC 14496-14 §5.6) with its `esds`. */
export function mp4a(aac: AacConfig, rates: AudioBitrates): Uint8Array {
  const w = new ByteWriter(28);
  w.u32(0).u16(0); // reserved
  w.u16(1); // data_reference_index
  w.u32(0).u32(0); // reserved
  w.u16(aac.channelConfig === 7 ? 8 : aac.channelConfig); // channelcount
  w.u16(16); // samplesize
  w.u16(0).u16(0); // pre_defined, reserved
  // samplerate is 16.16; rates that do not fit are left to the AudioSpecificConfig.
  w.u32(aac.sampleRate < 0x10000 ? aac.sampleRate * 0x10000 : 0);
  return box("mp4a", w.finish(), esds(aac, rates));
}

/** `stsd` (§8.5.2) with one sample entry. */
export function stsd(entry: Uint8Array): Uint8Array {
  return fullBox("stsd", 0, 0, new Uint8Array([0, 0, 0, 1]), entry);
}

/** `stts` (§8.6.1.2): sample durations, run-length encoded. */
export function stts(durations: ArrayLike<number>, count: number): Uint8Array {
  const runs = runLength(durations, count);
  const w = new ByteWriter(4 + runs.length * 8);
  w.u32(runs.length / 2); // entry_count
  for (let i = 0; i < runs.length; i += 2) w.u32(runs[i]!).u32(runs[i + 1]!); // count, delta
  return fullBox("stts", 0, 0, w.finish());
}

/**
 * `ctts` (§8.6.1.3): composition offsets, run-length encoded; version 1 (signed) only when
 * an offset is negative.
 */
export function ctts(offsets: ArrayLike<number>, count: number): Uint8Array {
  const runs = runLength(offsets, count);
  let signed = false;
  for (let i = 1; i < runs.length; i += 2) if (runs[i]! < 0) signed = true;
  const w = new ByteWriter(4 + runs.length * 8);
  w.u32(runs.length / 2); // entry_count
  for (let i = 0; i < runs.length; i += 2) {
    w.u32(runs[i]!); // sample_count
    w.u32(runs[i + 1]! >>> 0); // sample_offset (two's complement when signed)
  }
  return fullBox("ctts", signed ? 1 : 0, 0, w.finish());
}

/** `stss` (§8.6.2): 1-based numbers of the sync samples. */
export function stss(syncNumbers: number[]): Uint8Array {
  const w = new ByteWriter(4 + syncNumbers.length * 4);
  w.u32(syncNumbers.length); // entry_count
  for (const n of syncNumbers) w.u32(n); // sample_number
  return fullBox("stss", 0, 0, w.finish());
}

/** `stsc` (§8.6.4) from the sample count of each chunk, run-length encoded. */
export function stsc(samplesPerChunk: ArrayLike<number>, chunkCount: number): Uint8Array {
  const w = new ByteWriter(4 + chunkCount * 12);
  let entries = 0;
  w.u32(0); // entry_count, patched below
  for (let i = 0; i < chunkCount; i++) {
    if (i > 0 && samplesPerChunk[i] === samplesPerChunk[i - 1]) continue;
    w.u32(i + 1); // first_chunk
    w.u32(samplesPerChunk[i]!); // samples_per_chunk
    w.u32(1); // sample_description_index
    entries++;
  }
  const bytes = w.finish();
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, entries);
  return fullBox("stsc", 0, 0, bytes);
}

/** `stsz` (§8.7.3): the common size when all samples share one, else every size. */
export function stsz(sizes: ArrayLike<number>, count: number): Uint8Array {
  let same = count > 0;
  for (let i = 1; i < count && same; i++) same = sizes[i] === sizes[0];
  const w = new ByteWriter(8 + (same ? 0 : count * 4));
  w.u32(same ? sizes[0]! : 0); // sample_size
  w.u32(count); // sample_count
  if (!same) { for (let i = 0; i < count; i++) w.u32(sizes[i]!); // entry_size
   }
  return fullBox("stsz", 0, 0, w.finish());
}

/** `stco` (§8.7.5), or `co64` when `wide`: absolute file offsets of the chunks. */
export function chunkOffsets(offsets: ArrayLike<number>, count: number, wide: boolean): Uint8Array {
  const w = new ByteWriter(4 + count * (wide ? 8 : 4));
  w.u32(count); // entry_count
  for (let i = 0; i < count; i++) {
    const o = offsets[i]!;
    if (wide) u64(w, o); // chunk_offset
    else if (o > U32_MAX) throw new RangeError(`Chunk offset ${o} needs co64`);
    else w.u32(o); // chunk_offset
  }
  return fullBox(wide ? "co64" : "stco", 0, 0, w.finish());
}

/** Pairs of (count, value) for consecutive equal values. */
function runLength(values: ArrayLike<number>, count: number): number[] {
  const runs: number[] = [];
  for (let i = 0; i < count; i++) {
    const v = values[i]!;
    const last = runs.length - 1;
    if (last > 0 && runs[last] === v) runs[last - 1] = runs[last - 1]! + 1;
    else runs.push(1, v);
  }
  return runs;
}
