/**
 * How the edge answers: complete `EdgeReply`s with their headers and bodies. A segment
 * reply (LL-HLS init sections, parts and segments too) honours `If-None-Match`, `Range` and
 * `If-Range` (206 and 416 included) and is immutable for caches; a playlist reply is
 * cacheable for half a target duration (a VOD playlist for `VOD_PLAYLIST_SECONDS`, an LL-HLS
 * blocking answer for its origin's `max-age`, `ll.m3u8` without directives for at most 1 s,
 * a stale copy not at all) and carries the viewer's playback token on every URI when
 * playback is signed; a thumbnail reply is cacheable for what is left of its short `max-age`.
 * Errors become the JSON
 * `{error: {code, message}}` body shared by every service, an origin failure a 502 or 504
 * whose message names no origin (addresses stay in the log).
 * These functions decide nothing about where an object comes from; the edge does.
 */
import type { Logger } from "@cascade/common/log";
import { errorBody, HttpError } from "@cascade/common/http_errors";
import {
  HEADER_LIST_RE,
  matchesEtag,
  MEDIA_METHODS,
  parseRange,
  PLAYLIST_CONTENT_TYPE,
  SEGMENT_CACHE_CONTROL,
  SEGMENT_CONTENT_TYPE,
} from "@cascade/common/http_paths";
import type { CachedObject } from "./cache.ts";
import { tokenEtag } from "./etag.ts";
import { OriginFetchError } from "./origin_client.ts";
import type { MediaTarget } from "./paths.ts";
import { addTokenToUris } from "./playlist_edit.ts";
import type { EdgeReply, EdgeRequest } from "./request.ts";
import { type Got, targetSeconds, VOD_PLAYLIST_SECONDS } from "./source.ts";

const EXPOSED = "Content-Length, Content-Range, Age, ETag, X-Cache";

/** `Content-Type` of LL-HLS init sections, parts and segments (fMP4/CMAF). */
const FMP4_CONTENT_TYPE = "video/mp4";

/**
 * Longest `max-age` of `ll.m3u8` without directives: players ask it once to start, then
 * reload with directives; an older copy in a browser cache would start them further behind.
 */
const LL_PLAYLIST_MAX_AGE = 1;
const DEFAULT_ALLOWED_HEADERS = "Range, If-None-Match, If-Range";

const encoder = new TextEncoder();

/** Adds the CORS headers every reply carries; `cors` is `""` when CORS is off. */
export function withCors(reply: EdgeReply, cors: string): EdgeReply {
  if (cors !== "") {
    reply.headers["Access-Control-Allow-Origin"] = cors;
    reply.headers["Access-Control-Expose-Headers"] = EXPOSED;
  }
  return reply;
}

/** The answer to `OPTIONS` on a media path. */
export function preflightReply(req: EdgeRequest, cors: string): EdgeReply {
  const headers: Record<string, string> = { Allow: MEDIA_METHODS };
  if (cors !== "") {
    const asked = req.header("access-control-request-headers")?.trim();
    headers["Access-Control-Allow-Methods"] = MEDIA_METHODS;
    headers["Access-Control-Allow-Headers"] = asked && HEADER_LIST_RE.test(asked)
      ? asked
      : DEFAULT_ALLOWED_HEADERS;
    headers["Access-Control-Max-Age"] = "86400";
    headers["Vary"] = "Access-Control-Request-Headers";
  }
  return { status: 204, headers, body: null };
}

/**
 * A segment, whole or a range of it. `onView` hears of a GET that starts at byte 0 (a
 * player fetching the segment, not resuming it), with the segment's duration in seconds.
 */
export function segmentReply(
  req: EdgeRequest,
  target: MediaTarget,
  got: Got,
  now: number,
  onView: (seconds: number) => void,
): EdgeReply {
  const obj = got.obj!;
  const size = obj.body.byteLength;
  const headers: Record<string, string> = {
    "Content-Type": target.ll === undefined ? SEGMENT_CONTENT_TYPE : FMP4_CONTENT_TYPE,
    "Cache-Control": SEGMENT_CACHE_CONTROL,
    "Accept-Ranges": "bytes",
    "ETag": obj.etag,
    "Age": ageSeconds(now, obj),
    "X-Cache": got.result,
  };
  if (matchesEtag(req.header("if-none-match"), obj.etag)) {
    return { status: 304, headers, body: null };
  }
  let range: ReturnType<typeof parseRange> = null;
  const rangeHeader = req.header("range");
  if (rangeHeader) {
    const ifRange = req.header("if-range");
    if (!ifRange || ifRange === obj.etag) range = parseRange(rangeHeader, size);
  }
  if (range === "unsatisfiable") {
    throw new HttpError(416, "range_not_satisfiable", `Range not satisfiable: size is ${size}`, {
      headers: { "Content-Range": `bytes */${size}`, "Accept-Ranges": "bytes" },
    });
  }
  if (req.method === "GET" && (range === null || range.start === 0)) {
    onView(targetSeconds(obj, got.source));
  }
  if (range === null) {
    headers["Content-Length"] = String(size);
    return { status: 200, headers, body: req.method === "HEAD" ? null : obj.body };
  }
  const length = range.end - range.start + 1;
  headers["Content-Range"] = `bytes ${range.start}-${range.end}/${size}`;
  headers["Content-Length"] = String(length);
  const body = req.method === "HEAD" ? null : obj.body.subarray(range.start, range.end + 1);
  return { status: 206, headers, body };
}

