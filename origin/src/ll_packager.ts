/**
 * The origin's Low-Latency HLS packager: a hub consumer per broadcast, beside the TS one, that
 * cuts fMP4 parts and segments (`LlSegmenter`, `Fmp4Fragmenter`) and keeps `ll.m3u8` in
 * memory, following "HLS output" in docs/architecture.md. It keeps the init segment, the
 * parts and the segments in memory while the playlist lists them and for three target
 * durations after (§6.2.2 asks parts to stay downloadable that long), and writes each
 * complete segment and each init segment under `MEDIA_ROOT/{name}/` (`.tmp`, then renamed;
 * off the frame path, in order), where the origin still finds a segment that left memory.
 * Every new part wakes the requests waiting for it (blocking reloads, the hinted part).
 *
 * One `LlChannel` per name outlives its publisher for `REPUBLISH_GRACE_SECONDS`, as the TS
 * packager's does: a republish, or a codec change, continues the media sequence after a
 * discontinuity under a new URI prefix (the time in ms, base 36) with a new init segment; a
 * publisher that stops gets `#EXT-X-ENDLIST` at once, one that vanishes only when the grace
 * runs out; then the channel's files are removed (kept with `KEEP_HLS`). Per frame the work is
 * the segmenter's arithmetic and a reference to the payload; bytes are copied once into each
 * part and once more into its segment, whose buffer the parts then share.
 */
import { join } from "node:path";
import type { Logger } from "@cascade/common/log";
import type { MetricsRegistry } from "@cascade/common/metrics";
import { type MediaFrame, sameTrackConfig, type TrackConfig } from "@cascade/media/frame";
import { TimestampRebaser } from "@cascade/media/timeline";
import { Fmp4Fragmenter } from "@cascade/media/mp4/fmp4";
import { type ClosedPart, LlSegmenter, type LlSegmentState } from "@cascade/media/hls/ll_segmenter";
import { newestPart, renderLlPlaylist, type RenditionReport } from "@cascade/media/hls/ll_playlist";
import { renditionName, RUNGS, sourceOf } from "@cascade/common/renditions";
import type { LlPosition } from "@cascade/media/hls/ll_blocking";
import { LL_PLAYLIST, llInitName, llSegmentName, TEMP_SUFFIX } from "@cascade/media/hls/layout";
import { ChannelsByName } from "./channels.ts";
import type { LiveStream, StreamHub, Subscription } from "@cascade/stream/hub";
import { timeBasedSequence } from "./hls_packager.ts";
import type { LlSource, WaitOutcome } from "./ll_http.ts";

const encoder = new TextEncoder();

export interface LlPackagerOptions {
  mediaRoot: string;
  segmentSeconds: number;
  listSize: number;
  maxTargetSeconds?: number;
  /** `HLS_PART_SECONDS`: the part target. */
  partSeconds: number;
  republishGraceSeconds: number;
  /** `HLS_LL_MAX_WAITERS`: requests one stream may hold waiting at a time. */
  maxWaiters: number;
  keepSegments?: boolean;
  log: Logger;
  metrics: MetricsRegistry;
  now?: () => number;
}

class LlChannel implements LlSource {
  readonly name: string;
  readonly dir: string;
  readonly #o: LlPackagerOptions;
  readonly #log: Logger;
  #segmenter: LlSegmenter | null = null;
  #fragmenter: Fmp4Fragmenter | null = null;
  readonly #rebaser = new TimestampRebaser();
  #video: TrackConfig | undefined;
  #audio: TrackConfig | undefined;
  #tracksChanged = false;
  /** Init segments, parts and segments in memory, by file name. */
  readonly #files = new Map<string, Uint8Array<ArrayBuffer>>();
  /** The parts of the segment being written. */
  #openParts: { uri: string; bytes: Uint8Array<ArrayBuffer> }[] = [];
  #lastPrefixMs = 0;
  #full: Uint8Array<ArrayBuffer> = new Uint8Array();
  #hint: string | undefined;
  #newest: { lastMsn: number; lastPart: number } | undefined;
  #delta: Uint8Array<ArrayBuffer> | undefined;
  #changed = Promise.withResolvers<void>();
  #waiters = 0;
  #busyLogged = 0;
  #gone = false;
  #live = false;
  #endPending = false;
  #running: Promise<void> = Promise.resolve();
  /** Disk writes, one after another, off the frame path. */
  #writes: Promise<void> = Promise.resolve();
  readonly #onDisk = new Set<string>();
  #cleanupTimer: ReturnType<typeof setTimeout> | undefined;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #onGone: () => void;

