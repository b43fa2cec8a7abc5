/**
 * Fragmented MP4 (ISO/IEC 14496-12 §8.8, the CMAF shape LL-HLS plays) for one H.264 and/or
 * one AAC track: `initSegment` writes the `EXT-X-MAP` (`ftyp` + `moov` with empty sample
 * tables and an `mvex/trex` per track), and an `Fmp4Fragmenter` collects frames and hands
 * out `moof` + `mdat` fragments — one `traf` per track with samples, `tfhd` with
 * default-base-is-moof, `tfdt` and `trun` version 1 (signed composition offsets) with a data
 * offset and per-sample duration, size, flags and composition offset. The parts of an LL-HLS
 * segment are such fragments, and the segment is their concatenation.
 *
 * Time: video runs at 90 kHz, so millisecond timestamps are exact; a sample lasts until the
 * next one's dts, and the last one of a fragment until the dts the caller passes to `flush`
 * (the frame that starts the next fragment), else as long as the one before it. AAC runs at
 * its sample rate and each access unit lasts 1024 samples: decode times count samples from
 * the first frame's timestamp, so ingest's rounded milliseconds neither jitter nor drift; a
 * real gap (more than a frame late) lengthens the sample before it, or moves the next
 * fragment's start, keeping the tracks in sync as `Mp4Muxer` does. Pure: bytes in, bytes out.
 * A fragment is written into one buffer sized up front; per frame the fragmenter only notes
 * four numbers and keeps a reference to the payload.
 */

import type { AacConfig, AvcConfig, MediaFrame } from "../frame.ts";
import {
  avc1,
  box,
  chunkOffsets,
  dinf,
  fullBox,
  hdlr,
  mdhd,
  mp4a,
  mvhd,
  smhd,
  stsc,
  stsd,
  stsz,
  stts,
  tkhd,
  vmhd,
} from "./boxes.ts";
import { ByteWriter } from "../bytes.ts";

export const FMP4_VIDEO_TIMESCALE = 90000;
/** Samples in one AAC (LC) access unit. */
const AAC_FRAME_SAMPLES = 1024;
/** Duration of a lone video frame when nothing better is known: 1/30 s. */
const FALLBACK_VIDEO_TICKS = 3000;

/** `sample_flags` (§8.8.3.1): sample_depends_on 2, a sync sample. */
const SYNC_SAMPLE_FLAGS = 0x02000000;
/** `sample_flags`: sample_depends_on 1, sample_is_non_sync_sample 1. */
const NON_SYNC_SAMPLE_FLAGS = 0x01010000;
/** `tfhd` flags: default-base-is-moof (§8.8.7.1). */
const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;
/** `trun` flags: data-offset, sample-duration, -size, -flags, -composition-time-offsets. */
const TRUN_VIDEO_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400 | 0x000800;
const TRUN_AUDIO_FLAGS = 0x000001 | 0x000100 | 0x000200 | 0x000400;

export interface Fmp4Tracks {
  video?: AvcConfig;
  audio?: AacConfig;
}

/** Track ids: video 1 when present, then audio. */
export function trackIds(tracks: Fmp4Tracks): { video?: number; audio?: number } {
  if (tracks.video) return { video: 1, ...(tracks.audio ? { audio: 2 } : {}) };
  return tracks.audio ? { audio: 1 } : {};
}

/** `ftyp` (§4.3) as CMAF/HLS players expect of an fMP4 stream. */
function fmp4Ftyp(): Uint8Array {
  const w = new ByteWriter(28);
  for (const c of "mp42") w.u8(c.charCodeAt(0)); // major_brand
  w.u32(1); // minor_version
  for (const brand of ["mp41", "mp42", "isom", "hlsf"]) {
    for (const c of brand) w.u8(c.charCodeAt(0)); // compatible_brands
  }
  return box("ftyp", w.finish());
}

/** `trex` (§8.8.3): defaults every `trun` overrides per sample. */
function trex(trackId: number): Uint8Array {
  const w = new ByteWriter(20);
  w.u32(trackId); // track_ID
  w.u32(1); // default_sample_description_index
  w.u32(0).u32(0).u32(0); // default_sample_duration, _size, _flags
  return fullBox("trex", 0, 0, w.finish());
}

