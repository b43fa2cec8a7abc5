/**
 * The origin's HLS packager: a hub consumer per broadcast that muxes frames into MPEG-TS
 * segments and keeps `MEDIA_ROOT/{name}/index.m3u8` current, following "HLS output" in
 * docs/architecture.md. One `HlsChannel` per name outlives its publisher for
 * `REPUBLISH_GRACE_SECONDS`: a republish in that time continues the playlist after a
 * discontinuity; after it, the directory is removed. A publisher that stops gets
 * `#EXT-X-ENDLIST` at once; one that vanishes (connection lost) only when the grace runs out,
 * so that its viewers wait through a reconnect instead of seeing the stream end. Segments are written as `.tmp` and
 * renamed when complete, and only then listed; the playlist is replaced by rename. Disk
 * errors cost the segment being written and a log line, never the process or another stream.
 * Frames pass a `TimestampRebaser` before the segmenter and the muxer, so an encoder's
 * timestamp jumps never reach a playlist; jumps and the segmenter's forced cuts (keyframes
 * further apart than the target duration allows) are logged, a few lines per broadcast.
 */
import { join } from "node:path";
import type { Logger } from "@cascade/common/log";
import type { MetricsRegistry } from "@cascade/common/metrics";
import { type MediaFrame, sameTrackConfig, type TrackConfig } from "@cascade/media/frame";
import { TimestampRebaser } from "@cascade/media/timeline";
import { TsMuxer } from "@cascade/media/mpegts/muxer";
import {
  type Continuation,
  DEFAULT_MAX_TARGET_SECONDS,
  HlsSegmenter,
  type OpenSegment,
  type SegmentInfo,
} from "@cascade/media/hls/segmenter";
import { type LivePlaylist, parsePlaylist, renderPlaylist } from "@cascade/media/hls/playlist";
import { LIVE_PLAYLIST, TEMP_SUFFIX } from "@cascade/media/hls/layout";
import { ChannelsByName } from "./channels.ts";
import { SegmentFiles } from "./segment_files.ts";
import type { LiveStream, StreamHub, Subscription } from "@cascade/stream/hub";
import { VodLog, vodTargetDuration } from "./vod.ts";
import { EncoderNotices } from "./encoder_notices.ts";
import type { MemoryPlaylist } from "./http.ts";

const encoder = new TextEncoder();

export interface HlsPackagerOptions {
  mediaRoot: string;
  segmentSeconds: number;
  listSize: number;
  /** `HLS_MAX_TARGET_SECONDS`: the highest target duration a stream's first GOP may set. */
  maxTargetSeconds?: number;
  republishGraceSeconds: number;
  log: Logger;
  metrics: MetricsRegistry;
  /** Wall clock in ms; tests may pass their own. */
  now?: () => number;
  /**
   * `KEEP_HLS`: a broadcast keeps all its segments and gets `vod.m3u8` when it stops; the
   * directory stays after the republish grace period.
   */
  keepSegments?: boolean;
  /** Told, in order per stream, what the packager published: the registry announces from it. */
  events?: PackagerEvents;
}

/** What the packager knows in memory the moment it happens; no one reads it back from disk. */
export interface PackagerEvents {
  /** A new live playlist of `name` is in place (`playlist.ended` once the publisher stopped). */
  playlist(name: string, playlist: LivePlaylist, at: number): void;
  /** The VOD playlist of a finished broadcast of `name` is in place. */
  vod(name: string, targetDuration: number, at: number): void;
}

/** Muxed bytes are written to the segment file in batches of at least this size. */
const WRITE_BATCH_BYTES = 128 * 1024;

/**
 * First sequence number of a new broadcast: wall-clock tenths of a second. Segments last
 * longer than that, so a later broadcast on the same name always starts above every number
 * an earlier one used, and segment URLs are never reused.
 */
export function timeBasedSequence(nowMs: number): number {
  return Math.floor(nowMs / 100);
}

