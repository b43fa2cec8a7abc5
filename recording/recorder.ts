/**
 * The recorder: a hub consumer that archives the broadcasts it is asked to
 * (`shouldRecord(name)`) as time-chunked MP4 files, `{dir}/{name}/{startedAt}-{n}.mp4`,
 * each standalone and faststart (see `chunk_file.ts`). `startedAt` is the broadcast's
 * start as ISO 8601 with `:` written as `-` (safe in file names and URLs), `n` counts the
 * broadcast's chunks from 1. A chunk ends at the first keyframe (of video, or any audio
 * frame without video) once `chunkSeconds` have passed, and at a codec change; the next
 * chunk starts on that same frame, so chunks add up to the broadcast without gaps.
 *
 * Recording never disturbs live streaming: it reads through its own bounded hub queue (a
 * slow disk costs recording frames until the next keyframe, never the publisher or HLS),
 * and a disk error abandons the chunk being written and pauses recording with one log
 * line (`record.paused`, e.g. "no space left on device"). While paused, each stream tries
 * again at a keyframe every `resumeAfterMs`, after `onDiskFull` (e.g. a retention sweep)
 * had its chance to free space; success logs `record.resumed`.
 */

import { join } from "node:path";
import type { Logger } from "@cascade/common/log";
import type { MetricsRegistry } from "@cascade/common/metrics";
import { type MediaFrame, sameTrackConfig, type TrackConfig } from "@cascade/media/frame";
import type { LiveStream, StreamHub } from "@cascade/stream/hub";
import { ChunkFile, isDiskFull, moovReserveBytes } from "./chunk_file.ts";

export interface RecorderOptions {
  hub: StreamHub;
  /** `RECORD_DIR`: one sub-directory per stream name. */
  dir: string;
  /** `RECORD_CHUNK_SECONDS`. */
  chunkSeconds: number;
  /** Whether to record a broadcast that just started (`RECORD` policy, per-stream flag). */
  shouldRecord: (name: string) => boolean | Promise<boolean>;
  log: Logger;
  metrics?: MetricsRegistry;
  /** Every finished file, for the archive and retention. */
  onChunk?: (chunk: FinishedChunk) => void;
  /** Called once when recording pauses on a full disk (e.g. run retention now). */
  onDiskFull?: () => unknown;
  /** While paused, how long to wait between attempts to resume; default 10 s. */
  resumeAfterMs?: number;
  /** Hub queue bound for the recorder; default 4096 frames (~40 s of 30 fps A/V). */
  queueFrames?: number;
  now?: () => number;
}

/** A complete recording file. */
export interface FinishedChunk {
  name: string;
  /** Absolute or `dir`-relative path of the `.mp4`. */
  path: string;
  /** File name, `{startedAt}-{n}.mp4`. */
  file: string;
  size: number;
  durationSeconds: number;
  /** Wall clock of the chunk's first frame. */
  startedAt: Date;
}

/** `2026-11-21T20:05:03.123Z` → `2026-11-21T20-05-03.123Z`. */
export function fileStamp(date: Date): string {
  return date.toISOString().replaceAll(":", "-");
}

/** The inverse of `fileStamp`, for names like `2026-11-21T20-05-03.123Z-2.mp4`. */
export const CHUNK_FILE_RE = /^(\d{4}-\d{2}-\d{2})T(\d{2})-(\d{2})-(\d{2}(?:\.\d+)?Z)-(\d+)\.mp4$/;

