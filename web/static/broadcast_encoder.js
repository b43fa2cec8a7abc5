// @ts-check
/// <reference lib="dom" />
/**
 * The broadcast page's media pipeline: the camera's and microphone's raw frames (read with
 * `MediaStreamTrackProcessor`) encoded in the page with WebCodecs — H.264 in AVC format
 * (length-prefixed NALUs, no B-frames in realtime mode) and AAC, or Opus where the browser
 * cannot encode AAC (the origin transcodes it) — and turned into the messages of the ingest
 * WebSocket (docs/architecture.md, "Browser ingest"): a track's config before its first
 * frame and again when the encoder's config changes, then binary frames with a 10-byte header.
 * When the socket cannot keep up (`bufferedAmount` over a few MB) video is dropped until the
 * next keyframe, which is asked for once the backlog has drained, so a viewer never sees a
 * frame whose reference was lost; audio, small, keeps flowing.
 *
 * Chromium stamps camera and microphone frames on different clocks (video from the system's
 * monotonic clock, audio from when the track started), so each track's timestamps are moved
 * onto the page's clock by the offset seen at its first frame, and counted from the start of
 * the broadcast: the origin, which rebases the first frame near 0, then keeps both in sync.
 */

/** H.264 profiles tried in order: constrained baseline, then main, both level 3.1. */
export const VIDEO_CODECS = ["avc1.42e01f", "avc1.4d401f"];
const MAX_WIDTH = 1280;
const MAX_HEIGHT = 720;
const FRAME_RATE = 30;
const VIDEO_BITRATE = 2_500_000;
const AUDIO_BITRATE = 128_000;
const KEYFRAME_INTERVAL_US = 2_000_000;
/** Above this backlog video is dropped; below the low mark a keyframe restarts it. */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;
const LOW_WATER_BYTES = 1024 * 1024;
/** Raw frames waiting for a busy encoder beyond this are dropped (a slow CPU, not the network). */
const MAX_ENCODE_QUEUE = 3;

const TRACK_VIDEO = 1;
const TRACK_AUDIO = 2;
const FLAG_KEYFRAME = 1;
const HEADER_BYTES = 10;

/**
 * What this browser lacks to broadcast, in words for the page; empty when nothing. Outside a
 * secure context browsers hide the camera and WebCodecs, so that is the one thing said then.
 * @returns {string[]}
 */
export function missingFeatures() {
  if (!globalThis.isSecureContext) {
    return ["a secure context: open this page over HTTPS (or on localhost)"];
  }
  /** @type {string[]} */
  const missing = [];
  if (!navigator.mediaDevices?.getUserMedia) missing.push("camera access (getUserMedia)");
  if (typeof VideoEncoder !== "function") missing.push("a video encoder (WebCodecs VideoEncoder)");
  if (typeof AudioEncoder !== "function") missing.push("an audio encoder (WebCodecs AudioEncoder)");
  // @ts-ignore: Chromium's Breakout Box API, not in every DOM typing yet.
  if (typeof globalThis.MediaStreamTrackProcessor !== "function") {
    missing.push("raw camera frames (MediaStreamTrackProcessor)");
  }
  return missing;
}

/** Both sides even (H.264 4:2:0), scaled down to fit 1280×720. */
function encodedSize(/** @type {number} */ width, /** @type {number} */ height) {
  const scale = Math.min(1, MAX_WIDTH / width, MAX_HEIGHT / height);
  const even = (/** @type {number} */ n) => Math.max(2, Math.floor((n * scale) / 2) * 2);
  return { width: even(width), height: even(height) };
}

/**
 * The first H.264 profile the browser encodes at this size, or null.
 * @returns {Promise<VideoEncoderConfig | null>}
 */
export async function videoConfig(/** @type {number} */ width, /** @type {number} */ height) {
  for (const codec of VIDEO_CODECS) {
    /** @type {VideoEncoderConfig} */
    const config = {
      codec,
      ...encodedSize(width, height),
      bitrate: VIDEO_BITRATE,
      framerate: FRAME_RATE,
      latencyMode: "realtime",
      avc: { format: "avc" },
    };
    const answer = await VideoEncoder.isConfigSupported(config).catch(() => null);
    if (answer?.supported) return config;
  }
  return null;
}

/**
 * AAC when the browser encodes it, else Opus, for this sample rate and channel count.
 * @returns {Promise<AudioEncoderConfig | null>}
 */
export async function audioConfig(
  /** @type {number} */ sampleRate,
  /** @type {number} */ channels,
) {
  for (const codec of ["mp4a.40.2", "opus"]) {
    const config = { codec, sampleRate, numberOfChannels: channels, bitrate: AUDIO_BITRATE };
    const answer = await AudioEncoder.isConfigSupported(config).catch(() => null);
    if (answer?.supported) return config;
  }
  return null;
}