  constructor(name: string, o: LlPackagerOptions, onGone: () => void) {
    this.name = name;
    this.dir = join(o.mediaRoot, name);
    this.#o = o;
    this.#log = o.log.child({ stream: name, packager: "ll" });
    this.#onGone = onGone;
  }

  get partTarget(): number {
    return this.#o.partSeconds;
  }

  get targetDuration(): number {
    return this.#segmenter?.targetDuration ?? Math.ceil(this.#o.segmentSeconds) + 1;
  }

  /** True once a first part is listed: before, there is no playlist to serve. */
  get ready(): boolean {
    return this.#full.length > 0;
  }

  position(): LlPosition {
    return this.#segmenter!.position();
  }

  playlist(delta: boolean): Uint8Array<ArrayBuffer> {
    if (!delta) return this.#full;
    return this.#delta ??= encoder.encode(renderLlPlaylist(this.#segmenter!.playlist(), true));
  }

  file(name: string): Uint8Array<ArrayBuffer> | undefined {
    return this.#files.get(name);
  }

  /** Its newest part, as a rendition report of it says; undefined before the first, or ended. */
  get newest(): { lastMsn: number; lastPart: number } | undefined {
    return this.#newest;
  }

  /** The part the playlist hints at next, as `{prefix}_p{msn}.{i}.m4s`; none once ended. */
  get hint(): string | undefined {
    return this.#hint;
  }

  /** Requests waiting on this stream now. */
  get waiting(): number {
    return this.#waiters;
  }

