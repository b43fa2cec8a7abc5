/**
 * One browser publisher's WebSocket, as a state machine with no I/O (like `RtmpSession`): the
 * ingest server feeds it each message and the clock ticks, and it sends JSON answers and
 * asks the host to close. It authorizes the first message's key with the origin's publish
 * authorizer, opens the name on the hub (taking it over from a silent publisher, as RTMP
 * does), turns track configs and frame messages into hub configs and frames on a timeline
 * rebased to start near 0 ms, enforces the frame-rate and bit-rate caps, and hands Opus
 * audio to a transcoder that gives AAC back. A malformed message ends only this session; a
 * refusal says why with its code. The key is never logged: only the resolved name is.
 */
import type { Logger } from "@cascade/common/log";
import type { PublishAuthorizer } from "@cascade/common/publish_auth";
import type { MediaFrame, TrackConfig } from "@cascade/media/frame";
import { aacLcConfig } from "@cascade/media/aac";
import { type LiveStream, StreamBusyError, type StreamHub } from "@cascade/stream/hub";
import {
  checkAvccFrame,
  type ClientMessage,
  type FrameMessage,
  type IngestErrorCode,
  IngestMessageError,
  parseClientMessage,
  parseFrameMessage,
  serverMessages,
} from "./ws_messages.ts";

/** What the session needs from its socket. */
export interface WsSessionHost {
  send(text: string): void;
  /** Close with a WebSocket close code once what was sent is flushed. */
  close(code: number, reason: string): void;
  /** The publisher was authorized: it no longer counts as a pending connection. */
  established(): void;
  /** Drop the connection at once (its peer is silent, a close handshake would wait). */
  terminate(): void;
}

/** Opus in, AAC out: what the session needs of a transcoder. */
export interface AudioTranscoder {
  /** One Opus packet at `dtsMs` on the session's timeline. */
  push(packet: Uint8Array, dtsMs: number): void;
  close(): void;
}

export interface TranscoderSink {
  config(track: TrackConfig & { kind: "audio" }): void;
  frame(frame: MediaFrame): void;
  /** The transcoder stopped working; audio is gone for the rest of the session. */
  failed(reason: string): void;
}

/** Starts a transcoder, or returns null when none can run here (ffmpeg missing). */
export type TranscoderFactory = (
  input: { sampleRate: number; channels: 1 | 2 },
  sink: TranscoderSink,
) => AudioTranscoder | null;

export interface WsSessionOptions {
  app: string;
  originId: string;
  clientIp: string;
  hub: StreamHub;
  auth: PublishAuthorizer;
  log: Logger;
  /** Video frames per second and kbit/s, each averaged over a stats window. */
  maxFps: number;
  maxKbps: number;
  opusTranscoder: TranscoderFactory;
}

/** How often the server sends `stats` and rolls the rate window. */
export const STATS_WINDOW_MS = 2000;

/**
 * Longest a video frame is held back for the audio a publisher declared. A stream whose first
 * segment has no audio samples leaves hls.js unable to add the audio track later (a fatal
 * `bufferAppendError`), and audio can come late twice over: the Opus transcoder's first AAC
 * frame comes a moment after the first video (longer on a loaded host), and a browser's first
 * audio timestamp can be later than its first video one. So video waits for the first audio
 * frame, starts at the last keyframe at or before it (earlier video is dropped) and goes out
 * interleaved with the audio by timestamp. Holding ends once the audio has caught up, or for
 * good when a frame waited this long.
 */
export const AUDIO_WAIT_MS = 3000;

type Phase = "auth" | "authorizing" | "publishing" | "closed";

export class WsSession {
  readonly #o: WsSessionOptions;
  readonly #host: WsSessionHost;
  #log: Logger;
  #phase: Phase = "auth";
  #stream: LiveStream | null = null;
  #video: (TrackConfig & { kind: "video" }) | null = null;
  #audio: "aac" | "opus" | "unavailable" | null = null;
  #transcoder: AudioTranscoder | null = null;
  /** Video waiting for the audio to catch up; null once it has. */
  #heldVideo: { frame: MediaFrame; at: number }[] | null = null;
  /** An audio frame reached the stream. */
  #audioSeen = false;
  /** The first frame's timestamp, µs: the timeline's 0. */
  #baseUs: number | undefined;
  readonly #lastDts = { video: 0, audio: 0 };
  /** Counted over the current stats window. */
  #windowVideoFrames = 0;
  #windowBytes = 0;
  #windowStart: number;
  /** `performance.now()` of the last message (or of the start). */
  lastActivity: number;

  constructor(opts: WsSessionOptions, host: WsSessionHost, now = performance.now()) {
    this.#o = opts;
    this.#host = host;
    this.#log = opts.log;
    this.lastActivity = now;
    this.#windowStart = now;
  }

  /** The public name being published, once authorized. */
  get streamName(): string | undefined {
    return this.#stream?.info.name;
  }

  /** Still waiting for the first message (the publish with the key). */
  get waitingForPublish(): boolean {
    return this.#phase === "auth";
  }

  get publishing(): boolean {
    return this.#phase === "publishing";
  }

