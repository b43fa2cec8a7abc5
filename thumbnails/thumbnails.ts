/**
 * Thumbnails of the live streams, made when asked for from the latest video keyframe the hub
 * keeps a reference to (`LiveStream.latestKeyframe`) and the stream's decoder configuration:
 * no consumer reads the streams' frames. A request for `thumb.jpg` gets the stream's latest JPEG; when that is older than
 * `THUMBNAIL_SECONDS` and a newer keyframe exists, one ffmpeg run (`snapshot.ts`) makes a new
 * one — the request that finds no picture at all waits for it, later ones get the previous
 * picture meanwhile. So a stream nobody looks at costs no ffmpeg run, and one on a dashboard
 * costs one run per `THUMBNAIL_SECONDS` however many ask (edges cache it for as long). At most
 * `THUMBNAIL_CONCURRENCY` runs go at once, each bounded by `THUMBNAIL_TIMEOUT_SECONDS`. The
 * latest JPEG of each stream is kept in memory and dropped when the stream ends. The publisher
 * never waits for any of it, and a failed or hung run only means the previous picture is
 * served a little longer. When ffmpeg cannot be started at all the feature says so once in the log,
 * `cascade_thumbnails_available` reads 0 and nothing more is attempted; the streams
 * themselves are untouched.
 */
import type { Logger } from "@cascade/common/log";
import type { Counter, MetricsRegistry } from "@cascade/common/metrics";
import { matchesEtag } from "@cascade/common/http_paths";
import type { MediaFrame } from "@cascade/media/frame";
import type { LiveStream, StreamHub } from "@cascade/stream/hub";
import type { ThumbnailConfig } from "./config.ts";
import { keyframeToAnnexB } from "./annexb.ts";
import {
  FfmpegUnavailableError,
  snapshot,
  type SnapshotOptions,
  SnapshotTimeoutError,
} from "./snapshot.ts";

/** The file name under `/live/{name}/`. */
export const THUMBNAIL_FILE = "thumb.jpg";
interface Picture {
  jpeg: Uint8Array<ArrayBuffer>;
  etag: string;
  modified: Date;
}

interface Entry {
  stream: LiveStream;
  /** The keyframe of the last run (whatever its outcome): the next run needs a newer one. */
  rendered?: MediaFrame;
  picture?: Picture;
  /** The run asked for and not finished yet, queued or going. */
  rendering?: Promise<void>;
}

/** A run waiting for an ffmpeg slot; `done` settles its entry's `rendering`. */
interface Queued {
  entry: Entry;
  done: () => void;
}

export interface ThumbnailDeps {
  hub: StreamHub;
  log: Logger;
  metrics: MetricsRegistry;
  /** Replaces the ffmpeg run (tests). */
  snapshot?: (annexB: Uint8Array, opts: SnapshotOptions) => Promise<Uint8Array<ArrayBuffer>>;
  /** The clock pictures are dated by, ms (tests). */
  now?: () => number;
}

