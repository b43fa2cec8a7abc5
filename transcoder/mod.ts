/**
 * The transcoder as it runs beside an origin's packager on the same hub: every broadcast whose
 * profile (its stream config's `transcode`, else `TRANSCODE_PROFILE`) names rungs below the
 * source's height gets one `RenditionWorker` per rung, each making stream `{name}_{rung}`. The
 * source itself is never touched: the workers are hub consumers like the packager. ffmpeg is
 * checked once, when the first broadcast asks for renditions (a start spawns nothing: an idle
 * origin holds no process machinery, ~1 MiB); where it (with libx264) cannot run, the
 * transcoder says so once (`transcode.unavailable`, and `cascade_transcode_available 0`) and
 * does nothing else. See docs/architecture.md, "Adaptive bitrate".
 */
import type { Logger } from "@cascade/common/log";
import type { CounterChild, MetricsRegistry } from "@cascade/common/metrics";
import { isRendition, parseProfile, renditionsFit, type Rung } from "@cascade/common/renditions";
import type { LiveStream, StreamHub } from "@cascade/stream/hub";
import type { TranscoderConfig } from "./config.ts";
import { RenditionWorker } from "./rendition.ts";

export { type TranscoderConfig, transcoderConfigSchema } from "./config.ts";

export interface TranscoderDeps {
  hub: StreamHub;
  log: Logger;
  metrics: MetricsRegistry;
  /** Where a stream's own profile is read (`transcode` of its stream config). */
  registry?: { getStreamConfig(name: string): Promise<{ transcode?: string } | null> };
}

export class Transcoder {
  readonly #config: TranscoderConfig;
  readonly #deps: TranscoderDeps;
  readonly #log: Logger;
  readonly #workers = new Map<string, RenditionWorker[]>();
  readonly #restarts: CounterChild;
  readonly #unlisten: () => void;
  #check: Promise<boolean> | undefined;
  #available = true;

  private constructor(config: TranscoderConfig, deps: TranscoderDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#log = deps.log.child({ component: "transcoder" });
    const metrics = deps.metrics;
    metrics.gauge(
      "cascade_transcode_available",
      "0 once the transcoder's ffmpeg (with libx264) was found unable to run, else 1",
    ).collect(() => this.#available ? 1 : 0);
    metrics.gauge("cascade_transcode_renditions", "Renditions whose ffmpeg is running")
      .collect(() => this.pids().length);
    this.#restarts = metrics.counter(
      "cascade_transcode_restarts_total",
      "Rendition ffmpeg children restarted after they exited",
    ).labels();
    this.#unlisten = deps.hub.on((e) => {
      if (e.type === "publish.start" && !isRendition(e.stream.info.name)) {
        this.#begin(e.stream).catch((err) =>
          this.#log.error("transcode.start_failed", { stream: e.stream.info.name, error: err })
        );
      }
    });
  }

  /** Transcodes every broadcast that starts on the hub from now on. */
  static start(config: TranscoderConfig, deps: TranscoderDeps): Promise<Transcoder> {
    return Promise.resolve(new Transcoder(config, deps));
  }

  /** False once ffmpeg was found unable to make renditions (`check()`); true before. */
  get available(): boolean {
    return this.#available;
  }

  /**
   * Whether ffmpeg (with libx264) can make renditions, found out on the first call (the first
   * broadcast asking for renditions, or a caller wanting to know at once) and remembered.
   */
  check(): Promise<boolean> {
    return this.#check ??= unavailableReason(this.#config.TRANSCODE_FFMPEG).then((why) => {
      if (why === undefined) return true;
      this.#available = false;
      this.#log.warn("transcode.unavailable", {
        ffmpeg: this.#config.TRANSCODE_FFMPEG,
        error: why,
        effect: "no renditions; sources are packaged as usual",
      });
      return false;
    });
  }

  /** Process ids of the running ffmpeg children (for operators' tools and tests). */
  pids(): number[] {
    const out: number[] = [];
    for (const workers of this.#workers.values()) {
      for (const w of workers) if (w.pid !== undefined) out.push(w.pid);
    }
    return out;
  }

  /** Stops every rendition (the origin calls this after its broadcasts have ended). */
  async close(): Promise<void> {
    this.#unlisten();
    const all = [...this.#workers.values()].flat();
    for (const w of all) w.stop();
    await Promise.all(all.map((w) => w.done));
  }

  async #begin(source: LiveStream): Promise<void> {
    const name = source.info.name;
    const profile = await this.#profileOf(name);
    if (profile === "none" || !await this.check()) return;
    const height = await videoHeight(source);
    if (height === null) return; // ended before any video: nothing to scale
    const rungs = parseProfile(profile).filter((r) => r.height < height);
    if (rungs.length === 0 || source.ended) return;
    if (!renditionsFit(name, rungs)) {
      this.#log.warn("transcode.name_too_long", { stream: name });
      return;
    }
    this.#run(source, rungs);
  }

  #run(source: LiveStream, rungs: Rung[]): void {
    const name = source.info.name;
    const workers = rungs.map((rung) =>
      new RenditionWorker(source, rung, {
        hub: this.#deps.hub,
        ffmpeg: this.#config.TRANSCODE_FFMPEG,
        preset: this.#config.TRANSCODE_PRESET,
        queueFrames: this.#config.TRANSCODE_QUEUE_FRAMES,
        log: this.#log,
        restarts: this.#restarts,
      })
    );
    this.#workers.set(name, workers);
    this.#log.info("transcode.ladder", { stream: name, rungs: rungs.map((r) => r.name) });
    Promise.all(workers.map((w) => w.done)).then(() => {
      if (this.#workers.get(name) === workers) this.#workers.delete(name);
    });
  }

  /** The stream's own profile when its stream config has one, else `TRANSCODE_PROFILE`. */
  async #profileOf(name: string): Promise<string> {
    try {
      const own = (await this.#deps.registry?.getStreamConfig(name))?.transcode;
      if (own !== undefined) return own;
    } catch (err) {
      this.#log.warn("transcode.config_unreadable", { stream: name, error: err });
    }
    return this.#config.TRANSCODE_PROFILE;
  }
}

/** `Transcoder.start`, for composition roots. */
export function startTranscoder(
  config: TranscoderConfig,
  deps: TranscoderDeps,
): Promise<Transcoder> {
  return Transcoder.start(config, deps);
}

/**
 * The source's coded height once its video config arrives (Infinity when its SPS does not say);
 * null when the broadcast ends first.
 */
async function videoHeight(source: LiveStream): Promise<number | null> {
  const sub = source.subscribe("transcode:probe", 16);
  try {
    for await (const msg of sub) {
      if (msg.type === "config" && msg.track.kind === "video") {
        return msg.track.avc.height ?? Infinity;
      }
    }
    return null;
  } finally {
    sub.close();
  }
}

/** Why ffmpeg cannot make renditions, or undefined when it can. */
async function unavailableReason(ffmpeg: string): Promise<string | undefined> {
  try {
    const out = await new Deno.Command(ffmpeg, {
      args: ["-hide_banner", "-encoders"],
      stdout: "piped",
      stderr: "null",
    }).output();
    if (!out.success) return `ffmpeg -encoders exited with code ${out.code}`;
    if (!new TextDecoder().decode(out.stdout).includes("libx264")) {
      return "ffmpeg has no libx264 encoder";
    }
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