/** Broadcast start and chunk number of a chunk file name; undefined for other names. */
export function parseChunkName(file: string): { startedAt: Date; n: number } | undefined {
  const m = CHUNK_FILE_RE.exec(file);
  if (!m) return undefined;
  const startedAt = new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}`);
  if (Number.isNaN(startedAt.getTime())) return undefined;
  return { startedAt, n: Number(m[5]) };
}

/** See the module comment. */
export class Recorder {
  readonly dir: string;
  readonly #o: RecorderOptions;
  readonly #log: Logger;
  readonly #off: () => void;
  readonly #runs = new Set<Promise<void>>();
  /** `.part` paths being written or finished right now: retention must not touch them. */
  readonly #open = new Set<string>();
  #pausedAt: number | undefined;
  #lastAttempt = 0;
  #closed = false;
  readonly #chunks;
  readonly #bytes;

  constructor(o: RecorderOptions) {
    if (!(o.chunkSeconds > 0)) throw new RangeError(`Invalid chunkSeconds: ${o.chunkSeconds}`);
    this.dir = o.dir;
    this.#o = o;
    this.#log = o.log.child({ component: "recorder" });
    this.#chunks = o.metrics?.counter("cascade_record_chunks_total", "Recording files finished");
    this.#bytes = o.metrics?.counter(
      "cascade_record_bytes_written_total",
      "Bytes of recording files written",
    );
    o.metrics?.gauge("cascade_record_paused", "1 while recording is paused by a disk error")
      .collect(() => (this.paused ? 1 : 0));
    o.metrics?.gauge("cascade_record_open_files", "Recording files being written")
      .collect(() => this.#open.size);
    this.#off = o.hub.on((e) => {
      if (e.type !== "publish.start" || this.#closed) return;
      const run = this.#record(e.stream);
      this.#runs.add(run);
      run.finally(() => this.#runs.delete(run));
    });
  }

  get paused(): boolean {
    return this.#pausedAt !== undefined;
  }

  /** True for a file that is being written (its `.part` or final path). */
  isOpen(path: string): boolean {
    return this.#open.has(path) || this.#open.has(`${path}.part`);
  }

  /** Paths of the `.part` files being written. */
  openFiles(): string[] {
    return [...this.#open];
  }

  /** Stops taking new broadcasts and waits for running ones to finish their last chunk. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#off();
    await Promise.allSettled([...this.#runs]);
  }

  async #record(stream: LiveStream): Promise<void> {
    const name = stream.info.name;
    let wanted: boolean;
    try {
      wanted = await this.#o.shouldRecord(name);
    } catch (err) {
      this.#log.warn("record.policy_failed", {
        stream: name,
        error: err,
        action: "not recording this broadcast",
      });
      return;
    }
    if (!wanted) return;
    this.#log.info("record.start", { stream: name });
    const session = new Session(this, stream, this.#o, this.#log.child({ stream: name }));
    await session.run();
  }

  // Used by sessions.

  now(): number {
    return (this.#o.now ?? Date.now)();
  }

  track(path: string, open: boolean): void {
    if (open) this.#open.add(path);
    else this.#open.delete(path);
  }

  finished(chunk: FinishedChunk): void {
    this.#chunks?.inc();
    this.#bytes?.inc(chunk.size);
    try {
      this.#o.onChunk?.(chunk);
    } catch (err) {
      this.#log.error("record.on_chunk_failed", { error: err });
    }
  }

  /** Whether a stream may start a chunk now: always, unless paused and not yet time to retry. */
  mayTry(): boolean {
    if (this.#pausedAt === undefined) return true;
    const now = this.now();
    if (now - this.#lastAttempt < (this.#o.resumeAfterMs ?? 10_000)) return false;
    this.#lastAttempt = now;
    return true;
  }

  /** A chunk could be opened and written: leave the paused state. */
  resumed(): void {
    if (this.#pausedAt === undefined) return;
    const seconds = Math.round((this.now() - this.#pausedAt) / 1000);
    this.#pausedAt = undefined;
    this.#log.info("record.resumed", { dir: this.dir, pausedSeconds: seconds });
  }

  /** A disk error: pause (logging once per pause) and let `onDiskFull` free space. */
  failed(stream: string, err: unknown): void {
    const full = isDiskFull(err);
    if (this.#pausedAt !== undefined) {
      this.#log.debug("record.retry_failed", { stream, error: err });
      return;
    }
    this.#pausedAt = this.#lastAttempt = this.now();
    this.#log.error("record.paused", {
      stream,
      dir: this.dir,
      reason: full ? "disk full" : "write error",
      error: err,
      action: `recording paused, the chunk being written is dropped; live streaming ` +
        `continues; retrying every ${Math.round((this.#o.resumeAfterMs ?? 10_000) / 1000)} s`,
    });
    if (full) {
      try {
        const freed = this.#o.onDiskFull?.();
        if (freed instanceof Promise) freed.catch(() => {});
      } catch { /* the hook's problem; recording retries regardless */ }
    }
  }
}

/** One recorded broadcast. */
class Session {
  readonly #rec: Recorder;
  readonly #stream: LiveStream;
  readonly #o: RecorderOptions;
  readonly #log: Logger;
  readonly #name: string;
  readonly #stamp: string;
  readonly #streamDir: string;
  #video: TrackConfig | undefined;
  #audio: TrackConfig | undefined;
  #chunk: ChunkFile | null = null;
  #chunkHasVideo = false;
  #chunkHasAudio = false;
  #chunkStartDts = 0;
  #chunkStartedAt = new Date(0);
  #n = 0;
  /** Tracks changed since the chunk began: cut at the next cut point. */
  #cutPending = false;
  /** Finishing chunks run behind the frame loop, one after another. */
  #finishing: Promise<void> = Promise.resolve();

