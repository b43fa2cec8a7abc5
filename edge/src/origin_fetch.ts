/**
 * One origin request for one media file, and the check of what came back before anything
 * is cached: a segment must be whole MPEG-TS packets, an LL-HLS init section, part or
 * segment whole MP4 boxes of the right kind, a playlist UTF-8 that parses.
 * A truncated or garbled answer is an `OriginFetchError` with reason `invalid`, so the
 * viewers waiting on it get a 502 and it is never served again. A live playlist is put on
 * the name's timeline (`timeline.ts`) so a viewer sees one continuous stream across
 * broadcasts and origins; a finished VOD playlist, and every `ll.m3u8` (whose sequence
 * numbers the blocking directives of players refer to), is kept as the origin wrote it.
 * Every failure is counted by reason and logged once, with the origin it came from.
 *
 * LL-HLS requests the origin holds (blocking playlist reloads, the hinted part) get a
 * deadline beyond the origin's own hold of three target durations, and the origin's 400,
 * 404 and 503 answers to LL-HLS requests are the viewers' answers (never cached, `no-store`):
 * they say "not yet" or "not like this", not that the origin failed.
 */
import type { Logger } from "@cascade/common/log";
import { HttpError } from "@cascade/common/http_errors";
import { boxes } from "@cascade/media/mp4/reader";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import {
  LL_MASTER_PLAYLIST,
  MASTER_PLAYLIST,
  SEGMENT_FILE_RE,
  VOD_PLAYLIST_RE,
} from "@cascade/media/hls/layout";
import type { CachedObject } from "./cache.ts";
import { etagOf } from "./etag.ts";
import type { EdgeMetrics } from "./metrics.ts";
import { type OriginClient, OriginFetchError } from "./origin_client.ts";
import { fileKind, type MediaTarget } from "./paths.ts";
import type { Source } from "./source.ts";
import { Timelines } from "./timeline.ts";

const TS_PACKET = 188;

/** Target duration assumed for a hold deadline when the registry gives none: the highest. */
const MAX_TARGET_SECONDS = 12;

/** Target durations an origin holds a blocking request at most (RFC 8216bis §6.2.5.2). */
const HOLD_TARGETS = 3;

/** Default of `OriginFetcherOptions.holdMarginMs` (`EDGE_HOLD_MARGIN_MS`). */
export const DEFAULT_HOLD_MARGIN_MS = 2000;

/** Boxes an fMP4 part or segment may start with (ISO/IEC 14496-12 §8.16, §8.8.4). */
const FRAGMENT_FIRST_BOXES = new Set(["styp", "sidx", "prft", "emsg", "moof"]);

/** Origin statuses that answer an LL-HLS request as they are, with their error code. */
const PASSED_STATUSES = new Map<number, [400 | 404 | 503, string, string]>([
  [400, [400, "bad_request", "Origin refused the request"]],
  [404, [404, "not_found", "Not found on origin"]],
  [503, [503, "not_ready", "Origin had no update in time: retry"]],
]);

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
  /** Time allowed beyond the origin's hold of 3 target durations (`holdTimeoutMs`). */
  holdMarginMs: number;
}

/**
 * The deadline of a request the origin may hold (a blocking reload, the hinted part): the
 * origin answers within 3 target durations (503 or 404 then), so the edge waits that long
 * plus `marginMs` and never gives up before the origin does.
 */
export function holdTimeoutMs(targetDuration: number, marginMs: number): number {
  const target = targetDuration > 0 ? targetDuration : MAX_TARGET_SECONDS;
  return HOLD_TARGETS * target * 1000 + marginMs;
}

/** The `max-age` of a `Cache-Control` value, seconds; 0 when absent or not to be stored. */
export function maxAgeSeconds(cacheControl: string | null): number {
  if (cacheControl === null || /no-store|no-cache|private/i.test(cacheControl)) return 0;
  const m = /(?:^|[,\s])max-age\s*=\s*"?(\d{1,9})"?/i.exec(cacheControl);
  return m === null ? 0 : Number(m[1]);
}

/**
 * Longest time a thumbnail is served from the cache, whatever its origin says: pictures are
 * renewed every few seconds and a dashboard should not show one much older.
 */
export const THUMBNAIL_MAX_AGE_SECONDS = 5;

/** Broadcasts whose `PART-TARGET` is remembered at once; the oldest go first beyond it. */
const MAX_PART_TARGETS = 4096;

const PART_TARGET_RE = /^#EXT-X-PART-INF:(?:.*,)?PART-TARGET=(\d+(?:\.\d+)?)/m;

export class OriginFetcher {
  readonly #opts: OriginFetcherOptions;
  readonly #timelines = new Timelines();
  /**
   * The `PART-TARGET` of each broadcast's last `ll.m3u8`: the media seconds a part stands
   * for when viewers are counted (`load.ts`), as a segment stands for its target duration.
   */
  readonly #partTargets = new Map<string, number>();

  constructor(opts: OriginFetcherOptions) {
    this.#opts = opts;
  }