/** A thumbnail, cacheable for as long as the edge keeps it (its origin's `max-age`, capped). */
export function pictureReply(req: EdgeRequest, got: Got, now: number): EdgeReply {
  const obj = got.obj!;
  const maxAge = Math.max(0, (obj.maxAge ?? 0) - Math.floor((now - obj.fetchedAt) / 1000));
  const headers: Record<string, string> = {
    "Content-Type": "image/jpeg",
    "Cache-Control": maxAge === 0 ? "no-cache" : `public, max-age=${maxAge}`,
    "ETag": obj.etag,
    "Age": ageSeconds(now, obj),
    "X-Cache": got.result,
  };
  if (matchesEtag(req.header("if-none-match"), obj.etag)) {
    return { status: 304, headers, body: null };
  }
  headers["Content-Length"] = String(obj.body.byteLength);
  return { status: 200, headers, body: req.method === "HEAD" ? null : obj.body };
}

/** A playlist; with `signed`, the viewer's token is added to every URI in it. */
export function playlistReply(
  req: EdgeRequest,
  target: MediaTarget,
  got: Got,
  now: number,
  signed: boolean,
): EdgeReply {
  const obj = got.obj!;
  let body = obj.body;
  let etag = obj.etag;
  if (signed && target.token !== null) {
    body = encoder.encode(addTokenToUris(obj.text ?? "", target.token));
    etag = tokenEtag(obj.etag, target.token);
  }
  const halfTarget = Math.floor(targetSeconds(obj, got.source) / 2);
  const maxAge = obj.finished ? VOD_PLAYLIST_SECONDS : obj.maxAge ??
    (target.ll === undefined ? halfTarget : Math.min(LL_PLAYLIST_MAX_AGE, halfTarget));
  const headers: Record<string, string> = {
    "Content-Type": PLAYLIST_CONTENT_TYPE,
    "Cache-Control": got.result === "STALE" || maxAge === 0
      ? "no-cache"
      : `public, max-age=${maxAge}`,
    "ETag": etag,
    "Age": ageSeconds(now, obj),
    "X-Cache": got.result,
  };
  if (matchesEtag(req.header("if-none-match"), etag)) {
    return { status: 304, headers, body: null };
  }
  headers["Content-Length"] = String(body.byteLength);
  return { status: 200, headers, body: req.method === "HEAD" ? null : body };
}

/** The JSON error reply for `err`; anything but an `HttpError` or origin failure is logged. */
export function errorReply(req: EdgeRequest, err: unknown, log: Logger): EdgeReply {
  let reply: EdgeReply;
  if (err instanceof HttpError) {
    reply = json(err.status, errorBody(err.code, err.message));
    Object.assign(reply.headers, err.headers);
  } else if (err instanceof OriginFetchError) {
    // The error names the origin's address: it was logged where it happened, viewers get
    // no internal detail.
    reply = err.reason === "timeout"
      ? json(504, errorBody("gateway_timeout", "Origin did not answer in time: retry shortly"))
      : json(502, errorBody("bad_gateway", "Origin unavailable: retry shortly"));
  } else {
    log.error("edge.unhandled_error", { method: req.method, error: err });
    reply = json(500, errorBody("internal", "Internal server error"));
  }
  if (req.method === "HEAD") reply.body = null;
  return reply;
}

function json(status: number, value: unknown): EdgeReply {
  const body = encoder.encode(JSON.stringify(value));
  return {
    status,
    headers: {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": String(body.byteLength),
      "Cache-Control": "no-cache",
    },
    body,
  };
}

function ageSeconds(now: number, obj: CachedObject): string {
  return String(Math.max(0, Math.floor((now - obj.fetchedAt) / 1000)));
}