/** @param {AllowSharedBufferSource | undefined} source */
function base64(source) {
  if (source === undefined) return undefined;
  const bytes = ArrayBuffer.isView(source)
    ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength)
    : new Uint8Array(source);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/**
 * The `video-config` message for an encoder's decoder config (its `description` is the avcC).
 * @param {VideoDecoderConfig} config
 */
export function videoConfigMessage(config) {
  return { type: "video-config", codec: config.codec, description: base64(config.description) };
}

/**
 * The `audio-config` message: AAC carries its AudioSpecificConfig; Opus needs none.
 * @param {AudioDecoderConfig} config
 */
export function audioConfigMessage(config) {
  const aac = config.codec.startsWith("mp4a.");
  return {
    type: "audio-config",
    codec: aac ? "mp4a.40.2" : "opus",
    sampleRate: config.sampleRate,
    channels: config.numberOfChannels,
    ...(aac ? { description: base64(config.description) } : {}),
  };
}

/**
 * A binary frame message: track, flags, the timestamp (µs, float64 big-endian), then the
 * encoded bytes, copied once straight into the message.
 * @param {number} track
 * @param {EncodedVideoChunk | EncodedAudioChunk} chunk
 * @param {number} timestampUs
 */
export function frameMessage(track, chunk, timestampUs) {
  const buffer = new ArrayBuffer(HEADER_BYTES + chunk.byteLength);
  const view = new DataView(buffer);
  view.setUint8(0, track);
  view.setUint8(1, chunk.type === "key" ? FLAG_KEYFRAME : 0);
  view.setFloat64(2, timestampUs);
  chunk.copyTo(new Uint8Array(buffer, HEADER_BYTES));
  return buffer;
}

/**
 * @typedef {object} PipelineHooks
 * @property {(message: string | ArrayBuffer) => void} send
 * @property {() => number} backlog bytes queued on the socket, not yet sent
 * @property {(dropping: boolean, dropped: number) => void} onDropping
 * @property {(error: Error) => void} onError the pipeline has stopped
 */

/** Reads a track's raw frames until stopped; each is handed to `take`, which closes it. */
class TrackReader {
  /** @param {MediaStreamTrack} track @param {(frame: any) => Promise<void> | void} take */
  constructor(track, take) {
    // A clone, so that ending the processor never ends the preview's own track.
    this.track = track.clone();
    // @ts-ignore: see missingFeatures().
    const processor = new MediaStreamTrackProcessor({ track: this.track });
    /** @type {ReadableStreamDefaultReader<any>} */
    this.reader = processor.readable.getReader();
    this.done = this.#pump(take);
  }

  /** @param {(frame: any) => Promise<void> | void} take */
  async #pump(take) {
    while (true) {
      const { value, done } = await this.reader.read();
      if (done) return;
      await take(value);
    }
  }

  stop() {
    this.reader.cancel().catch(() => {});
    this.track.stop();
  }
}

/**
 * Encodes a camera and (optionally) a microphone track into ingest messages until `stop()`.
 * Encoders are configured from the first frame of each track, so the encoded size is the
 * camera's own (capped at 720p) and the audio keeps the microphone's sample rate.
 */