class HlsChannel {
  readonly name: string;
  readonly dir: string;
  readonly #o: HlsPackagerOptions;
  readonly #log: Logger;
  #segmenter: HlsSegmenter | null = null;
  #muxer: TsMuxer | null = null;
  readonly #rebaser = new TimestampRebaser();
  readonly #notices: EncoderNotices;
  #video: TrackConfig | undefined;
  #audio: TrackConfig | undefined;
  /** Track configs seen since the last frame; applied when the next frame arrives. */
  #tracksChanged = false;
  readonly #files: SegmentFiles;
  #cleanupTimer: ReturnType<typeof setTimeout> | undefined;
  #live = false;
  /** A takeover to apply before the next frame, so it never races a segment's writes. */
  #continuation: { c: Continuation; done: (applied: boolean) => void } | undefined;
  /** The latest `run`, settled once its broadcast's end is written. */
  #running: Promise<void> = Promise.resolve();
  /** The publisher vanished: ENDLIST is written when the grace runs out (or at shutdown). */
  #endPending = false;
  /** Every segment of the broadcast, with `keepSegments`. */
  readonly #vod: VodLog | undefined;
  /** The live playlist as last written, for the origin to serve from memory. */
  latest: MemoryPlaylist | undefined;
  /** Names this channel's playlist versions apart from any earlier run's. */
  readonly #epoch = Date.now().toString(36);
  #writes = 0;

  readonly #onGone: () => void;

