/**
 * Per-stream figures the dashboard shows beside the registry's view (bit rate, codecs,
 * picture size, keyframe interval, frame rate), from wherever they are known: an in-process
 * origin's stream hub (the all-in-one node), or the ingest bit rate a remote origin exports
 * on `/metrics`. (A Cascade origin also announces its figures in the stream's record.)
 */
import type { StreamHub } from "@cascade/stream/hub";

export interface StreamStats {
  /** Ingest bits per second. */
  bitrate?: number;
  /** RFC 6381 codec strings joined by commas, e.g. `avc1.64001f,mp4a.40.2`. */
  codecs?: string;
  width?: number;
  height?: number;
  /** Seconds between video keyframes, as the hub measures it. */
  keyframeInterval?: number;
  /** Video frames per second. */
  frameRate?: number;
}

/** Figures for a live stream by name; undefined when this source does not know it. */
export type StreamStatsSource = (name: string) => StreamStats | undefined;

/** Bit rates are measured over at least this long, so short bursts do not dominate. */
const MIN_WINDOW_MS = 1000;

/**
 * Figures from a stream hub in this process. The bit rate is the average since the last
 * measurement (at least a second ago), and since the publish started on the first call.
 */
export function hubStreamStats(hub: StreamHub, now: () => number = Date.now): StreamStatsSource {
  const last = new Map<string, { at: number; bytes: number; rate: number }>();
  return (name) => {
    const stream = hub.get(name);
    if (stream === undefined) {
      last.delete(name);
      return undefined;
    }
    const info = stream.info;
    const at = now();
    let sample = last.get(name);
    if (sample === undefined || info.bytes < sample.bytes) {
      const elapsed = Math.max(1, at - info.startedAt.getTime());
      sample = { at, bytes: info.bytes, rate: (info.bytes * 8000) / elapsed };
      last.set(name, sample);
    } else if (at - sample.at >= MIN_WINDOW_MS) {
      sample.rate = ((info.bytes - sample.bytes) * 8000) / (at - sample.at);
      sample.at = at;
      sample.bytes = info.bytes;
    }
    for (const gone of last.keys()) if (hub.get(gone) === undefined) last.delete(gone);
    const avc = info.video?.avc;
    return {
      bitrate: Math.round(sample.rate),
      codecs: info.codecs.length > 0 ? info.codecs.join(",") : undefined,
      width: avc?.width,
      height: avc?.height,
      keyframeInterval: info.stats.keyframeInterval ?? undefined,
      frameRate: info.stats.frameRate ?? undefined,
    };
  };
}

const INGEST_LINE_RE =
  /^cascade_ingest_bits_per_second\{(?:[^}]*,)?stream="([^"\\]*)"[^}]*\}\s+(\S+)/;

/** The per-stream ingest bit rates in an origin's Prometheus text (`/metrics`). */
export function parseIngestBitrates(text: string): Map<string, number> {
  const rates = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = INGEST_LINE_RE.exec(line);
    if (m === null) continue;
    const value = Number(m[2]);
    if (Number.isFinite(value) && value >= 0) rates.set(m[1]!, value);
  }
  return rates;
}