  /**
   * `target` from `source`'s origin, validated and ready to cache; null for a 404 (an
   * LL-HLS request's 400, 404 and 503 are thrown as the `HttpError` viewers get).
   */
  async fetch(target: MediaTarget, source: Source, key: string): Promise<CachedObject | null> {
    const { client, metrics } = this.#opts;
    const segment = target.kind === "segment";
    const kind = fileKind(target);
    const held = kind === "blocking_playlist" || kind === "part";
    const directives = target.ll?.directives ?? "";
    const started = performance.now();
    let body: Uint8Array<ArrayBuffer>;
    let cacheControl: string | null;
    metrics.originRequest(kind).inc();
    try {
      const res = await client.get(
        source.originUrl,
        `/live/${target.name}/${target.file}${directives === "" ? "" : `?${directives}`}`,
        held
          ? Math.max(
            this.#opts.playlistTimeoutMs,
            holdTimeoutMs(source.targetDuration, this.#opts.holdMarginMs),
          )
          : segment
          ? this.#opts.segmentTimeoutMs
          : this.#opts.playlistTimeoutMs,
        held,
      );
      if (res.status === 404) {
        if (target.ll !== undefined) throw passedThrough(404, target);
        return null;
      }
      body = res.body;
      cacheControl = res.cacheControl;
      if (target.ll !== undefined && segment) checkFragmentedMp4(body, target.ll.kind === "init");
      else if (target.picture) checkJpeg(body);
      else if (segment) checkTransportStream(body);
    } catch (err) {
      if (target.ll !== undefined && err instanceof OriginFetchError && err.reason === "status") {
        const passed = err.status === undefined ? undefined : PASSED_STATUSES.get(err.status);
        if (passed !== undefined) throw passedThrough(passed[0], target);
      }
      if (err instanceof OriginFetchError) this.#failed(target, source, err);
      throw err;
    } finally {
      metrics.originSeconds(kind).observe((performance.now() - started) / 1000);
    }
    const fetchedAt = this.#opts.now();
    if (target.picture) {
      const maxAge = Math.min(maxAgeSeconds(cacheControl), THUMBNAIL_MAX_AGE_SECONDS);
      // The same key names a new picture after each fetch: the fetch time tells them apart.
      return { body, fetchedAt, etag: etagOf(`${key}@${fetchedAt}`, body.byteLength), maxAge };
    }
    if (segment) {
      const partTarget = target.ll?.kind === "part"
        ? this.#partTargets.get(source.broadcast)
        : undefined;
      const obj: CachedObject = { body, fetchedAt, etag: etagOf(key, body.byteLength) };
      if (partTarget !== undefined) obj.targetDuration = partTarget;
      return obj;
    }
    const obj = this.#playlist(target, source, body, fetchedAt);
    if (target.ll?.blocking) obj.maxAge = maxAgeSeconds(cacheControl);
    return obj;
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
      // A multivariant playlist lists no segments: it is passed on as the origin made it.
      if (target.file === MASTER_PLAYLIST || target.file === LL_MASTER_PLAYLIST) {
        if (!text.startsWith("#EXTM3U")) throw new SyntaxError("Cannot parse playlist: no #EXTM3U");
        return { body, text, fetchedAt, etag: etagOf(text, body.byteLength) };
      }
      playlist = parsePlaylist(text);
    } catch (err) {
      const failure = new OriginFetchError("invalid", `Origin playlist unusable: ${describe(err)}`);
      this.#failed(target, source, failure);
      throw failure;
    }
    const finished = playlist.ended && VOD_PLAYLIST_RE.test(target.file);
    // A VOD playlist is a broadcast of its own, not part of the live timeline of the name;
    // renumbering `ll.m3u8` would break the players' `_HLS_msn` against the origin's.
    const served = finished || target.ll !== undefined ? text : this.#timelines.apply(
      target.name,
      source.broadcast,
      source.originId,
      text,
      playlist,
      fetchedAt,
    );
    const partTarget = target.ll === undefined ? null : PART_TARGET_RE.exec(text);
    if (partTarget) {
      this.#partTargets.delete(source.broadcast);
      this.#partTargets.set(source.broadcast, Number(partTarget[1]));
      if (this.#partTargets.size > MAX_PART_TARGETS) {
        this.#partTargets.delete(this.#partTargets.keys().next().value!);
      }
    }
    const out = served === text ? body : encoder.encode(served);
    return {
      body: out,
      text: served,
      fetchedAt,
      etag: etagOf(served, out.byteLength),
      targetDuration: playlist.targetDuration,
      ...(finished
        ? { finished }
        : target.ll !== undefined
        ? { oldestSegment: playlist.mediaSequence }
        : oldestSegment(playlist)),
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

/** The viewers' answer to an LL-HLS request the origin answered with `status`. */
function passedThrough(status: 400 | 404 | 503, target: MediaTarget): HttpError {
  const [, code, message] = PASSED_STATUSES.get(status)!;
  return new HttpError(status, code, `${message}: ${target.file}`, {
    headers: { "Cache-Control": "no-store" },
  });
}

/**
 * Refuses a body that is not whole MP4 boxes starting with `ftyp` (an init section) or
 * with a box a media fragment starts with (a part or segment): what a cut or garbled one
 * looks like.
 */
function checkFragmentedMp4(body: Uint8Array, init: boolean): void {
  const what = init ? "init section" : "fragment";
  let first: string | undefined;
  let end = 0;
  try {
    for (const box of boxes(body)) {
      first ??= box.type;
      end = box.end;
      if (end > body.byteLength) break;
    }
  } catch (err) {
    throw new OriginFetchError("invalid", `Origin ${what} is not MP4: ${describe(err)}`);
  }
  if (first === undefined || end !== body.byteLength) {
    throw new OriginFetchError(
      "invalid",
      `Origin ${what} is not whole MP4 boxes: ${end} of ${body.byteLength} bytes`,
    );
  }
  if (init ? first !== "ftyp" : !FRAGMENT_FIRST_BOXES.has(first)) {
    throw new OriginFetchError("invalid", `Origin ${what} starts with an unexpected box: ${first}`);
  }
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

/** Refuses a thumbnail that does not start with a JPEG SOI marker (FF D8). */
function checkJpeg(body: Uint8Array): void {
  if (body.byteLength < 2 || body[0] !== 0xff || body[1] !== 0xd8) {
    throw new OriginFetchError(
      "invalid",
      `Origin thumbnail is not a JPEG: ${body.byteLength} bytes`,
    );
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
