/**
 * Progressive MP4 muxer for one H.264 and/or one AAC track, the recorder's file format.
 * It keeps the sample tables in memory and hands out the payload bytes in write order;
 * the caller appends them to the file's `mdat` and, when the file is complete, asks for the
 * `moov` with the absolute offset where the `mdat` payload begins. Nothing here touches a
 * file, so the caller chooses the layout: Cascade's recorder reserves room for the `moov`
 * in front of the `mdat` (see `fileHead`), which makes every file "faststart" (playable
 * while it downloads) without copying the media afterwards.
 *
 * Usage:
 * ```ts
 * const mux = new Mp4Muxer({ video: avc, audio: aac, created: new Date() });
 * for (const f of frames) {
 *   mux.add(f);
 *   if (mux.shouldFlush()) await append(mux.take());
 * }
 * await append(mux.take());
 * mux.finish(nextKeyframeDts);
 * const moov = mux.moov(dataStart);
 * ```
 *
 * - Interleaving: frames are held until half a second of media (or 1 MiB) is buffered,
 *   then written as one run of video samples and one run of audio samples, each an MP4
 *   chunk, so players read both tracks from nearby bytes and the chunk tables stay small.
 * - Time: the movie timescale is 1000; video uses 90 kHz, so millisecond timestamps are
 *   exact, and audio uses its sample rate. A video sample lasts until the next one's dts
 *   (a backward step repeats the previous duration); the last lasts until `finish(endDts)`.
 *   AAC frames last 1024 samples, the codec's frame length, so ingest's rounded
 *   millisecond timestamps add no jitter; a real gap in the input (more than a frame
 *   late) lengthens the sample before it, which keeps the tracks in sync.
 * - Edit lists: each track starts at its first presentation time; a track that starts
 *   later than the other gets an empty edit first, and video with composition offsets
 *   (B-frames) starts at its first frame's pts, so both tracks stay aligned.
 * - Errors: `TypeError` for a frame of a track the muxer was not given; `RangeError` for a
 *   non-finite timestamp. A call that throws has changed nothing.
 */

import type { AacConfig, AvcConfig, MediaFrame } from "../frame.ts";
import {
  avc1,
  box,
  chunkOffsets,
  ctts,
  dinf,
  type EditEntry,
  edts,
  free,
  ftyp,
  hdlr,
  MDAT_HEADER_SIZE,
  mdatHeader,
  mdhd,
  mp4a,
  mvhd,
  smhd,
  stsc,
  stsd,
  stss,
  stsz,
  stts,
  tkhd,
  vmhd,
} from "./boxes.ts";

export interface Mp4MuxerOptions {
  video?: AvcConfig;
  audio?: AacConfig;
  /** Wall-clock time of the first sample, written as creation time. */
  created: Date;
  /** Media buffered before a run of each track is written; default 500 ms. */
  interleaveMs?: number;
}

export const MOVIE_TIMESCALE = 1000;
export const VIDEO_TIMESCALE = 90000;
/** Samples in one AAC (LC) access unit. */
const AAC_FRAME_SAMPLES = 1024;
const INTERLEAVE_MAX_BYTES = 1024 * 1024;
/** Duration of a lone video frame when nothing better is known: 1/30 s. */
const FALLBACK_VIDEO_TICKS = 3000;
/** Beyond this the chunk offsets need 64 bits (with room for a 64 MiB head). */
const STCO_LIMIT = 0xffffffff - 64 * 1024 * 1024;

class Track {
  readonly id: number;
  readonly kind: "video" | "audio";
  readonly timescale: number;
  readonly sizes: number[] = [];
  /** Duration of each sample in ticks; the last one is set by the next sample or `finish`. */
  readonly durations: number[] = [];
  readonly ctsOffsets: number[] = [];
  /** 1-based numbers of sync samples. */
  readonly syncs: number[] = [];
  readonly chunkOffsets: number[] = [];
  readonly chunkSamples: number[] = [];
  firstDtsMs: number | undefined;
  firstPtsMs: number | undefined;
  lastDtsMs: number | undefined;
  /** Decode time of the latest sample, in ticks from the first. */
  lastTicks = 0;
  bytes = 0;
  maxSample = 0;