  constructor(name: string, o: HlsPackagerOptions, onGone: () => void) {
    this.name = name;
    this.#onGone = onGone;
    this.dir = join(o.mediaRoot, name);
    this.#o = o;
    this.#log = o.log.child({ stream: name });
    this.#vod = o.keepSegments ? new VodLog() : undefined;
    this.#files = new SegmentFiles(
      this.dir,
      this.#log,
      o.metrics.counter("cascade_hls_bytes_written_total", "Bytes of HLS segments written"),
    );
    this.#notices = new EncoderNotices(this.#log, o.metrics);
  }

  get live(): boolean {
    return this.#live;
  }

  /** Bytes of this channel's files on disk. */
  get diskBytes(): number {
    return this.#files.diskBytes;
  }

  /**
   * A takeover: the playlist continues another origin's (`HlsSegmenter.continueFrom`).
   * Applied before the next frame; resolves false when the broadcast ended first.
   */
  continueFrom(c: Continuation): Promise<boolean> {
    if (!this.#live || !this.#segmenter) return Promise.resolve(false);
    this.#continuation?.done(false);
    return new Promise((done) => this.#continuation = { c, done });
  }

  async #applyContinuation(): Promise<void> {
    const { c, done } = this.#continuation!;
    this.#continuation = undefined;
    const { renamed, dropped } = this.#segmenter!.continueFrom(c);
    await this.#files.deleteAllNow(dropped.map((s) => s.uri));
    for (const r of renamed) await this.#files.rename(r.from, r.to, r.open);
    if (this.#vod) {
      this.#vod.reset();
      for (const s of this.#segmenter!.playlist().segments) {
        this.#vod.add({ ...s, independent: true });
      }
    }
    this.#log.info("hls.continued", { ...c, renamed: renamed.length, dropped: dropped.length });
    await this.#writePlaylist().catch((err) =>
      this.#log.error("hls.playlist_write_failed", { error: err })
    );
    done(true);
  }

  /**
   * Consumes one broadcast until its publisher stops. A republish that comes while the
   * previous broadcast's last frames and end are still being written waits for them.
   */
  run(stream: LiveStream): Promise<void> {
    // Subscribed at once, so frames published meanwhile are not lost.
    const messages = stream.subscribe("hls");
    const run = this.#consume(stream, messages, this.#running);
    this.#running = run;
    return run;
  }

  async #consume(
    stream: LiveStream,
    messages: Subscription,
    previous: Promise<void>,
  ): Promise<void> {
    await previous;
    this.#live = true;
    clearTimeout(this.#cleanupTimer);
    this.#cleanupTimer = undefined;
    await Deno.mkdir(this.dir, { recursive: true });
    // A republish continues the same playlist: its next segment starts a new timeline.
    this.#video = undefined;
    this.#audio = undefined;
    this.#notices.reset();
    try {
      for await (const msg of messages) {
        if (msg.type === "config") this.#onConfig(msg.track);
        else await this.#onFrame(msg.frame);
      }
    } catch (err) {
      this.#log.error("hls.packager_failed", { error: err });
    } finally {
      this.#live = false;
      this.#continuation?.done(false);
      this.#continuation = undefined;
      // A publisher that vanished may reconnect within the grace and continue this playlist:
      // its ENDLIST waits for the grace to run out, as RFC 8216 §6.2.1 never lets it go again.
      if (stream.lost) await this.#pause();
      else await this.#end();
      this.#cleanupTimer = setTimeout(
        () => void this.#expire(),
        this.#o.republishGraceSeconds * 1000,
      );
    }
  }

  /** The grace ran out with no republish: the broadcast is over. */
  async #expire(): Promise<void> {
    if (this.#live) return;
    if (this.#endPending) await this.#end();
    if (this.#vod) this.#keep();
    else await this.#removeAll();
  }

  /** The publisher vanished: list what it sent, but leave the playlist open. */
  async #pause(): Promise<void> {
    if (!this.#segmenter) return;
    this.#endPending = true;
    const { closed } = this.#segmenter.finish();
    if (closed) await this.#closeSegment(closed);
  }

  #onConfig(track: TrackConfig): void {
    if (sameTrackConfig(track.kind === "video" ? this.#video : this.#audio, track)) return;
    if (track.kind === "video") this.#video = track;
    else this.#audio = track;
    this.#tracksChanged = true;
  }

  async #onFrame(input: MediaFrame): Promise<void> {
    if (input.kind === "video" ? !this.#video : !this.#audio) return;
    if (this.#tracksChanged) await this.#applyTracks();
    if (this.#continuation) await this.#applyContinuation();
    const segmenter = this.#segmenter!;
    const muxer = this.#muxer!;
    const { frame, jumpMs } = this.#rebaser.rebase(input);
    if (jumpMs !== undefined) this.#notices.jump(frame.kind, jumpMs);
    const step = segmenter.push(frame, this.#now());
    if (step.closed) await this.#closeSegment(step.closed);
    if (step.started) {
      this.#notices.segmentStarted(step.started.independent, segmenter);
      await this.#openSegment(step.started);
    }
    if (!step.write || !this.#files.writable) return;
    try {
      muxer.writeFrame(frame);
    } catch (err) {
      this.#log.warn("hls.frame_rejected", { error: err });
      return;
    }
    if (muxer.bytesPending >= WRITE_BATCH_BYTES) await this.#flush();
  }

  async #applyTracks(): Promise<void> {
    this.#tracksChanged = false;
    const tracks = {
      video: this.#video?.kind === "video" ? this.#video.avc : undefined,
      audio: this.#audio?.kind === "audio" ? this.#audio.aac : undefined,
    };
    const hasVideo = this.#video !== undefined;
    if (!this.#segmenter) {
      this.#segmenter = new HlsSegmenter({
        segmentSeconds: this.#o.segmentSeconds,
        listSize: this.#o.listSize,
        firstSequence: await this.#firstSequence(),
        hasVideo,
        maxTargetDuration: this.#maxTarget(),
      });
      this.#muxer = new TsMuxer(tracks);
      return;
    }
    // Republish or codec change: the open segment ends and the next is a new timeline.
    this.#rebaser.reset();
    const { closed } = this.#segmenter.discontinuity({ hasVideo });
    if (closed) await this.#closeSegment(closed);
    this.#muxer!.setTracks(tracks);
  }

  /** `maxTargetSeconds`, never below the floor the segment length sets. */
  #maxTarget(): number | undefined {
    const max = this.#o.maxTargetSeconds;
    return max === undefined ? undefined : Math.max(max, Math.ceil(this.#o.segmentSeconds) + 1);
  }

  /** Above every sequence number this name's directory has listed, and time-based. */
  async #firstSequence(): Promise<number> {
    let floor = 0;
    try {
      const text = await Deno.readTextFile(join(this.dir, LIVE_PLAYLIST));
      const p = parsePlaylist(text);
      floor = p.mediaSequence + p.segments.length;
    } catch { /* no earlier playlist */ }
    return Math.max(floor, timeBasedSequence(this.#now()));
  }

  async #openSegment(segment: OpenSegment): Promise<void> {
    await this.#files.open(segment.uri);
    this.#muxer!.writeTables();
    // Nothing of a segment that cannot be written may end up in the next one.
    if (!this.#files.writable) this.#muxer!.take();
  }

  async #flush(): Promise<void> {
    await this.#files.write(this.#muxer!.take());
  }

  async #closeSegment(info: SegmentInfo): Promise<void> {
    await this.#flush();
    if (await this.#files.close(info.uri)) {
      this.#vod?.add(info);
      await this.#writePlaylist().catch((err) =>
        this.#log.error("hls.playlist_write_failed", { error: err })
      );
    }
    this.#scheduleExpired();
  }

  async #writePlaylist(): Promise<void> {
    const playlist = this.#segmenter!.playlist();
    const path = join(this.dir, LIVE_PLAYLIST);
    const tmp = `${path}${TEMP_SUFFIX}`;
    const bytes = encoder.encode(renderPlaylist(playlist));
    await Deno.writeFile(tmp, bytes);
    await Deno.rename(tmp, path);
    const now = this.#now();
    this.latest = { bytes, etag: `"${this.#epoch}-${++this.#writes}"`, modified: new Date(now) };
    this.#o.events?.playlist(this.name, playlist, now);
  }

  /**
   * Segments that left the window stay on disk for slow players: RFC 8216 §6.2.2 asks for
   * their own duration plus the playlist's, which long GOPs make longer than the configured
   * `listSize * segmentSeconds`.
   */
  #scheduleExpired(): void {
    const segmenter = this.#segmenter!;
    const expired = segmenter.takeExpired();
    if (expired.length === 0 || this.#vod) return;
    let listedSeconds = 0;
    for (const s of segmenter.playlist().segments) listedSeconds += s.duration;
    const delayMs = Math.max(
      this.#o.listSize * this.#o.segmentSeconds,
      listedSeconds + Math.max(...expired.map((s) => s.duration)),
    ) * 1000;
    this.#files.deleteLater(expired.map((s) => s.uri), delayMs);
  }

  /** The publisher stopped: close the open segment and write `#EXT-X-ENDLIST`. */
  async #end(): Promise<void> {
    this.#endPending = false;
    if (!this.#segmenter) return;
    this.#notices.ended(this.#segmenter);
    const { closed } = this.#segmenter.end();
    if (closed) await this.#closeSegment(closed);
    else {
      await this.#writePlaylist().catch((err) =>
        this.#log.error("hls.playlist_write_failed", { error: err })
      );
    }
    if (!this.#vod || this.#vod.segments.length === 0) return;
    try {
      await this.#vod.write(this.dir, this.#segmenter.targetDuration);
      const target = vodTargetDuration(this.#vod.segments, this.#segmenter.targetDuration);
      this.#o.events?.vod(this.name, target, this.#now());
    } catch (err) {
      this.#log.error("hls.vod_write_failed", { error: err });
    }
  }

  /** `keepSegments`: the broadcast is over; its files stay for VOD, the channel goes. */
  #keep(): void {
    if (this.#live) return;
    this.#log.info("hls.kept", { dir: this.name, segments: this.#vod!.segments.length });
    this.#vod!.reset();
    this.#onGone();
  }

  async #removeAll(): Promise<void> {
    if (this.#live) return;
    this.latest = undefined;
    await this.#files.removeAll();
    this.#log.info("hls.removed", { dir: this.name });
    this.#onGone();
  }

  /** Process shutdown: a vanished publisher's playlist gets its ENDLIST now. */
  async finishPending(): Promise<void> {
    if (!this.#live && this.#endPending) await this.#end();
  }

  /** Stops timers (process shutdown); files stay as they are. */
  dispose(): void {
    clearTimeout(this.#cleanupTimer);
    this.#files.cancelDeletions();
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }
}

/** Attaches an `HlsChannel` to every broadcast the hub starts. */
export class HlsPackager {
  readonly #o: HlsPackagerOptions;
  readonly #channels: ChannelsByName<HlsChannel>;

  constructor(hub: StreamHub, options: HlsPackagerOptions) {
    this.#o = options;
    const targetFloor = Math.ceil(options.segmentSeconds) + 1;
    options.log.info("hls.config", {
      segmentSeconds: options.segmentSeconds,
      listSize: options.listSize,
      targetFloor,
      maxTargetSeconds: Math.max(
        options.maxTargetSeconds ?? DEFAULT_MAX_TARGET_SECONDS,
        targetFloor,
      ),
    });
    this.#channels = new ChannelsByName(
      hub,
      (name, onGone) => new HlsChannel(name, options, onGone),
    );
    options.metrics.gauge("cascade_media_disk_bytes", "Bytes of HLS files under MEDIA_ROOT")
      .collect(() => this.diskBytes);
  }

  get diskBytes(): number {
    let sum = 0;
    for (const c of this.#channels.values()) sum += c.diskBytes;
    return sum;
  }

  /** The live playlist of `name` as last written, while its channel exists. */
  livePlaylist(name: string): MemoryPlaylist | undefined {
    return this.#channels.get(name)?.latest;
  }

  /**
   * A takeover: `name`'s live playlist continues another origin's; false when `name` is not
   * being published here.
   */
  continueFrom(name: string, c: Continuation): Promise<boolean> {
    return this.#channels.get(name)?.continueFrom(c) ?? Promise.resolve(false);
  }

  /** Directory of a name's HLS output. */
  dirOf(name: string): string {
    return join(this.#o.mediaRoot, name);
  }

  /**
   * Waits for every running channel to write its last segment and ends the playlists of
   * vanished publishers, then stops timers.
   */
  close(): Promise<void> {
    return this.#channels.close();
  }
}
