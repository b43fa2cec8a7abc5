/**
 * The origin's Low-Latency HLS routes under `/live/{name}/`, as a Hono middleware the origin
 * app mounts before its file routes: `ll.m3u8` with blocking reloads (`_HLS_msn`,
 * `_HLS_part`) and delta updates (`_HLS_skip`), ending in a rendition report for each live
 * sibling rung, the multivariant `ll_master.m3u8` of a source with renditions, and the fMP4 files — init segments, parts,
 * segments — from the packager's memory, else (segments and init segments that left it) from
 * `MEDIA_ROOT/{name}/`. A blocking request waits for the part it asks for, at most three
 * target durations (then 503); the hinted next part waits for its bytes likewise (then 404);
 * any other missing file is a 404 at once. How many requests one stream may hold waiting is
 * capped by the packager (`HLS_LL_MAX_WAITERS`): beyond it, a 503 at once. Headers follow
 * docs/architecture.md ("HLS output"): playlists with directives are cacheable for 60 s,
 * since a given directive URL always gets the same answer; without, for 1 s; the files for
 * good, since their URIs are never reused; errors never.
 */
import { resolve, sep } from "node:path";
import type { Context, MiddlewareHandler } from "hono";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { errorBody, HttpError } from "@cascade/common/http_errors";
import {
  decodePathSegment,
  notFoundError,
  openRegularFile,
  PLAYLIST_CONTENT_TYPE,
  rawPath,
  SEGMENT_CACHE_CONTROL,
} from "@cascade/common/http_paths";
import { LL_MASTER_PLAYLIST, LL_PLAYLIST, parseLlFileName } from "@cascade/media/hls/layout";
import { renderRenditionReports, type RenditionReport } from "@cascade/media/hls/ll_playlist";
import {
  decideBlocking,
  type LlDirectives,
  type LlPosition,
  parseLlDirectives,
} from "@cascade/media/hls/ll_blocking";

/** Why a wait ended. */
export type WaitOutcome = "changed" | "timeout" | "aborted" | "gone" | "busy";

/** A live LL stream as the routes read it (the packager's channel). */
export interface LlSource {
  readonly partTarget: number;
  readonly targetDuration: number;
  /** The part `EXT-X-PRELOAD-HINT` names; undefined once ended. */
  readonly hint: string | undefined;
  position(): LlPosition;
  /** The current playlist, or its delta update. */
  playlist(delta: boolean): Uint8Array<ArrayBuffer>;
  /** An init segment, part or segment still in memory. */
  file(name: string): Uint8Array<ArrayBuffer> | undefined;
  /** Resolves at the next change, at `deadline` (ms), when `signal` aborts, or at once when full. */
  wait(deadline: number, signal: AbortSignal): Promise<WaitOutcome>;
}

export interface LlHttpDeps {
  mediaRoot: string;
  /** The LL stream of `name`, once it has a playlist. */
  source(name: string): LlSource | undefined;
  /** Where the other live rungs of `name`'s source stand, for its playlist's reports. */
  renditionReports?(name: string): RenditionReport[];
  /** `ll_master.m3u8` of `name`, undefined when it is not a live LL source. */
  masterPlaylist?(name: string): string | undefined;
}

/** Every `.mp4` and `.m4s` the LL playlist names. */
export const FMP4_CONTENT_TYPE = "video/mp4";
const encoder = new TextEncoder();
const DIRECTIVE_CACHE = "public, max-age=60";
const PLAYLIST_CACHE = "public, max-age=1";
const NO_STORE = { "Cache-Control": "no-store" };

/**
 * A 503 answered directly: under a flood of waiting requests these are expected, and the
 * error handler would log each one.
 */
function unavailable(message: string): Response {
  return new Response(JSON.stringify(errorBody("unavailable", message)), {
    status: 503,
    headers: { "Content-Type": "application/json", ...NO_STORE },
  });
}

function gone(): HttpError {
  return new HttpError(404, "not_found", "Not found", { headers: NO_STORE });
}

/** The middleware; requests for other files pass to the next handler. */
export function llHlsRoutes(deps: LlHttpDeps): MiddlewareHandler {
  const root = resolve(deps.mediaRoot);
  const rootPrefix = root.endsWith(sep) ? root : root + sep;
  return async (c, next) => {
    const method = c.req.method;
    const parts = rawPath(c.req.url).split("/");
    if ((method !== "GET" && method !== "HEAD") || parts.length !== 4) return next();
    const file = decodePathSegment(parts[3]!);
    const ll = parseLlFileName(file);
    const master = file === LL_MASTER_PLAYLIST;
    if (file !== LL_PLAYLIST && ll === undefined && !master) return next();
    const name = decodePathSegment(parts[2]!);
    if (!STREAM_NAME_RE.test(name)) {
      throw new HttpError(
        400,
        "invalid_stream_name",
        `Invalid stream name: must match ${STREAM_NAME_RE.source}`,
      );
    }
    if (master) {
      const text = deps.masterPlaylist?.(name);
      if (text === undefined) throw gone();
      return bytes(c, encoder.encode(text), PLAYLIST_CONTENT_TYPE, PLAYLIST_CACHE);
    }
    const source = deps.source(name);
    if (ll === undefined) {
      return await playlist(c, source, () => deps.renditionReports?.(name) ?? []);
    }
    const memory = source?.file(file);
    if (memory) return bytes(c, memory, FMP4_CONTENT_TYPE, SEGMENT_CACHE_CONTROL);
    if (ll.kind === "part") {
      if (source === undefined || source.hint !== file) throw notFoundError();
      return await hintedPart(c, source, file);
    }
    const path = resolve(root, name, file);
    if (!path.startsWith(rootPrefix)) throw notFoundError();
    return await fromDisk(c, path);
  };
}