  constructor(id: number, kind: "video" | "audio", timescale: number) {
    this.id = id;
    this.kind = kind;
    this.timescale = timescale;
  }

  get count(): number {
    return this.sizes.length;
  }

  get mediaTicks(): number {
    let sum = 0;
    for (const d of this.durations) sum += d;
    return sum;
  }
}

/** See the module comment. */
export class Mp4Muxer {
  readonly video: AvcConfig | undefined;
  readonly audio: AacConfig | undefined;
  readonly created: Date;
  readonly #interleaveMs: number;
  readonly #tracks: Track[] = [];
  readonly #videoTrack: Track | undefined;
  readonly #audioTrack: Track | undefined;
  #pending: { track: Track; data: Uint8Array; dtsMs: number }[] = [];
  #pendingBytes = 0;
  #dataSize = 0;
  #finished = false;

  constructor(o: Mp4MuxerOptions) {
    if (!o.video && !o.audio) throw new TypeError("Cannot mux MP4: no tracks");
    this.video = o.video;
    this.audio = o.audio;
    this.created = o.created;
    this.#interleaveMs = o.interleaveMs ?? 500;
    if (o.video) {
      this.#videoTrack = new Track(this.#tracks.length + 1, "video", VIDEO_TIMESCALE);
      this.#tracks.push(this.#videoTrack);
    }
    if (o.audio) {
      this.#audioTrack = new Track(this.#tracks.length + 1, "audio", o.audio.sampleRate);
      this.#tracks.push(this.#audioTrack);
    }
  }

