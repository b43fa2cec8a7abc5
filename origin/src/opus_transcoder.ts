/**
 * Opus → AAC for browser publishers whose browser cannot encode AAC: an `ffmpeg` child per
 * session is fed an Ogg Opus stream (one packet per page, so ffmpeg sees each packet as it
 * arrives) on stdin and writes ADTS on stdout, whose frames enter the hub as AAC on the
 * session's timeline (the first Opus packet's time + n × 1024 / sampleRate). ffmpeg missing
 * (`WS_INGEST_FFMPEG` not found) is logged once per process and the session goes on
 * video-only; a child that fails is logged and its session loses audio, never more; the
 * child is killed when the session ends.
 */
import type { Logger } from "@cascade/common/log";
import { AdtsReader } from "@cascade/media/adts";
import { MAX_PAGE_PACKET_BYTES, OGG_FLAGS, writeOggPage } from "@cascade/media/ogg/page";
import { opusHead, opusPacketSamples, opusTags } from "@cascade/media/ogg/opus";
import type { AudioTranscoder, TranscoderFactory, TranscoderSink } from "./ws_session.ts";

/** Samples per AAC-LC frame. */
const AAC_FRAME_SAMPLES = 1024;
/** Bytes written to ffmpeg and not yet taken: past this, packets are dropped (ffmpeg stalled). */
const MAX_PENDING_BYTES = 1024 * 1024;
/** Characters of ffmpeg's stderr kept for the log line when it fails. */
const STDERR_TAIL_CHARS = 2000;

/** ffmpeg's arguments: Ogg Opus in, ADTS AAC out, nothing buffered that need not be. */
const FFMPEG_ARGS = [
  "-hide_banner",
  "-loglevel",
  "error",
  "-fflags",
  "nobuffer",
  "-flags",
  "low_delay",
  "-probesize",
  "32",
  "-analyzeduration",
  "0",
  "-f",
  "ogg",
  "-i",
  "pipe:0",
  "-c:a",
  "aac",
  "-b:a",
  "128k",
  "-flush_packets",
  "1",
  "-f",
  "adts",
  "pipe:1",
];

/**
 * A factory of transcoders running `ffmpeg`; returns null (and says so in the log, once)
 * when the program cannot be started.
 */
export function opusTranscoders(ffmpeg: string, log: Logger): TranscoderFactory {
  let warned = false;
  return (input, sink) => {
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(ffmpeg, {
        args: FFMPEG_ARGS,
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      if (!warned) {
        warned = true;
        log.warn("ws_ingest.ffmpeg_unavailable", {
          ffmpeg,
          error: err,
          effect: "browser publishers sending Opus go on video-only",
        });
      }
      return null;
    }
    return new OpusTranscoder(child, input, sink, log);
  };
}

class OpusTranscoder implements AudioTranscoder {
  readonly #child: Deno.ChildProcess;
  readonly #sink: TranscoderSink;
  readonly #log: Logger;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  readonly #serial = crypto.getRandomValues(new Uint32Array(1))[0]!;
  #sequence = 0;
  #granule = 0n;
  #pendingBytes = 0;
  #dropped = 0;
  #startMs: number | undefined;
  #closed = false;
  #stderr = "";

  constructor(
    child: Deno.ChildProcess,
    input: { sampleRate: number; channels: 1 | 2 },
    sink: TranscoderSink,
    log: Logger,
  ) {
    this.#child = child;
    this.#sink = sink;
    this.#log = log;
    this.#stdin = child.stdin.getWriter();
    this.#write(OGG_FLAGS.BOS, [opusHead(input.channels, input.sampleRate)]);
    this.#write(0, [opusTags("cascade")]);
    this.#readOutput().catch((err) => this.#fail(`Cannot read ffmpeg's output: ${err.message}`));
    this.#readErrors().catch(() => {});
    child.status.then((status) => {
      if (!this.#closed) this.#fail(`ffmpeg exited with code ${status.code}`);
    });
  }

  push(packet: Uint8Array, dtsMs: number): void {
    if (this.#closed) return;
    let samples: number;
    try {
      samples = opusPacketSamples(packet);
    } catch {
      return; // An empty packet carries nothing to decode.
    }
    if (packet.length > MAX_PAGE_PACKET_BYTES || this.#pendingBytes > MAX_PENDING_BYTES) {
      if (this.#dropped++ === 0) this.#log.warn("ws_ingest.opus_dropped", { bytes: packet.length });
      return;
    }
    this.#startMs ??= dtsMs;
    this.#granule += BigInt(samples);
    this.#write(0, [packet]);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
  }

  #write(flags: number, packets: Uint8Array[]): void {
    const page = writeOggPage({
      flags,
      granulePosition: this.#granule,
      serial: this.#serial,
      sequence: this.#sequence++,
      packets,
    });
    this.#pendingBytes += page.length;
    this.#stdin.write(page).then(
      () => (this.#pendingBytes -= page.length),
      () => {}, // The child is gone: its exit is reported once, by `status`.
    );
  }

  async #readOutput(): Promise<void> {
    const reader = new AdtsReader();
    let frames = 0;
    let configured = false;
    for await (const chunk of this.#child.stdout) {
      if (this.#closed) return;
      for (const { config, data } of reader.push(chunk)) {
        if (!configured) {
          configured = true;
          this.#sink.config({ kind: "audio", codec: "aac", aac: config });
        }
        const dts = (this.#startMs ?? 0) +
          Math.round((frames++ * AAC_FRAME_SAMPLES * 1000) / config.sampleRate);
        this.#sink.frame({ kind: "audio", codec: "aac", dts, pts: dts, keyframe: true, data });
      }
    }
  }

  async #readErrors(): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of this.#child.stderr) {
      this.#stderr = (this.#stderr + decoder.decode(chunk, { stream: true }))
        .slice(-STDERR_TAIL_CHARS);
    }
  }

  #fail(reason: string): void {
    if (this.#closed) return;
    this.close();
    this.#log.warn("ws_ingest.transcoder_failed", { reason, stderr: this.#stderr.trim() });
    this.#sink.failed("Audio transcoding stopped: the stream goes on video-only");
  }
}