/** The initialization segment (`EXT-X-MAP`): `ftyp` and a `moov` without samples. */
export function initSegment(tracks: Fmp4Tracks, created = new Date(0)): Uint8Array {
  const ids = trackIds(tracks);
  if (ids.video === undefined && ids.audio === undefined) {
    throw new TypeError("Cannot write an init segment: no tracks");
  }
  const traks: Uint8Array[] = [];
  const trexes: Uint8Array[] = [];
  const emptyTables = () => [stts([], 0), stsc([], 0), stsz([], 0), chunkOffsets([], 0, false)];
  if (tracks.video && ids.video !== undefined) {
    const v = tracks.video;
    traks.push(box(
      "trak",
      tkhd({ created, trackId: ids.video, duration: 0, audio: false, ...size(v) }),
      box(
        "mdia",
        mdhd(created, FMP4_VIDEO_TIMESCALE, 0),
        hdlr("vide", "VideoHandler"),
        box("minf", vmhd(), dinf(), box("stbl", stsd(avc1(v)), ...emptyTables())),
      ),
    ));
    trexes.push(trex(ids.video));
  }
  if (tracks.audio && ids.audio !== undefined) {
    const a = tracks.audio;
    const entry = mp4a(a, { max: 0, avg: 0, bufferSize: 0 });
    traks.push(box(
      "trak",
      tkhd({ created, trackId: ids.audio, duration: 0, audio: true }),
      box(
        "mdia",
        mdhd(created, a.sampleRate, 0),
        hdlr("soun", "SoundHandler"),
        box("minf", smhd(), dinf(), box("stbl", stsd(entry), ...emptyTables())),
      ),
    ));
    trexes.push(trex(ids.audio));
  }
  const moov = box(
    "moov",
    mvhd({ created, timescale: 1000, duration: 0, nextTrackId: traks.length + 1 }),
    ...traks,
    box("mvex", ...trexes),
  );
  const ftyp = fmp4Ftyp();
  const out = new Uint8Array(ftyp.length + moov.length);
  out.set(ftyp, 0);
  out.set(moov, ftyp.length);
  return out;
}

function size(v: AvcConfig): { width?: number; height?: number } {
  return { width: v.width, height: v.height };
}

/** The samples of one track since the last fragment, in reusable arrays. */
class TrackRun {
  readonly id: number;
  readonly video: boolean;
  readonly timescale: number;
  count = 0;
  durations = new Uint32Array(64);
  sizes = new Uint32Array(64);
  flags = new Uint32Array(64);
  offsets = new Int32Array(64);
  data: Uint8Array[] = [];
  bytes = 0;
  /** Decode time of the run's first sample, ticks. */
  base = 0;
  /** Audio: decode time the next sample gets, ticks; undefined before the first sample. */
  next: number | undefined;
  /** dts of the latest video sample, ticks (its duration is open until the next). */
  lastTicks = 0;
  /** Duration of the sample before the latest one, ticks. */
  lastDuration = 0;

  constructor(id: number, video: boolean, timescale: number) {
    this.id = id;
    this.video = video;
    this.timescale = timescale;
  }

  push(duration: number, size: number, flags: number, offset: number, data: Uint8Array): void {
    if (this.count === this.sizes.length) this.#grow();
    const i = this.count++;
    this.durations[i] = duration;
    this.sizes[i] = size;
    this.flags[i] = flags;
    this.offsets[i] = offset;
    this.data.push(data);
    this.bytes += size;
  }

  #grow(): void {
    const n = this.sizes.length * 2;
    const grow = <T extends Uint32Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.durations = grow(this.durations, (n) => new Uint32Array(n));
    this.sizes = grow(this.sizes, (n) => new Uint32Array(n));
    this.flags = grow(this.flags, (n) => new Uint32Array(n));
    this.offsets = grow(this.offsets, (n) => new Int32Array(n));
  }

  reset(): void {
    this.count = 0;
    this.data = [];
    this.bytes = 0;
  }

  /** Bytes of this run's `traf`. */
  trafSize(): number {
    const perSample = this.video ? 16 : 12;
    return 8 + 16 + 20 + (8 + 4 + 4 + 4 + this.count * perSample); // traf, tfhd, tfdt, trun
  }
}

/** See the module comment. Build one per timeline (publish or codec change). */
export class Fmp4Fragmenter {
  readonly init: Uint8Array;
  readonly #video: TrackRun | undefined;
  readonly #audio: TrackRun | undefined;
  #sequence = 0;

  constructor(tracks: Fmp4Tracks) {
    this.init = initSegment(tracks);
    const ids = trackIds(tracks);
    if (ids.video !== undefined) this.#video = new TrackRun(ids.video, true, 90000);
    if (ids.audio !== undefined) {
      this.#audio = new TrackRun(ids.audio, false, tracks.audio!.sampleRate);
    }
  }

  /** Samples waiting for the next fragment. */
  get pendingSamples(): number {
    return (this.#video?.count ?? 0) + (this.#audio?.count ?? 0);
  }

  /** Adds one frame, in dts order per track, to the fragment being collected. */
  add(frame: MediaFrame): void {
    if (!Number.isFinite(frame.dts) || !Number.isFinite(frame.pts) || frame.dts < 0) {
      throw new RangeError(`Cannot fragment frame: dts ${frame.dts} / pts ${frame.pts}`);
    }
    if (frame.kind === "video") this.#addVideo(frame);
    else this.#addAudio(frame);
  }

  #addVideo(frame: MediaFrame): void {
    const t = this.#video;
    if (!t || frame.codec !== "h264") {
      throw new TypeError(`Cannot fragment a video ${frame.codec} frame: no such track`);
    }
    const ticks = Math.round(frame.dts * 90);
    if (t.count > 0) this.#closeVideoSample(t, ticks);
    else t.base = ticks;
    t.lastTicks = ticks;
    const offset = Math.round((frame.pts - frame.dts) * 90);
    const flags = frame.keyframe ? SYNC_SAMPLE_FLAGS : NON_SYNC_SAMPLE_FLAGS;
    t.push(0, frame.data.length, flags, offset, frame.data);
  }