  /** Payload bytes handed out by `take()` so far: the `mdat` payload size. */
  get dataSize(): number {
    return this.#dataSize;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Samples added per track kind. */
  get samples(): { video: number; audio: number } {
    return { video: this.#videoTrack?.count ?? 0, audio: this.#audioTrack?.count ?? 0 };
  }

  /** Adds one frame (in dts order per track); its bytes come out of a later `take()`. */
  add(frame: MediaFrame): void {
    if (this.#finished) throw new TypeError("Cannot add a frame: the MP4 is finished");
    const track = frame.kind === "video" ? this.#videoTrack : this.#audioTrack;
    if (!track || (frame.kind === "video" ? frame.codec !== "h264" : frame.codec !== "aac")) {
      throw new TypeError(`Cannot mux a ${frame.kind} ${frame.codec} frame: no such track`);
    }
    if (!Number.isFinite(frame.dts) || !Number.isFinite(frame.pts)) {
      throw new RangeError(`Cannot mux frame: dts ${frame.dts} / pts ${frame.pts} not finite`);
    }
    if (track.count > 0) this.#closeDuration(track, frame.dts);
    else {
      track.firstDtsMs = frame.dts;
      track.firstPtsMs = track.kind === "video" ? frame.pts : frame.dts;
    }
    track.lastDtsMs = frame.dts;
    track.sizes.push(frame.data.length);
    track.durations.push(0);
    if (track.kind === "video") {
      track.ctsOffsets.push(Math.round((frame.pts - frame.dts) * (VIDEO_TIMESCALE / 1000)));
      if (frame.keyframe) track.syncs.push(track.count);
    } else {
      track.ctsOffsets.push(0);
      track.syncs.push(track.count);
    }
    track.bytes += frame.data.length;
    if (frame.data.length > track.maxSample) track.maxSample = frame.data.length;
    this.#pending.push({ track, data: frame.data, dtsMs: frame.dts });
    this.#pendingBytes += frame.data.length;
  }

  /** Sets the duration of the track's latest sample now that the next one is at `dtsMs`. */
  #closeDuration(track: Track, dtsMs: number): void {
    const last = track.count - 1;
    const stepMs = dtsMs - track.lastDtsMs!;
    let ticks: number;
    if (track.kind === "video") {
      ticks = Math.round(stepMs * (VIDEO_TIMESCALE / 1000));
      if (ticks <= 0) ticks = last > 0 ? track.durations[last - 1]! : FALLBACK_VIDEO_TICKS;
    } else {
      ticks = AAC_FRAME_SAMPLES;
      const ideal = Math.round((dtsMs - track.firstDtsMs!) * track.timescale / 1000);
      const behind = ideal - (track.lastTicks + AAC_FRAME_SAMPLES);
      if (behind > AAC_FRAME_SAMPLES) ticks += behind;
    }
    track.durations[last] = ticks;
    track.lastTicks += ticks;
  }

  /** True when the buffered frames should be written (`take()`) now. */
  shouldFlush(): boolean {
    const p = this.#pending;
    if (p.length < 2) return false;
    return this.#pendingBytes >= INTERLEAVE_MAX_BYTES ||
      p[p.length - 1]!.dtsMs - p[0]!.dtsMs >= this.#interleaveMs;
  }

  /**
   * The buffered frames' payloads in file order (one run per track), to be appended to the
   * `mdat` payload right after everything taken before.
   */
  take(): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (const track of this.#tracks) {
      let samples = 0;
      for (const p of this.#pending) {
        if (p.track !== track) continue;
        if (samples === 0) track.chunkOffsets.push(this.#dataSize);
        out.push(p.data);
        this.#dataSize += p.data.length;
        samples++;
      }
      if (samples > 0) track.chunkSamples.push(samples);
    }
    this.#pending = [];
    this.#pendingBytes = 0;
    return out;
  }

  /**
   * No more frames: the last video sample lasts until `endDtsMs` (the next chunk's first
   * keyframe, when known), else as long as the one before it. Call `take()` first.
   */
  finish(endDtsMs?: number): void {
    if (this.#pending.length > 0) throw new TypeError("Cannot finish: call take() first");
    for (const track of this.#tracks) {
      const last = track.count - 1;
      if (last < 0) continue;
      let ticks: number;
      if (track.kind === "audio") ticks = AAC_FRAME_SAMPLES;
      else if (endDtsMs !== undefined && endDtsMs > track.lastDtsMs!) {
        ticks = Math.round((endDtsMs - track.lastDtsMs!) * (VIDEO_TIMESCALE / 1000));
      } else ticks = last > 0 ? track.durations[last - 1]! : FALLBACK_VIDEO_TICKS;
      track.durations[last] = ticks;
      track.lastTicks += ticks;
    }
    this.#finished = true;
  }

  /** Seconds of media in the movie: the longest track including its leading empty edit. */
  get durationSeconds(): number {
    return this.#movieDurationMs() / 1000;
  }

  #startMs(): number {
    let start = Infinity;
    for (const t of this.#tracks) if (t.count > 0) start = Math.min(start, t.firstPtsMs!);
    return start === Infinity ? 0 : start;
  }

  /** The presentation of a track: leading empty edit and shown duration, in ms. */
  #presentation(track: Track, startMs: number): { emptyMs: number; shownMs: number } {
    if (track.count === 0) return { emptyMs: 0, shownMs: 0 };
    const emptyMs = Math.round(track.firstPtsMs! - startMs);
    const shownTicks = Math.max(0, track.mediaTicks - track.ctsOffsets[0]!);
    return { emptyMs, shownMs: Math.round(shownTicks * 1000 / track.timescale) };
  }

  #movieDurationMs(): number {
    const start = this.#startMs();
    let ms = 0;
    for (const t of this.#tracks) {
      const p = this.#presentation(t, start);
      ms = Math.max(ms, p.emptyMs + p.shownMs);
    }
    return ms;
  }

  /**
   * The `moov` box for a file whose `mdat` payload starts at byte `dataStart`. Its size
   * does not depend on `dataStart`, so a caller may build it once to measure, place it,
   * and build it again with the final offset.
   */
  moov(dataStart: number): Uint8Array {
    if (!this.#finished) throw new TypeError("Cannot build moov: call finish() first");
    const wide = this.#dataSize > STCO_LIMIT;
    const startMs = this.#startMs();
    const traks = this.#tracks.filter((t) => t.count > 0).map((t) =>
      this.#trak(t, startMs, dataStart, wide)
    );
    return box(
      "moov",
      mvhd({
        created: this.created,
        timescale: MOVIE_TIMESCALE,
        duration: this.#movieDurationMs(),
        nextTrackId: this.#tracks.length + 1,
      }),
      ...traks,
    );
  }

  #trak(t: Track, startMs: number, dataStart: number, wide: boolean): Uint8Array {
    const { emptyMs, shownMs } = this.#presentation(t, startMs);
    const edits: EditEntry[] = [];
    if (emptyMs > 0) edits.push({ segmentDuration: emptyMs, mediaTime: -1 });
    edits.push({ segmentDuration: shownMs, mediaTime: t.ctsOffsets[0]! });
    const video = t.kind === "video" ? this.video! : undefined;
    const seconds = t.mediaTicks / t.timescale;
    const entry = video ? avc1(video) : mp4a(this.audio!, {
      avg: seconds > 0 ? Math.round(t.bytes * 8 / seconds) : 0,
      max: seconds > 0 ? Math.round(t.bytes * 8 / seconds) : 0,
      bufferSize: t.maxSample,
    });
    const tables = [stsd(entry), stts(t.durations, t.count)];
    if (t.ctsOffsets.some((o) => o !== 0)) tables.push(ctts(t.ctsOffsets, t.count));
    if (t.syncs.length < t.count) tables.push(stss(t.syncs));
    tables.push(
      stsc(t.chunkSamples, t.chunkSamples.length),
      stsz(t.sizes, t.count),
      chunkOffsets(t.chunkOffsets.map((o) => o + dataStart), t.chunkOffsets.length, wide),
    );
    return box(
      "trak",
      tkhd({
        created: this.created,
        trackId: t.id,
        duration: emptyMs + shownMs,
        audio: !video,
        width: video?.width,
        height: video?.height,
      }),
      edts(edits),
      box(
        "mdia",
        mdhd(this.created, t.timescale, t.mediaTicks),
        hdlr(video ? "vide" : "soun", video ? "VideoHandler" : "SoundHandler"),
        box("minf", video ? vmhd() : smhd(), dinf(), box("stbl", ...tables)),
      ),
    );
  }
}