  onText(text: string, now = performance.now()): void {
    if (this.#phase === "closed") return;
    this.lastActivity = now;
    this.#guard(() => this.#onMessage(parseClientMessage(text)));
  }

  onBinary(bytes: Uint8Array, now = performance.now()): void {
    if (this.#phase === "closed") return;
    this.lastActivity = now;
    this.#guard(() => this.#onFrame(parseFrameMessage(bytes), bytes.length, now));
  }

  /**
   * Ends the stats window: returns the `stats` message to send (while publishing) and
   * starts the next window.
   */
  tick(now = performance.now()): string | null {
    const seconds = (now - this.#windowStart) / 1000;
    const bitrate = seconds > 0 ? Math.round((this.#windowBytes * 8) / seconds) : 0;
    this.#windowStart = now;
    this.#windowVideoFrames = 0;
    this.#windowBytes = 0;
    if (this.#phase !== "publishing" || !this.#stream) return null;
    return serverMessages.stats(bitrate, this.#stream.info.frames);
  }

  /** Sends an error, closes with its code and ends any broadcast as the publisher's own stop. */
  fail(code: IngestErrorCode, message: string, closeCode: number): void {
    if (this.#phase === "closed") return;
    this.#log.info("ws_ingest.refused", { code, reason: message, stream: this.streamName });
    this.#host.send(serverMessages.error(code, message));
    this.#end(message, false);
    this.#host.close(closeCode, code);
  }

  /** The socket is gone: a broadcast still running lost its publisher (it may come back). */
  closed(reason: string): void {
    this.#end(reason, true);
  }

  #guard(run: () => void): void {
    try {
      run();
    } catch (err) {
      if (!(err instanceof IngestMessageError)) throw err;
      this.fail("bad_message", err.message, 4000);
    }
  }

  #onMessage(msg: ClientMessage): void {
    if (this.#phase === "auth") {
      if (msg.type !== "publish") {
        throw new IngestMessageError(`Cannot take ${msg.type} before publish`);
      }
      return this.#authorize(msg.key);
    }
    if (this.#phase !== "publishing") {
      throw new IngestMessageError(`Cannot take ${msg.type} while the key is being checked`);
    }
    switch (msg.type) {
      case "publish":
        throw new IngestMessageError("Cannot publish twice on one connection");
      case "video-config":
        this.#video = { kind: "video", codec: "h264", avc: msg.avc };
        this.#stream!.config(this.#video);
        return;
      case "audio-config":
        if (msg.codec === "aac") {
          this.#stopTranscoder();
          this.#audio = "aac";
          this.#stream!.config({ kind: "audio", codec: "aac", aac: msg.aac });
          if (!this.#audioSeen) this.#heldVideo ??= [];
        } else {
          this.#startTranscoder(msg.sampleRate, msg.channels);
        }
        return;
      case "stop":
        this.#log.info("ws_ingest.stopped", { stream: this.streamName });
        this.#end("unpublished", false);
        this.#host.close(1000, "stopped");
    }
  }

  #authorize(key: string): void {
    this.#phase = "authorizing";
    const { app, clientIp, originId } = this.#o;
    this.#o.auth.authorize({ app, key, clientIp, originId }).then((decision) => {
      if (this.#phase === "closed") return;
      if (!decision.ok) return this.fail("unauthorized", decision.reason, 4001);
      const name = decision.name;
      try {
        this.#stream = this.#open(name);
      } catch (err) {
        if (!(err instanceof StreamBusyError)) throw err;
        return this.fail("already_live", `Stream ${name} is already live`, 4009);
      }
      this.#phase = "publishing";
      this.#log = this.#o.log.child({ stream: name });
      this.lastActivity = performance.now();
      this.#host.established();
      this.#host.send(serverMessages.publishing(name));
    }).catch((err) => {
      this.#log.error("ws_ingest.publish_failed", { error: err });
      this.fail("internal", "The stream key could not be checked; try again", 1011);
    });
  }

  /** Opens `name` on the hub, which may end this session later to give the name to another. */
  #open(name: string): LiveStream {
    return this.#o.hub.open(name, this.#o.clientIp, {
      evict: (reason) => {
        this.closed(reason);
        this.#host.terminate();
      },
    });
  }

  #onFrame(msg: FrameMessage, size: number, now: number): void {
    if (this.#phase !== "publishing") {
      throw new IngestMessageError("Cannot take a frame before publishing");
    }
    this.#windowBytes += size;
    if (msg.kind === "video") this.#windowVideoFrames++;
    if (this.#overLimits(now)) return;
    if (msg.kind === "video") {
      if (!this.#video) throw new IngestMessageError("Cannot take a video frame before its config");
      checkAvccFrame(msg.data, this.#video.avc.nalLengthSize);
    } else if (this.#audio === null) {
      throw new IngestMessageError("Cannot take an audio frame before its config");
    }
    const dts = this.#dts(msg);
    const stream = this.#stream!;
    if (msg.kind === "video") {
      // The hub's consumers queue frames: they get their own copy, not a view of ws's buffer.
      const data = msg.data.slice();
      const frame: MediaFrame = {
        kind: "video",
        codec: "h264",
        dts,
        pts: dts,
        keyframe: msg.keyframe,
        data,
      };
      if (this.#heldVideo === null) stream.frame(frame);
      else this.#hold(frame);
    } else if (this.#audio === "aac") {
      const data = msg.data.slice();
      this.#audioArrived(dts);
      stream.frame({ kind: "audio", codec: "aac", dts, pts: dts, keyframe: true, data });
    } else if (this.#audio === "opus") {
      this.#transcoder?.push(msg.data, dts);
    }
  }

  /** Holds `frame` for the audio, or lets all held video go once a frame waited too long. */
  #hold(frame: MediaFrame): void {
    const held = this.#heldVideo!;
    const now = performance.now();
    held.push({ frame, at: now });
    const waitedMs = now - held[0]!.at;
    if (waitedMs > AUDIO_WAIT_MS) {
      this.#log.warn("ws_ingest.audio_late", { waitedMs: Math.round(waitedMs) });
      this.#releaseVideo();
    }
  }

  /** An audio frame at `dts` is about to reach the stream: the held video goes on up to it. */
  #audioArrived(dts: number): void {
    const held = this.#heldVideo;
    if (!this.#audioSeen && held !== null) {
      let start = 0;
      for (let i = 0; i < held.length && held[i]!.frame.dts <= dts; i++) {
        if (held[i]!.frame.keyframe) start = i;
      }
      if (start > 0) this.#log.debug("ws_ingest.video_before_audio", { dropped: start });
      held.splice(0, start);
    }
    this.#audioSeen = true;
    this.#releaseVideo(dts);
  }

  /** Hands on the held video up to `dts` (all of it by default); holding ends when none is left. */
  #releaseVideo(dts = Infinity): void {
    const held = this.#heldVideo;
    if (held === null) return;
    let n = 0;
    while (n < held.length && held[n]!.frame.dts <= dts) this.#stream?.frame(held[n++]!.frame);
    held.splice(0, n);
    if (held.length === 0) this.#heldVideo = null;
  }

  /** Milliseconds from the first frame, never going back within a track. */
  #dts(msg: FrameMessage): number {
    this.#baseUs ??= msg.timestampUs;
    const ms = Math.max(0, Math.round((msg.timestampUs - this.#baseUs) / 1000));
    const dts = Math.max(ms, this.#lastDts[msg.kind]);
    this.#lastDts[msg.kind] = dts;
    return dts;
  }

  /** Fails the session when it went over a cap within the current window. */
  #overLimits(now: number): boolean {
    // Caps are averages over a window of at least 2 s, so a burst (a keyframe) is allowed.
    const windowSeconds = Math.max(STATS_WINDOW_MS, now - this.#windowStart) / 1000;
    const fps = this.#windowVideoFrames / windowSeconds;
    const kbps = (this.#windowBytes * 8) / 1000 / windowSeconds;
    if (fps <= this.#o.maxFps && kbps <= this.#o.maxKbps) return false;
    const what = fps > this.#o.maxFps
      ? `more than ${this.#o.maxFps} video frames per second`
      : `more than ${this.#o.maxKbps} kbit/s`;
    this.fail("rate_limited", `Over the ingest limit: ${what}`, 4029);
    return true;
  }

  #startTranscoder(sampleRate: number, channels: 1 | 2): void {
    this.#stopTranscoder();
    const stream = this.#stream!;
    this.#audio = "opus";
    // Declared now rather than at ffmpeg's first output, which comes a moment after the first
    // video: a playlist must carry its audio from the first segment, or hls.js cannot add it.
    // ffmpeg decodes Opus at 48 kHz and keeps the channels, so its own config is the same.
    stream.config({ kind: "audio", codec: "aac", aac: aacLcConfig(48_000, channels) });
    this.#transcoder = this.#o.opusTranscoder({ sampleRate, channels }, {
      config: (track) => {
        if (this.#stream === stream) stream.config(track);
      },
      frame: (frame) => {
        if (this.#stream !== stream) return;
        this.#audioArrived(frame.dts);
        stream.frame(frame);
      },
      failed: (reason) => {
        if (this.#stream !== stream || this.#phase !== "publishing") return;
        this.#releaseVideo();
        this.#audio = "unavailable";
        this.#transcoder = null;
        this.#host.send(serverMessages.warning("audio_unavailable", reason));
      },
    });
    if (this.#transcoder === null) this.#releaseVideo();
    else if (!this.#audioSeen) this.#heldVideo ??= [];
    if (this.#transcoder === null) {
      this.#audio = "unavailable";
      this.#host.send(
        serverMessages.warning(
          "audio_unavailable",
          "This server cannot transcode Opus audio (no ffmpeg): the stream goes on video-only",
        ),
      );
    }
  }

  #stopTranscoder(): void {
    this.#releaseVideo();
    this.#transcoder?.close();
    this.#transcoder = null;
  }

  #end(reason: string, lost: boolean): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#stopTranscoder();
    const stream = this.#stream;
    this.#stream = null;
    if (stream) this.#o.hub.close(stream, reason, lost);
  }
}