/** The thumbnails of one origin's streams; see the module comment. */
export class Thumbnails {
  readonly #config: ThumbnailConfig;
  readonly #hub: StreamHub;
  readonly #log: Logger;
  readonly #snapshot: (
    annexB: Uint8Array,
    opts: SnapshotOptions,
  ) => Promise<Uint8Array<ArrayBuffer>>;
  readonly #entries = new Map<string, Entry>();
  readonly #pending: Queued[] = [];
  readonly #runs = new Set<Promise<void>>();
  readonly #results: Counter;
  readonly #cacheControl: string;
  readonly #now: () => number;
  #offHub: (() => void) | undefined;
  #available = true;
  #sequence = 0;

  constructor(config: ThumbnailConfig, deps: ThumbnailDeps) {
    this.#config = config;
    this.#hub = deps.hub;
    this.#log = deps.log.child({ component: "thumbnails" });
    this.#snapshot = deps.snapshot ?? snapshot;
    this.#now = deps.now ?? Date.now;
    // A viewer (or edge) may hold a picture for one interval: no newer one is made before.
    this.#cacheControl = `public, max-age=${Math.max(1, Math.floor(config.THUMBNAIL_SECONDS))}`;
    deps.metrics.gauge(
      "cascade_thumbnails_available",
      "1 while thumbnails are made, 0 when off or ffmpeg cannot be started",
    ).collect(() => this.available ? 1 : 0);
    deps.metrics.gauge("cascade_thumbnails_streams", "Live streams holding a thumbnail")
      .collect(() => [...this.#entries.values()].filter((e) => e.picture).length);
    this.#results = deps.metrics.counter(
      "cascade_thumbnail_runs_total",
      "ffmpeg runs for thumbnails, by result (ok, failed, timeout)",
      ["result"],
    );
  }

  /** Thumbnails are on and ffmpeg could be started (so far). */
  get available(): boolean {
    return this.enabled && this.#available;
  }

  get enabled(): boolean {
    return this.#config.THUMBNAIL_SECONDS > 0;
  }

  /** Starts forgetting the pictures of streams that end; a no-op when off. */
  start(): void {
    if (!this.enabled || this.#offHub !== undefined) return;
    this.#offHub = this.#hub.on((e) => {
      if (e.type === "publish.stop") this.#entries.delete(e.stream.info.name);
    });
    this.#log.info("thumbnails.ready", {
      seconds: this.#config.THUMBNAIL_SECONDS,
      height: this.#config.THUMBNAIL_HEIGHT,
      concurrency: this.#config.THUMBNAIL_CONCURRENCY,
      ffmpeg: this.#config.THUMBNAIL_FFMPEG,
    });
  }

  /**
   * The answer for `/live/{name}/{file}` when `file` is the thumbnail: the latest JPEG (304
   * when the client has it), after making it when there is none yet; 404 when none can be
   * made; undefined for every other file. Asks for a newer picture when this one is due.
   */
  liveFile(name: string, file: string, request: Request): Response | Promise<Response> | undefined {
    if (file !== THUMBNAIL_FILE) return undefined;
    const entry = this.#entry(name);
    if (entry === undefined) return this.#answer(undefined, request);
    if (this.#due(entry)) void this.#render(entry);
    const rendering = entry.rendering;
    return entry.picture === undefined && rendering !== undefined
      ? rendering.then(() => this.#answer(entry.picture, request))
      : this.#answer(entry.picture, request);
  }

  /** Forgets every picture and waits for the ffmpeg runs going on; queued ones never run. */
  async close(): Promise<void> {
    this.#offHub?.();
    this.#offHub = undefined;
    for (const q of this.#pending.splice(0)) q.done();
    await Promise.all(this.#runs);
    this.#entries.clear();
  }

  /** `name`'s entry while it is live here (and thumbnails are on). */
  #entry(name: string): Entry | undefined {
    const stream = this.#hub.get(name);
    if (stream === undefined || this.#offHub === undefined) return undefined;
    let entry = this.#entries.get(name);
    if (entry?.stream !== stream) this.#entries.set(name, entry = { stream });
    return entry;
  }

  /** Whether `entry` should get a new picture: a newer keyframe, and none or an old one. */
  #due(entry: Entry): boolean {
    const keyframe = entry.stream.latestKeyframe;
    if (!this.#available || keyframe === undefined || keyframe === entry.rendered) return false;
    const picture = entry.picture;
    return picture === undefined ||
      this.#now() - picture.modified.getTime() >= this.#config.THUMBNAIL_SECONDS * 1000;
  }

  #answer(picture: Picture | undefined, request: Request): Response {
    if (picture === undefined) {
      return Response.json(
        { error: { code: "not_found", message: "No thumbnail for this stream" } },
        { status: 404, headers: { "Cache-Control": "no-cache" } },
      );
    }
    const headers: Record<string, string> = {
      "Content-Type": "image/jpeg",
      "Cache-Control": this.#cacheControl,
      "ETag": picture.etag,
      "Last-Modified": picture.modified.toUTCString(),
    };
    if (matchesEtag(request.headers.get("If-None-Match"), picture.etag)) {
      return new Response(null, { status: 304, headers });
    }
    headers["Content-Length"] = String(picture.jpeg.byteLength);
    return new Response(request.method === "HEAD" ? null : picture.jpeg, { status: 200, headers });
  }

  /** The run making `entry`'s next picture: the one asked for already, or a new one queued. */
  #render(entry: Entry): Promise<void> {
    entry.rendering ??= new Promise<void>((done) => {
      this.#pending.push({ entry, done });
      this.#drain();
    }).finally(() => entry.rendering = undefined);
    return entry.rendering;
  }

  #drain(): void {
    while (this.#runs.size < this.#config.THUMBNAIL_CONCURRENCY && this.#pending.length > 0) {
      const { entry, done } = this.#pending.shift()!;
      const run: Promise<void> = this.#run(entry).finally(() => {
        done();
        this.#runs.delete(run);
        this.#drain();
      });
      this.#runs.add(run);
    }
  }

  async #run(entry: Entry): Promise<void> {
    const keyframe = entry.stream.latestKeyframe;
    const avc = entry.stream.info.video?.avc;
    if (keyframe === undefined || !avc || entry.stream.ended || !this.#available) return;
    entry.rendered = keyframe;
    const name = entry.stream.info.name;
    const timeoutMs = this.#config.THUMBNAIL_TIMEOUT_SECONDS * 1000;
    try {
      const jpeg = await this.#snapshot(keyframeToAnnexB(avc, keyframe.data), {
        ffmpeg: this.#config.THUMBNAIL_FFMPEG,
        height: this.#config.THUMBNAIL_HEIGHT,
        timeoutMs,
      });
      this.#results.labels("ok").inc();
      if (this.#entries.get(name) !== entry) return;
      this.#sequence++;
      entry.picture = {
        jpeg,
        etag: `"t${Date.now().toString(36)}-${this.#sequence.toString(36)}"`,
        modified: new Date(this.#now()),
      };
    } catch (err) {
      if (err instanceof FfmpegUnavailableError) {
        this.#available = false;
        for (const q of this.#pending.splice(0)) q.done();
        this.#log.warn("thumbnails.ffmpeg_unavailable", {
          ffmpeg: this.#config.THUMBNAIL_FFMPEG,
          error: err,
          effect: "no thumbnails; streams are unaffected",
        });
        return;
      }
      this.#results.labels(err instanceof SnapshotTimeoutError ? "timeout" : "failed").inc();
      this.#log.warn("thumbnails.failed", { stream: name, error: err });
    }
  }
}