  constructor(rec: Recorder, stream: LiveStream, o: RecorderOptions, log: Logger) {
    this.#rec = rec;
    this.#stream = stream;
    this.#o = o;
    this.#log = log;
    this.#name = stream.info.name;
    this.#stamp = fileStamp(stream.info.startedAt);
    this.#streamDir = join(o.dir, this.#name);
  }

  async run(): Promise<void> {
    try {
      for await (const msg of this.#stream.subscribe("recorder", this.#o.queueFrames ?? 4096)) {
        if (msg.type === "config") this.#onConfig(msg.track);
        else await this.#onFrame(msg.frame);
      }
    } catch (err) {
      this.#log.error("record.failed", { error: err });
    } finally {
      this.#closeChunk(undefined);
      await this.#finishing;
      this.#log.info("record.stop", { chunks: this.#n });
    }
  }

  #onConfig(track: TrackConfig): void {
    const current = track.kind === "video" ? this.#video : this.#audio;
    if (sameTrackConfig(current, track)) return;
    if (track.kind === "video") this.#video = track;
    else this.#audio = track;
    if (this.#chunk) this.#cutPending = true;
  }

  async #onFrame(frame: MediaFrame): Promise<void> {
    if (frame.kind === "video" ? !this.#video : !this.#audio) return;
    const cutKind = this.#video ? "video" : "audio";
    const cutPoint = frame.kind === cutKind && (frame.kind === "audio" || frame.keyframe);
    if (this.#chunk && cutPoint) {
      const elapsedMs = frame.dts - this.#chunkStartDts;
      if (this.#cutPending || elapsedMs >= this.#o.chunkSeconds * 1000) this.#closeChunk(frame.dts);
    }
    if (!this.#chunk) {
      if (!cutPoint || !this.#rec.mayTry()) return;
      await this.#openChunk(frame);
      if (!this.#chunk) return;
    }
    if (frame.kind === "video" ? !this.#chunkHasVideo : !this.#chunkHasAudio) return;
    const chunk = this.#chunk;
    try {
      await chunk.write(frame);
    } catch (err) {
      if (err instanceof TypeError || err instanceof RangeError) {
        this.#log.warn("record.frame_rejected", { error: err });
        return;
      }
      this.#chunk = null;
      this.#rec.track(chunk.partPath, false);
      await chunk.abandon();
      this.#rec.failed(this.#name, err);
    }
  }

  async #openChunk(frame: MediaFrame): Promise<void> {
    const n = this.#n + 1;
    const path = join(this.#streamDir, `${this.#stamp}-${n}.mp4`);
    const video = this.#video?.kind === "video" ? this.#video.avc : undefined;
    const audio = this.#audio?.kind === "audio" ? this.#audio.aac : undefined;
    try {
      await Deno.mkdir(this.#streamDir, { recursive: true });
      this.#rec.track(`${path}.part`, true);
      this.#chunk = await ChunkFile.create(path, {
        video,
        audio,
        created: new Date(this.#rec.now()),
        reserveBytes: moovReserveBytes(this.#o.chunkSeconds),
      });
    } catch (err) {
      this.#rec.track(`${path}.part`, false);
      this.#rec.failed(this.#name, err);
      return;
    }
    this.#n = n;
    this.#chunkHasVideo = video !== undefined;
    this.#chunkHasAudio = audio !== undefined;
    this.#chunkStartDts = frame.dts;
    this.#chunkStartedAt = new Date(this.#rec.now());
    this.#cutPending = false;
    this.#rec.resumed();
  }

  /** Hands the open chunk to the finishing queue; `endDts` is the next chunk's first frame. */
  #closeChunk(endDts: number | undefined): void {
    const chunk = this.#chunk;
    if (!chunk) return;
    this.#chunk = null;
    const startedAt = this.#chunkStartedAt;
    this.#finishing = this.#finishing.then(async () => {
      if (chunk.muxer.samples.video + chunk.muxer.samples.audio === 0) {
        await chunk.abandon();
        this.#rec.track(chunk.partPath, false);
        return;
      }
      try {
        const done = await chunk.finish(endDts);
        const file = done.path.slice(this.#streamDir.length + 1);
        this.#log.info("record.chunk", {
          file,
          bytes: done.size,
          seconds: Number(done.durationSeconds.toFixed(3)),
          ...(done.shifted ? { note: "moov did not fit its reserve; media moved" } : {}),
        });
        this.#rec.finished({
          name: this.#name,
          path: done.path,
          file,
          size: done.size,
          durationSeconds: done.durationSeconds,
          startedAt,
        });
      } catch (err) {
        this.#rec.failed(this.#name, err);
      } finally {
        this.#rec.track(chunk.partPath, false);
      }
    });
  }
}