  /** Sets the duration of the run's latest video sample, now that the next starts at `ticks`. */
  #closeVideoSample(t: TrackRun, ticks: number): void {
    let d = ticks - t.lastTicks;
    if (d <= 0) d = t.lastDuration > 0 ? t.lastDuration : FALLBACK_VIDEO_TICKS;
    t.durations[t.count - 1] = d;
    t.lastDuration = d;
  }

  #addAudio(frame: MediaFrame): void {
    const t = this.#audio;
    if (!t || frame.codec !== "aac") {
      throw new TypeError(`Cannot fragment an audio ${frame.codec} frame: no such track`);
    }
    const ideal = Math.round(frame.dts * t.timescale / 1000);
    if (t.next === undefined) t.next = ideal;
    // Counted samples run behind the timestamps by more than a frame: a real gap.
    const gap = ideal - t.next > AAC_FRAME_SAMPLES ? ideal - t.next : 0;
    if (t.count > 0) t.durations[t.count - 1] = t.durations[t.count - 1]! + gap;
    else t.base = t.next + gap;
    t.next += gap + AAC_FRAME_SAMPLES;
    t.push(AAC_FRAME_SAMPLES, frame.data.length, SYNC_SAMPLE_FLAGS, 0, frame.data);
  }

  /**
   * The `moof` + `mdat` of every sample added since the last call, or undefined when there
   * is none. `endDtsMs` is where the next fragment's video starts: the last video sample
   * lasts until then (else as long as the one before it).
   */
  flush(endDtsMs?: number): Uint8Array | undefined {
    const runs: TrackRun[] = [];
    for (const t of [this.#video, this.#audio]) if (t && t.count > 0) runs.push(t);
    if (runs.length === 0) return undefined;
    const v = this.#video;
    if (v && v.count > 0) {
      const end = endDtsMs === undefined ? undefined : Math.round(endDtsMs * 90);
      if (end !== undefined && end > v.lastTicks) this.#closeVideoSample(v, end);
      else {
        const d = v.lastDuration > 0 ? v.lastDuration : FALLBACK_VIDEO_TICKS;
        v.durations[v.count - 1] = d;
        v.lastDuration = d;
      }
    }
    const bytes = writeFragment(++this.#sequence, runs);
    for (const t of runs) t.reset();
    return bytes;
  }
}

/** `moof{mfhd, traf…}` + `mdat` for `runs`, in one buffer. */
function writeFragment(sequence: number, runs: TrackRun[]): Uint8Array {
  let moofSize = 8 + 16; // moof header, mfhd
  let mdatPayload = 0;
  for (const t of runs) {
    moofSize += t.trafSize();
    mdatPayload += t.bytes;
  }
  const out = new Uint8Array(moofSize + 8 + mdatPayload);
  const view = new DataView(out.buffer);
  let at = 0;
  const u32 = (v: number) => {
    view.setUint32(at, v);
    at += 4;
  };
  const type = (s: string) => {
    for (let i = 0; i < 4; i++) out[at + i] = s.charCodeAt(i);
    at += 4;
  };
  u32(moofSize); // moof size
  type("moof");
  u32(16); // mfhd size
  type("mfhd");
  u32(0); // version, flags
  u32(sequence); // sequence_number
  let dataOffset = moofSize + 8; // from the moof's first byte to this run's first sample
  for (const t of runs) {
    u32(t.trafSize()); // traf size
    type("traf");
    u32(16); // tfhd size
    type("tfhd");
    u32(TFHD_DEFAULT_BASE_IS_MOOF); // version 0, flags
    u32(t.id); // track_ID
    u32(20); // tfdt size
    type("tfdt");
    u32(0x01000000); // version 1, flags 0
    u32(Math.floor(t.base / 0x100000000)); // baseMediaDecodeTime, 64 bits
    u32(t.base % 0x100000000);
    u32(t.trafSize() - 8 - 16 - 20); // trun size
    type("trun");
    u32(0x01000000 | (t.video ? TRUN_VIDEO_FLAGS : TRUN_AUDIO_FLAGS)); // version 1, flags
    u32(t.count); // sample_count
    u32(dataOffset); // data_offset
    for (let i = 0; i < t.count; i++) {
      u32(t.durations[i]!); // sample_duration
      u32(t.sizes[i]!); // sample_size
      u32(t.flags[i]!); // sample_flags
      if (t.video) {
        view.setInt32(at, t.offsets[i]!); // sample_composition_time_offset (signed, v1)
        at += 4;
      }
    }
    dataOffset += t.bytes;
  }
  u32(8 + mdatPayload); // mdat size
  type("mdat");
  for (const t of runs) {
    for (const d of t.data) {
      out.set(d, at);
      at += d.length;
    }
  }
  return out;
}