  async wait(deadline: number, signal: AbortSignal): Promise<WaitOutcome> {
    if (this.#gone) return "gone";
    if (this.#waiters >= this.#o.maxWaiters) {
      if (this.#busyLogged++ % 1000 === 0) {
        this.#log.warn("ll.waiters_full", { limit: this.#o.maxWaiters, refused: this.#busyLogged });
      }
      return "busy";
    }
    const left = deadline - Date.now();
    if (left <= 0) return "timeout";
    this.#waiters++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        this.#changed.promise.then((): WaitOutcome => this.#gone ? "gone" : "changed"),
        new Promise<WaitOutcome>((resolve) => timer = setTimeout(() => resolve("timeout"), left)),
        new Promise<WaitOutcome>((resolve) => {
          onAbort = () => resolve("aborted");
          if (signal.aborted) onAbort();
          else signal.addEventListener("abort", onAbort, { once: true });
        }),
      ]);
    } finally {
      this.#waiters--;
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener("abort", onAbort);
    }
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = Promise.withResolvers<void>();
    changed.resolve();
  }

  run(stream: LiveStream): Promise<void> {
    const messages = stream.subscribe("llhls");
    const run = this.#consume(stream, messages, this.#running);
    this.#running = run;
    return run;
  }

  async #consume(stream: LiveStream, messages: Subscription, previous: Promise<void>) {
    await previous;
    this.#live = true;
    clearTimeout(this.#cleanupTimer);
    this.#cleanupTimer = undefined;
    await Deno.mkdir(this.dir, { recursive: true });
    this.#video = undefined;
    this.#audio = undefined;
    try {
      for await (const msg of messages) {
        if (msg.type === "config") this.#onConfig(msg.track);
        else this.#onFrame(msg.frame);
      }
    } catch (err) {
      this.#log.error("ll.packager_failed", { error: err });
    } finally {
      this.#live = false;
      if (stream.lost) this.#pause();
      else this.#end();
      await this.#writes;
      this.#cleanupTimer = setTimeout(
        () => void this.#expire(),
        this.#o.republishGraceSeconds * 1000,
      );
    }
  }

  #onConfig(track: TrackConfig): void {
    if (sameTrackConfig(track.kind === "video" ? this.#video : this.#audio, track)) return;
    if (track.kind === "video") this.#video = track;
    else this.#audio = track;
    this.#tracksChanged = true;
  }

  #onFrame(input: MediaFrame): void {
    if (input.kind === "video" ? !this.#video : !this.#audio) return;
    if (this.#tracksChanged) this.#applyTracks();
    const { frame } = this.#rebaser.rebase(input);
    const step = this.#segmenter!.push(frame, this.#now());
    if (step.closedPart) this.#storePart(step.closedPart, frame.dts);
    if (step.closedSegment) this.#storeSegment(step.closedSegment);
    if (step.write) {
      try {
        this.#fragmenter!.add(frame);
      } catch (err) {
        this.#log.warn("ll.frame_rejected", { error: err });
      }
    }
    if (step.closedPart) this.#publish();
  }

  /** A new timeline: first publish, republish or codec change, with its own prefix and init. */
  #applyTracks(): void {
    this.#tracksChanged = false;
    const tracks = {
      video: this.#video?.kind === "video" ? this.#video.avc : undefined,
      audio: this.#audio?.kind === "audio" ? this.#audio.aac : undefined,
    };
    const hasVideo = this.#video !== undefined;
    if (!this.#segmenter) {
      const floor = Math.ceil(this.#o.segmentSeconds) + 1;
      this.#segmenter = new LlSegmenter({
        segmentSeconds: this.#o.segmentSeconds,
        listSize: this.#o.listSize,
        firstSequence: timeBasedSequence(this.#now()),
        hasVideo,
        partSeconds: this.#o.partSeconds,
        ...(this.#o.maxTargetSeconds === undefined
          ? {}
          : { maxTargetDuration: Math.max(this.#o.maxTargetSeconds, floor) }),
      });
    } else {
      this.#rebaser.reset();
      this.#closed(this.#segmenter.discontinuity({ hasVideo }));
    }
    const prefixMs = Math.max(this.#now(), this.#lastPrefixMs + 1);
    this.#lastPrefixMs = prefixMs;
    const prefix = prefixMs.toString(36);
    this.#segmenter.setPrefix(prefix);
    this.#fragmenter = new Fmp4Fragmenter(tracks);
    const init = this.#fragmenter.init as Uint8Array<ArrayBuffer>;
    this.#files.set(llInitName(prefix), init);
    this.#write(llInitName(prefix), init);
  }

  #storePart(closed: ClosedPart, endDts: number | undefined): void {
    const bytes = this.#fragmenter!.flush(endDts) as Uint8Array<ArrayBuffer> | undefined;
    if (!bytes) return;
    this.#openParts.push({ uri: closed.part.uri, bytes });
    this.#files.set(closed.part.uri, bytes);
  }

  /** The segment's parts become views of one buffer: the segment file. */
  #storeSegment(segment: LlSegmentState): void {
    const parts = this.#openParts;
    this.#openParts = [];
    let size = 0;
    for (const p of parts) size += p.bytes.length;
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      bytes.set(p.bytes, at);
      this.#files.set(p.uri, bytes.subarray(at, at + p.bytes.length));
      at += p.bytes.length;
    }
    const name = llSegmentName(segment.prefix, segment.sequence);
    this.#files.set(name, bytes);
    this.#write(name, bytes);
    this.#scheduleExpired();
  }

  #closed(result: { closedPart?: ClosedPart; closedSegment?: LlSegmentState }): void {
    if (result.closedPart) this.#storePart(result.closedPart, undefined);
    if (result.closedSegment) this.#storeSegment(result.closedSegment);
    this.#publish();
  }

  #publish(): void {
    const playlist = this.#segmenter!.playlist();
    this.#full = encoder.encode(renderLlPlaylist(playlist));
    this.#hint = playlist.preloadHint;
    this.#newest = newestPart(playlist);
    this.#delta = undefined;
    this.#notify();
  }

  /** Writes `bytes` as `{dir}/{name}` (`.tmp`, renamed), after the writes before it. */
  #write(name: string, bytes: Uint8Array): void {
    const path = join(this.dir, name);
    this.#writes = this.#writes.then(async () => {
      try {
        await Deno.writeFile(`${path}${TEMP_SUFFIX}`, bytes);
        await Deno.rename(`${path}${TEMP_SUFFIX}`, path);
        this.#onDisk.add(name);
      } catch (err) {
        this.#log.error("ll.write_failed", { file: name, error: err });
      }
    });
  }

  /**
   * Segments that left the window: their bytes leave memory three target durations later,
   * their files when the TS packager deletes its own (their duration plus the playlist's).
   */
  #scheduleExpired(): void {
    const segmenter = this.#segmenter!;
    const expired = segmenter.takeExpired();
    if (expired.length === 0) return;
    const names = (
      s: LlSegmentState,
    ) => [llSegmentName(s.prefix, s.sequence), ...s.parts.map((p) => p.uri)];
    this.#later(3 * segmenter.targetDuration * 1000, () => {
      for (const s of expired) for (const n of names(s)) this.#files.delete(n);
    });
    if (this.#o.keepSegments) return;
    let listed = 0;
    for (const s of segmenter.playlist().segments) listed += s.duration ?? 0;
    const longest = Math.max(...expired.map((s) => s.duration ?? 0));
    const delay = Math.max(this.#o.listSize * this.#o.segmentSeconds, listed + longest) * 1000;
    this.#later(delay, async () => {
      for (const s of expired) await this.#remove(llSegmentName(s.prefix, s.sequence));
    });
  }

  #later(ms: number, run: () => void | Promise<void>): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void run();
    }, ms);
    this.#timers.add(timer);
  }

  async #remove(name: string): Promise<void> {
    this.#onDisk.delete(name);
    await Deno.remove(join(this.dir, name)).catch(() => {});
  }

  /** The publisher vanished: list what it sent, keep the playlist open. */
  #pause(): void {
    if (!this.#segmenter) return;
    this.#endPending = true;
    this.#closed(this.#segmenter.finish());
  }

  #end(): void {
    this.#endPending = false;
    if (!this.#segmenter) return;
    this.#closed(this.#segmenter.end());
  }

  async #expire(): Promise<void> {
    if (this.#live) return;
    if (this.#endPending) this.#end();
    await this.#writes;
    if (!this.#o.keepSegments) {
      for (const name of [...this.#onDisk]) await this.#remove(name);
    }
    this.dispose();
    this.#gone = true;
    this.#files.clear();
    this.#notify();
    this.#log.info("ll.removed", { dir: this.name });
    this.#onGone();
  }

  async finishPending(): Promise<void> {
    if (!this.#live && this.#endPending) this.#end();
    await this.#writes;
  }

  dispose(): void {
    clearTimeout(this.#cleanupTimer);
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }
}

/** Attaches an `LlChannel` to every broadcast the hub starts. */
export class LlPackager {
  readonly #channels: ChannelsByName<LlChannel>;

  constructor(hub: StreamHub, options: LlPackagerOptions) {
    options.log.info("ll.config", {
      partSeconds: options.partSeconds,
      maxWaiters: options.maxWaiters,
    });
    this.#channels = new ChannelsByName(
      hub,
      (name, onGone) => new LlChannel(name, options, onGone),
    );
    options.metrics.gauge(
      "cascade_hls_ll_waiting_requests",
      "LL-HLS requests held waiting for a part (blocking reloads, hinted parts)",
    ).collect(() => this.waiting);
  }

  /** Requests waiting on any stream now. */
  get waiting(): number {
    let sum = 0;
    for (const c of this.#channels.values()) sum += c.waiting;
    return sum;
  }

  /** The LL stream of `name`, once it lists a first part. */
  source(name: string): LlSource | undefined {
    const channel = this.#channels.get(name);
    return channel?.ready ? channel : undefined;
  }

  /**
   * Rendition reports for `name`'s playlist: every other rung of its source (the source
   * itself included) that lists a part now, as `../{sibling}/ll.m3u8`.
   */
  renditionReports(name: string): RenditionReport[] {
    const source = sourceOf(name)?.source ?? name;
    const reports: RenditionReport[] = [];
    for (const sibling of [source, ...RUNGS.map((r) => renditionName(source, r))]) {
      if (sibling === name) continue;
      const newest = this.#channels.get(sibling)?.newest;
      if (newest !== undefined) reports.push({ uri: `../${sibling}/${LL_PLAYLIST}`, ...newest });
    }
    return reports;
  }

  close(): Promise<void> {
    return this.#channels.close();
  }
}
