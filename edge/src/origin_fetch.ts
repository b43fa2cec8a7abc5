/**
 * One origin request for one media file, and the check of what came back before anything
 * is cached: a segment must be whole MPEG-TS packets, a playlist must be UTF-8 that parses.
 * A truncated or garbled answer is an `OriginFetchError` with reason `invalid`, so the
 * viewers waiting on it get a 502 and it is never served again. A live playlist is put on
 * the name's timeline (`timeline.ts`) so a viewer sees one continuous stream across
 * broadcasts and origins; a finished VOD playlist is kept as the origin wrote it. Every
 * failure is counted by reason and logged once, with the origin it came from.
 */
import type { Logger } from "@cascade/common/log";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import { SEGMENT_FILE_RE, VOD_PLAYLIST_RE } from "@cascade/media/hls/layout";
import type { CachedObject } from "./cache.ts";
import { etagOf } from "./etag.ts";
import type { EdgeMetrics } from "./metrics.ts";
import { type OriginClient, OriginFetchError } from "./origin_client.ts";
import type { MediaTarget } from "./paths.ts";
import type { Source } from "./source.ts";
import { Timelines } from "./timeline.ts";

const TS_PACKET = 188;

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

export interface OriginFetcherOptions {
  client: OriginClient;
  metrics: EdgeMetrics;
  log: Logger;
  /** Wall clock, epoch milliseconds: the `fetchedAt` of what is fetched. */
  now: () => number;
  playlistTimeoutMs: number;
  segmentTimeoutMs: number;
}

export class OriginFetcher {
  readonly #opts: OriginFetcherOptions;
  readonly #timelines = new Timelines();

  constructor(opts: OriginFetcherOptions) {
    this.#opts = opts;
  }

  /** `target` from `source`'s origin, validated and ready to cache; null for a 404. */
  async fetch(target: MediaTarget, source: Source, key: string): Promise<CachedObject | null> {
    const { client, metrics } = this.#opts;
    const segment = target.kind === "segment";
    const started = performance.now();
    let body: Uint8Array<ArrayBuffer>;
    try {
      const res = await client.get(
        source.originUrl,
        `/live/${target.name}/${target.file}`,
        segment ? this.#opts.segmentTimeoutMs : this.#opts.playlistTimeoutMs,
      );
      if (res.status === 404) return null;
      body = res.body;
      if (segment) checkTransportStream(body);
    } catch (err) {
      if (err instanceof OriginFetchError) this.#failed(target, source, err);
      throw err;
    } finally {
      metrics.originSeconds(target.kind).observe((performance.now() - started) / 1000);
    }
    const fetchedAt = this.#opts.now();
    if (segment) return { body, fetchedAt, etag: etagOf(key, body.byteLength) };
    return this.#playlist(target, source, body, fetchedAt);
  }

  #playlist(
    target: MediaTarget,
    source: Source,
    body: Uint8Array<ArrayBuffer>,
    fetchedAt: number,
  ): CachedObject {
    let text: string;
    let playlist: LivePlaylist;
    try {
      text = strictDecoder.decode(body);
      playlist = parsePlaylist(text);
    } catch (err) {
      const failure = new OriginFetchError("invalid", `Origin playlist unusable: ${describe(err)}`);
      this.#failed(target, source, failure);
      throw failure;
    }
    const finished = playlist.ended && VOD_PLAYLIST_RE.test(target.file);
    // A VOD playlist is a broadcast of its own, not part of the live timeline of the name.
    const served = finished ? text : this.#timelines.apply(
      target.name,
      source.broadcast,
      source.originId,
      text,
      playlist,
      fetchedAt,
    );
    const out = served === text ? body : encoder.encode(served);
    return {
      body: out,
      text: served,
      fetchedAt,
      etag: etagOf(served, out.byteLength),
      targetDuration: playlist.targetDuration,
      ...(finished ? { finished } : oldestSegment(playlist)),
      ...(playlist.ended && !finished ? { ended: true } : {}),
    };
  }

  #failed(target: MediaTarget, source: Source, err: OriginFetchError): void {
    this.#opts.metrics.originError(err.reason).inc();
    this.#opts.log.warn("edge.origin_failed", {
      stream: target.name,
      file: target.file,
      origin: source.originId,
      reason: err.reason,
      error: err,
    });
  }
}

/** The sequence number in the file name of a live playlist's first segment, when it has one. */
function oldestSegment(playlist: LivePlaylist): { oldestSegment?: number } {
  const uri = playlist.segments[0]?.uri;
  return uri !== undefined && SEGMENT_FILE_RE.test(uri) ? { oldestSegment: parseInt(uri, 10) } : {};
}

/** Refuses a body that is not whole MPEG-TS packets: what a cut or garbled segment looks like. */
function checkTransportStream(body: Uint8Array): void {
  if (body.byteLength === 0 || body.byteLength % TS_PACKET !== 0) {
    throw new OriginFetchError(
      "invalid",
      `Origin segment is not whole MPEG-TS packets: ${body.byteLength} bytes`,
    );
  }
  for (let i = 0; i < body.byteLength; i += TS_PACKET) {
    if (body[i] !== 0x47) { // sync_byte
      throw new OriginFetchError("invalid", `Origin segment is not MPEG-TS: no sync byte at ${i}`);
    }
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
