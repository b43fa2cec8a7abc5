/**
 * One rung of one live source: a hub consumer with a bounded queue feeds an ffmpeg child
 * (FLV on stdin) and what the child writes (FLV on stdout) enters the hub as the rendition's
 * own stream, `{name}_{rung}`, which the packagers, recording and the registry then treat like
 * any broadcast. The source is never waited on: the pump awaits only ffmpeg's stdin, so a slow
 * ffmpeg fills this consumer's queue and the hub drops its frames to the next keyframe. A child
 * that exits while the source lives is restarted with exponential backoff, its first frame a
 * keyframe; the rendition's stream stays open meanwhile (its playlist just waits). The
 * rendition ends with its source, `lost` when the source's publisher was.
 */
import type { Logger } from "@cascade/common/log";
import type { CounterChild } from "@cascade/common/metrics";
import { renditionName, type Rung } from "@cascade/common/renditions";
import { flvHeader, flvTag } from "@cascade/media/flv_stream";
import { FlvHubReader } from "@cascade/stream/flv_feed";
import type { HubMessage } from "@cascade/media/frame";
import { type LiveStream, StreamBusyError, type StreamHub } from "@cascade/stream/hub";
import { ffmpegArgs } from "./ffmpeg_args.ts";

const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 10_000;
/** A child that ran this long counts as healthy: the next restart starts from the first delay. */
const HEALTHY_RUN_MS = 30_000;
const STDERR_TAIL_CHARS = 2000;

export interface RenditionDeps {
  hub: StreamHub;
  ffmpeg: string;
  preset: string;
  queueFrames: number;
  log: Logger;
  restarts: CounterChild;
}

/** One ffmpeg run: its stdin writer and whether it still takes frames. */
interface Child {
  process: Deno.ChildProcess;
  stdin: WritableStreamDefaultWriter<Uint8Array>;
  alive: boolean;
  /** Frames are held back until a video keyframe, so the child starts decodable. */
  needKey: boolean;
}

export class RenditionWorker {
  readonly name: string;
  readonly #source: LiveStream;
  readonly #rung: Rung;
  readonly #deps: RenditionDeps;
  readonly #log: Logger;
  #child: Child | undefined;
  #output: LiveStream | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  readonly done: Promise<void>;

  constructor(source: LiveStream, rung: Rung, deps: RenditionDeps) {
    this.#source = source;
    this.#rung = rung;
    this.#deps = deps;
    this.name = renditionName(source.info.name, rung);
    this.#log = deps.log.child({ stream: source.info.name, rendition: this.name });
    const sub = source.subscribe(`transcode:${rung.name}`, deps.queueFrames);
    const pump = this.#pump(sub);
    const run = this.#run();
    this.done = Promise.all([pump, run]).then(() => {});
  }

  /** The running ffmpeg's process id, if one runs. */
  get pid(): number | undefined {
    return this.#child?.alive ? this.#child.process.pid : undefined;
  }

  /** Stops the child and ends the rendition (the source's end does the same). */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#kill();
    this.#wake?.();
  }

  async #pump(sub: AsyncIterable<HubMessage>): Promise<void> {
    try {
      for await (const msg of sub) {
        if (this.#stopped) break;
        const child = this.#child;
        if (!child?.alive) continue;
        if (msg.type === "frame") {
          const f = msg.frame;
          if (child.needKey) {
            if (f.kind !== "video" || !f.keyframe) continue;
            child.needKey = false;
          }
          await this.#write(child, flvTag(msg, f.dts));
        } else {
          await this.#write(child, flvTag(msg, 0));
        }
      }
    } finally {
      this.stop();
    }
  }

  async #write(child: Child, bytes: Uint8Array): Promise<void> {
    try {
      await child.stdin.write(bytes);
    } catch {
      child.alive = false; // The child is gone; #run sees it exit and restarts it.
    }
  }

  async #run(): Promise<void> {
    let backoff = FIRST_BACKOFF_MS;
    while (!this.#stopped) {
      const started = Date.now();
      const code = await this.#runChild();
      if (this.#stopped) break;
      if (Date.now() - started > HEALTHY_RUN_MS) backoff = FIRST_BACKOFF_MS;
      this.#deps.restarts.inc();
      this.#log.warn("transcode.restart", { code, inSeconds: backoff / 1000 });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoff);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
    const output = this.#output;
    if (output) {
      this.#deps.hub.close(output, "source ended", this.#source.lost);
      this.#log.info("transcode.stop", { lost: this.#source.lost });
    }
  }

  /** Runs one ffmpeg until it exits; its exit code. */
  async #runChild(): Promise<number> {
    const process = new Deno.Command(this.#deps.ffmpeg, {
      args: ffmpegArgs(this.#rung, this.#deps.preset),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const child: Child = { process, stdin: process.stdin.getWriter(), alive: true, needKey: true };
    this.#log.info("transcode.start", { pid: process.pid, height: this.#rung.height });
    const info = this.#source.info;
    await this.#write(child, flvHeader());
    if (info.video) await this.#write(child, flvTag({ type: "config", track: info.video }, 0));
    if (info.audio) await this.#write(child, flvTag({ type: "config", track: info.audio }, 0));
    // Visible to the pump only now, so no frame goes ahead of the header and configs.
    this.#child = child;
    const stderr = tail(process.stderr);
    const output = this.#readOutput(process.stdout).catch((err) => {
      this.#log.warn("transcode.output_failed", { error: err });
      this.#kill();
    });
    const status = await process.status;
    child.alive = false;
    await output;
    const errors = await stderr;
    if (!this.#stopped) {
      this.#log.warn("transcode.exit", {
        code: status.code,
        signal: status.signal,
        stderr: errors,
      });
    }
    return status.code;
  }

  async #readOutput(stdout: ReadableStream<Uint8Array>): Promise<void> {
    const reader = new FlvHubReader();
    for await (const chunk of stdout) {
      for (const msg of reader.push(chunk)) {
        if (this.#stopped) continue;
        const out = this.#output ??= this.#open();
        if (!out) return;
        if (msg.type === "config") out.config(msg.track);
        else out.frame(msg.frame);
      }
    }
  }

  /** The rendition's hub stream; undefined (and the worker stopped) when the name is taken. */
  #open(): LiveStream | undefined {
    try {
      return this.#deps.hub.open(this.name, "transcoder");
    } catch (err) {
      if (!(err instanceof StreamBusyError)) throw err;
      this.#log.warn("transcode.name_busy", { error: err });
      this.stop();
      return undefined;
    }
  }

  #kill(): void {
    const child = this.#child;
    if (!child) return;
    child.alive = false;
    child.stdin.close().catch(() => {});
    try {
      child.process.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }
}

/** The last characters ffmpeg wrote to stderr, for the log line of an exit. */
async function tail(stderr: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of stderr) {
    text = (text + decoder.decode(chunk, { stream: true })).slice(-STDERR_TAIL_CHARS);
  }
  return text.trim();
}