async function playlist(
  c: Context,
  source: LlSource | undefined,
  reports: () => RenditionReport[],
): Promise<Response> {
  let d: LlDirectives;
  try {
    d = parseLlDirectives(new URL(c.req.url).searchParams);
  } catch (err) {
    throw new HttpError(400, "bad_request", (err as Error).message, { headers: NO_STORE });
  }
  if (source === undefined) throw gone();
  const deadline = Date.now() + 3 * source.targetDuration * 1000;
  for (;;) {
    const decision = decideBlocking(d, source.position(), source.partTarget);
    if (decision.action === "reject") {
      throw new HttpError(400, "bad_request", decision.message, { headers: NO_STORE });
    }
    if (decision.action === "answer") {
      const cache = d.msn === undefined ? PLAYLIST_CACHE : DIRECTIVE_CACHE;
      return bytes(c, withReports(source, d.skip, reports()), PLAYLIST_CONTENT_TYPE, cache);
    }
    const outcome = await source.wait(deadline, c.req.raw.signal);
    if (outcome === "gone") throw gone();
    if (outcome === "timeout") return unavailable("The requested part did not appear in time");
    if (outcome === "busy") return unavailable("Too many requests waiting on this stream");
    if (outcome === "aborted") return unavailable("Request aborted");
  }
}

/** The part the playlist hints at: answered when complete, else 404 as soon as it never will be. */
async function hintedPart(c: Context, source: LlSource, file: string): Promise<Response> {
  const deadline = Date.now() + 3 * source.targetDuration * 1000;
  for (;;) {
    const outcome = await source.wait(deadline, c.req.raw.signal);
    if (outcome === "busy") return unavailable("Too many requests waiting on this stream");
    if (outcome !== "changed") throw gone();
    const ready = source.file(file);
    if (ready) return bytes(c, ready, FMP4_CONTENT_TYPE, SEGMENT_CACHE_CONTROL);
    if (source.hint !== file) throw gone();
  }
}

/**
 * The playlist with `reports` appended; the cached bytes themselves when there are none (a
 * stream without renditions) or the playlist has ended (no player reloads it to switch). The
 * joined bytes are kept beside the playlist they extend until the reports change, so the
 * viewers of one part share one copy.
 */
function withReports(
  source: LlSource,
  delta: boolean,
  reports: RenditionReport[],
): Uint8Array<ArrayBuffer> {
  const playlist = source.playlist(delta);
  if (reports.length === 0 || source.position().ended) return playlist;
  const tags = renderRenditionReports(reports);
  const joined = withReportsCache.get(playlist);
  if (joined?.tags === tags) return joined.bytes;
  const encoded = encoder.encode(tags);
  const bytes = new Uint8Array(playlist.byteLength + encoded.byteLength);
  bytes.set(playlist);
  bytes.set(encoded, playlist.byteLength);
  withReportsCache.set(playlist, { tags, bytes });
  return bytes;
}

/** By playlist bytes (a new object at each change): those bytes with the last reports joined. */
const withReportsCache = new WeakMap<
  Uint8Array,
  { tags: string; bytes: Uint8Array<ArrayBuffer> }
>();

function bytes(c: Context, body: Uint8Array<ArrayBuffer>, type: string, cache: string): Response {
  const headers = {
    "Content-Type": type,
    "Cache-Control": cache,
    "Content-Length": String(body.byteLength),
  };
  return new Response(c.req.method === "HEAD" ? null : body, { status: 200, headers });
}

async function fromDisk(c: Context, path: string): Promise<Response> {
  try {
    const { file, info } = await openRegularFile(path);
    const headers = {
      "Content-Type": FMP4_CONTENT_TYPE,
      "Cache-Control": SEGMENT_CACHE_CONTROL,
      "Content-Length": String(info.size),
    };
    if (c.req.method === "HEAD") {
      file.close();
      return new Response(null, { status: 200, headers });
    }
    return new Response(file.readable, { status: 200, headers });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      throw notFoundError();
    }
    throw err;
  }
}
