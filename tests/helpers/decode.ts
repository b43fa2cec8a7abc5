/**
 * Decoding and probing media with the real ffmpeg and ffprobe, the judges of what Cascade
 * writes and serves: a whole file or playlist decoded to nothing (clean output prints nothing
 * at `-v error`), its duration and packets as ffprobe sees them, and a viewer that decodes a
 * live URL for some seconds while reporting its progress.
 */
import assert from "node:assert/strict";
import { runChecked, TestProcess } from "./process.ts";
import { waitFor } from "./wait.ts";

export interface DecodeOptions {
  /** Directory relative inputs are read from. */
  cwd?: string;
  /** Options placed before `-i`, e.g. `["-live_start_index", "0"]`. */
  inputArgs?: string[];
  /** Stop after this many seconds of output. */
  seconds?: number;
}

/**
 * Decodes `input` (a file or URL) with ffmpeg to nothing; fails unless ffmpeg exits 0 and
 * returns what it printed at `-v error`, which is empty for clean media.
 */
export async function decodeErrors(input: string, opts: DecodeOptions = {}): Promise<string> {
  const args = ["-v", "error", ...opts.inputArgs ?? [], "-i", input];
  if (opts.seconds !== undefined) args.push("-t", String(opts.seconds));
  const r = await runChecked("ffmpeg", [...args, "-f", "null", "-"], { cwd: opts.cwd });
  return r.stderr;
}

/** Runs ffprobe at `-v error`; fails unless it exits 0; returns its stdout and complaints. */
export async function probe(
  input: string,
  args: string[] = [],
  opts: { cwd?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  return await runChecked("ffprobe", ["-hide_banner", "-v", "error", ...args, input], opts);
}

/** ffprobe's JSON output (`-of json`) for `input` with `args`, e.g. `-show_streams`. */
export async function probeJson(
  input: string,
  ...args: string[]
): Promise<Record<string, unknown>> {
  return JSON.parse((await probe(input, ["-of", "json", ...args])).stdout);
}

/** The codec names (sorted) and container duration, seconds, ffprobe reports for `input`. */
export async function probeStreams(input: string): Promise<{ codecs: string[]; seconds: number }> {
  const info = await probeJson(input, "-show_entries", "format=duration:stream=codec_name") as {
    streams: { codec_name: string }[];
    format: { duration: string };
  };
  return {
    codecs: info.streams.map((s) => s.codec_name).sort(),
    seconds: Number(info.format.duration),
  };
}

/** The container duration ffprobe reports for `input`, seconds. */
export async function probeDuration(input: string, opts: { cwd?: string } = {}): Promise<number> {
  const { stdout } = await probe(
    input,
    ["-show_entries", "format=duration", "-of", "csv=p=0"],
    opts,
  );
  return Number(stdout.trim());
}

/** Decodes all of `input` and probes its duration: `errors` is empty for clean media. */
export async function decodeWhole(input: string): Promise<{ errors: string; seconds: number }> {
  const errors = await decodeErrors(input);
  return { errors, seconds: await probeDuration(input) };
}

/** ffmpeg reading `url` and decoding up to `seconds` of it, reporting progress as it goes. */
export class Viewer implements AsyncDisposable {
  readonly process: TestProcess;

  constructor(readonly url: string, seconds: number) {
    this.process = new TestProcess("ffmpeg", {
      args: [
        ...["-hide_banner", "-nostats", "-v", "error", "-progress", "pipe:1"],
        ...["-i", url, "-t", String(seconds), "-f", "null", "-"],
      ],
    });
  }

  /** Seconds of media decoded so far, from ffmpeg's `-progress` reports. */
  get decodedSeconds(): number {
    const times = [...this.process.output.matchAll(/^out_time_us=(\d+)$/gm)];
    const last = times.at(-1);
    return last ? Number(last[1]) / 1e6 : 0;
  }

  /** Waits for ffmpeg to finish; fails unless it exited 0, returns the seconds decoded. */
  async finished(timeoutMs: number): Promise<number> {
    const status = await waitFor(
      `ffmpeg to finish decoding ${this.url}`,
      () => this.process.exited && this.process.status,
      { timeoutMs, intervalMs: 100 },
    );
    assert.equal(status.code, 0, `ffmpeg failed on ${this.url}:\n${this.process.output}`);
    return this.decodedSeconds;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.process.stop("SIGKILL");
  }
}

/** Decodes up to `seconds` of a live `url` with ffmpeg and returns the seconds decoded. */
export async function decodeLive(url: string, seconds: number): Promise<number> {
  await using viewer = new Viewer(url, seconds);
  return await viewer.finished(seconds * 1000 + 30_000);
}