/**
 * The head of a file being recorded: `ftyp`, a `free` box of `reserve` bytes that the
 * `moov` will replace, and the `mdat` header (its size patched at the end). `dataStart` is
 * where the first payload byte goes.
 */
export function fileHead(reserve: number): { bytes: Uint8Array; dataStart: number } {
  const f = ftyp();
  const bytes = new Uint8Array(f.length + reserve + MDAT_HEADER_SIZE);
  bytes.set(f, 0);
  bytes.set(free(reserve), f.length);
  bytes.set(mdatHeader(0), f.length + reserve);
  return { bytes, dataStart: bytes.length };
}

/** Where `moov` goes in a file made by `fileHead`, and what fills the rest of the reserve. */
export interface MoovPlacement {
  /** Offset of the `moov` (right after `ftyp`). */
  moovAt: number;
  /** Bytes to move the `mdat` (header and payload) towards the end; 0 when the moov fits. */
  shift: number;
  /** Size of the `free` box after the `moov`, 0 for none. */
  freeSize: number;
}

/**
 * Fits a `moov` of `moovSize` bytes into the reserve. When it does not fit, the `mdat`
 * moves by the difference (plus room for an 8-byte `free` box when the difference would
 * leave a gap too small for a box).
 */
export function placeMoov(moovSize: number, reserve: number): MoovPlacement {
  const moovAt = ftyp().length;
  if (moovSize === reserve) return { moovAt, shift: 0, freeSize: 0 };
  if (moovSize + 8 <= reserve) return { moovAt, shift: 0, freeSize: reserve - moovSize };
  return { moovAt, shift: moovSize + 8 - reserve, freeSize: 8 };
}