export class Pipeline {
  /** @param {MediaStreamTrack} video @param {MediaStreamTrack | undefined} audio @param {PipelineHooks} hooks */
  constructor(video, audio, hooks) {
    this.hooks = hooks;
    /** No more input is taken. */
    this.halted = false;
    /** No more output is sent. */
    this.closed = false;
    /** @type {VideoEncoder | null} */
    this.videoEncoder = null;
    /** @type {{width: number, height: number} | null} */
    this.sourceSize = null;
    /** @type {AudioEncoder | null} */
    this.audioEncoder = null;
    /** Last config message sent per track, as JSON: a changed one is sent again. */
    this.sentConfig = { video: "", audio: "" };
    this.lastKeyframeUs = -Infinity;
    /** Video waits for a keyframe: the backlog was too large and frames were dropped. */
    this.needKeyframe = false;
    this.dropped = 0;
    this.startUs = performance.now() * 1000;
    /** Per track: what turns a capture timestamp into µs since the broadcast started. */
    this.offsetUs = { video: NaN, audio: NaN };
    this.readers = [new TrackReader(video, (f) => this.#video(f))];
    if (audio !== undefined) this.readers.push(new TrackReader(audio, (d) => this.#audio(d)));
    for (const r of this.readers) r.done.catch((err) => this.#fail(err));
  }

  /** @param {"video" | "audio"} track @param {{timestamp: number}} frame */
  #learnOffset(track, frame) {
    if (Number.isNaN(this.offsetUs[track])) {
      this.offsetUs[track] = performance.now() * 1000 - this.startUs - frame.timestamp;
    }
  }

  /** @param {VideoFrame} frame */
  async #video(frame) {
    try {
      if (this.halted) return;
      this.#learnOffset("video", frame);
      const { displayWidth: width, displayHeight: height } = frame;
      if (this.sourceSize?.width !== width || this.sourceSize?.height !== height) {
        await this.#configureVideo(width, height);
        if (this.halted) return;
      }
      const encoder = /** @type {VideoEncoder} */ (this.videoEncoder);
      const backlog = this.hooks.backlog();
      if (this.needKeyframe && backlog > LOW_WATER_BYTES) return this.#drop();
      if (encoder.encodeQueueSize > MAX_ENCODE_QUEUE) return;
      const keyFrame = this.needKeyframe ||
        frame.timestamp - this.lastKeyframeUs >= KEYFRAME_INTERVAL_US;
      if (keyFrame) this.lastKeyframeUs = frame.timestamp;
      encoder.encode(frame, { keyFrame });
    } finally {
      frame.close();
    }
  }

  /** A camera size (first frame, or a new one after a device change) gets its own encoder. */
  async #configureVideo(/** @type {number} */ width, /** @type {number} */ height) {
    const config = await videoConfig(width, height);
    if (config === null) throw new Error("This browser cannot encode H.264 video");
    if (this.videoEncoder === null) {
      this.videoEncoder = new VideoEncoder({
        output: (chunk, meta) => this.#videoOut(chunk, meta),
        error: (err) => this.#fail(err),
      });
    }
    this.videoEncoder.configure(config);
    this.sourceSize = { width, height };
    this.lastKeyframeUs = -Infinity;
  }

  /** @param {EncodedVideoChunk} chunk @param {EncodedVideoChunkMetadata | undefined} meta */
  #videoOut(chunk, meta) {
    if (this.closed) return;
    // The encoder says its config once, with the chunk it changed at: sent even if that
    // chunk is dropped, since the keyframe that ends a drop may not repeat it.
    if (meta?.decoderConfig) this.#sendConfig("video", videoConfigMessage(meta.decoderConfig));
    if (this.sentConfig.video === "") return; // Never a frame before its track's config.
    if (this.hooks.backlog() > HIGH_WATER_BYTES) {
      this.needKeyframe = true;
      return this.#drop();
    }
    if (this.needKeyframe && chunk.type !== "key") return this.#drop();
    this.hooks.send(frameMessage(TRACK_VIDEO, chunk, chunk.timestamp + this.offsetUs.video));
    if (this.needKeyframe) {
      this.needKeyframe = false;
      this.hooks.onDropping(false, this.dropped);
    }
  }

  #drop() {
    this.dropped++;
    this.hooks.onDropping(true, this.dropped);
  }

  /** @param {AudioData} data */
  async #audio(data) {
    try {
      if (this.halted) return;
      this.#learnOffset("audio", data);
      if (this.audioEncoder === null) {
        const channels = Math.min(2, data.numberOfChannels);
        const config = await audioConfig(data.sampleRate, channels);
        if (config === null) throw new Error("This browser cannot encode AAC or Opus audio");
        if (this.halted) return;
        this.audioEncoder = new AudioEncoder({
          output: (chunk, meta) => this.#audioOut(chunk, meta),
          error: (err) => this.#fail(err),
        });
        this.audioEncoder.configure(config);
      }
      this.audioEncoder.encode(data);
    } finally {
      data.close();
    }
  }

  /** @param {EncodedAudioChunk} chunk @param {EncodedAudioChunkMetadata | undefined} meta */
  #audioOut(chunk, meta) {
    if (this.closed) return;
    if (meta?.decoderConfig) this.#sendConfig("audio", audioConfigMessage(meta.decoderConfig));
    if (this.sentConfig.audio === "") return;
    this.hooks.send(frameMessage(TRACK_AUDIO, chunk, chunk.timestamp + this.offsetUs.audio));
  }

  /** @param {"video" | "audio"} track @param {object} message */
  #sendConfig(track, message) {
    const json = JSON.stringify(message);
    if (json === this.sentConfig[track]) return;
    this.sentConfig[track] = json;
    this.hooks.send(json);
  }

  /** @param {unknown} err */
  #fail(err) {
    if (this.closed) return;
    this.#halt();
    this.#close();
    this.hooks.onError(err instanceof Error ? err : new Error(String(err)));
  }

  #halt() {
    this.halted = true;
    for (const r of this.readers) r.stop();
  }

  #close() {
    this.closed = true;
    for (const e of [this.videoEncoder, this.audioEncoder]) {
      if (e !== null && e.state !== "closed") e.close();
    }
  }

  /** Stops reading, sends what the encoders still hold, and closes them. */
  async stop() {
    if (this.halted) return;
    this.#halt();
    const encoders = [this.videoEncoder, this.audioEncoder].filter((e) => e !== null);
    await Promise.allSettled(encoders.map((e) => e.flush()));
    this.#close();
  }
}
