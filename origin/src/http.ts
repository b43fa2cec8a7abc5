/**
 * The origin's HTTP face: serves the HLS files the packager writes under
 * `MEDIA_ROOT/{name}/` as `/live/{name}/{file}`, plus `/healthz` and `/metrics`. Pure
 * composition: `createOriginApp` returns a Hono app and never listens. Every request path is
 * decoded exactly once and checked against the stream-name and file-name rules before any
 * file system call; the resolved path must still lie under the media root, and a symlink
 * there is refused (`openRegularFile`), so no link can lead out of it. A live playlist the
 * packager holds in memory is answered from there, without touching the disk. Bodies stream
 * from the open file (`FsFile.readable`, the fast path measured in bench/README.md), and
 * a byte range streams only its slice, so no segment is ever read whole into memory.
 */
import { resolve, sep } from "node:path";
import { type Context, Hono, type MiddlewareHandler } from "hono";
import { HttpError, jsonErrorHandler, jsonNotFound } from "@cascade/common/http_errors";
import {
  badPathError,
  type ByteRange,
  decodePathSegment,
  fileSlice,
  HEADER_LIST_RE,
  matchesEtag,
  MEDIA_METHODS,
  notFoundError,
  openRegularFile,
  parseMediaPath,
  parseRange,
  PLAYLIST_CONTENT_TYPE,
  rawPath,
  SEGMENT_CACHE_CONTROL,
  SEGMENT_CONTENT_TYPE,
  statRegularFile,
} from "@cascade/common/http_paths";
import type { CounterChild, MetricsRegistry } from "@cascade/common/metrics";
import { createOpsApp } from "@cascade/common/ops";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { LIVE_PLAYLIST, MASTER_PLAYLIST } from "@cascade/media/hls/layout";

export interface OriginHttpDeps {
  /** The origin's node id, reported by `/healthz`. */
  id: string;
  /** Directory holding one folder per stream (`{name}/index.m3u8`, `{seq}.ts`). */
  mediaRoot: string;
  /** `Access-Control-Allow-Origin` value; `"*"` when omitted, no CORS headers when `""`. */
  corsOrigin?: string;
  /** Playlist `max-age`; at most half a target duration, `0` means `no-cache`. */
  playlistMaxAgeSeconds: number;
  metrics: MetricsRegistry;
  /** Liveness for `/healthz` (lib/common/ops.ts); healthy when omitted. */
  healthy?: () => boolean;
  /**
   * The live playlist of `name` as the packager last wrote it, when it holds it in memory:
   * served without touching the disk (each file request costs several blocking file-system
   * ops, ~450 µs of CPU here, against ~80 µs for an answer from memory).
   */
  livePlaylist?: (name: string) => MemoryPlaylist | undefined;
  /** The multivariant playlist of `name` (`master.m3u8`), undefined when it is not live. */
  masterPlaylist?: (name: string) => string | undefined;
  /** Low-Latency HLS routes (`ll.m3u8` and its fMP4 files), tried first (`ll_http.ts`). */
  llHls?: MiddlewareHandler;
  /**
   * Files of `/live/{name}/` that an extension answers (e.g. `thumb.jpg`), asked with the
   * checked name and file before the media rules; undefined passes the request on.
   */
  liveFile?: (
    name: string,
    file: string,
    request: Request,
  ) => Response | Promise<Response> | undefined;
}

/** A playlist held in memory, exactly the bytes of the file next to it. */
export interface MemoryPlaylist {
  bytes: Uint8Array<ArrayBuffer>;
  /** Strong validator, quoted. */
  etag: string;
  modified: Date;
}

const EXPOSED = "Content-Length, Content-Range, Age";
const DEFAULT_ALLOWED_HEADERS = "Range, If-None-Match";

interface MediaFile {
  path: string;
  contentType: string;
  cacheControl: string;
  ranges: boolean;
  /** The stream name, when the file is its live playlist. */
  live?: string;
  /** The stream name, when the file is its multivariant playlist. */
  master?: string;
}

/** Builds the origin's Hono app; see the module comment. */
export function createOriginApp(deps: OriginHttpDeps): Hono {
  const root = resolve(deps.mediaRoot);
  const rootPrefix = root.endsWith(sep) ? root : root + sep;
  const corsOrigin = deps.corsOrigin ?? "*";
  const maxAge = deps.playlistMaxAgeSeconds;
  if (!Number.isFinite(maxAge) || maxAge < 0) {
    throw new RangeError(`Invalid playlistMaxAgeSeconds: ${maxAge}`);
  }
  const playlistCache = Math.floor(maxAge) > 0
    ? `public, max-age=${Math.floor(maxAge)}`
    : "no-cache";
  const healthy = deps.healthy ?? (() => true);
  const registry = deps.metrics;
  const requests = registry.counter(
    "cascade_http_requests_total",
    "HTTP responses sent, by status code",
    ["status"],
  );
  const bytesOut = registry.counter(
    "cascade_http_bytes_out_total",
    "HTTP response body bytes sent, as announced by Content-Length",
  ).labels();
  const byStatus = new Map<number, CounterChild>();
  const countStatus = (status: number): CounterChild => {
    let child = byStatus.get(status);
    if (child === undefined) {
      child = requests.labels(String(status));
      byStatus.set(status, child);
    }
    return child;
  };

  /** Maps a request URL to a file under the root, or throws a 400/404 `HttpError`. */
  const locate = (url: string): MediaFile => {
    const { name, file, kind } = parseMediaPath(rawPath(url));
    const media: Omit<MediaFile, "path"> = kind === "segment"
      ? { contentType: SEGMENT_CONTENT_TYPE, cacheControl: SEGMENT_CACHE_CONTROL, ranges: true }
      : { contentType: PLAYLIST_CONTENT_TYPE, cacheControl: playlistCache, ranges: false };
    const path = resolve(root, name, file);
    if (!path.startsWith(rootPrefix)) throw badPathError();
    return {
      path,
      ...media,
      ...(file === LIVE_PLAYLIST ? { live: name } : {}),
      ...(file === MASTER_PLAYLIST ? { master: name } : {}),
    };
  };

  const app = new Hono();

  app.use(async (c, next) => {
    await next();
    const headers = c.res.headers;
    if (corsOrigin !== "") {
      headers.set("Access-Control-Allow-Origin", corsOrigin);
      headers.set("Access-Control-Expose-Headers", EXPOSED);
    }
    const status = c.res.status;
    if (status >= 400 && !headers.has("Cache-Control")) headers.set("Cache-Control", "no-cache");
    countStatus(status).inc();
    if (c.req.method !== "HEAD") {
      const length = headers.get("Content-Length");
      if (length !== null) bytesOut.inc(Number(length) || 0);
    }
  });

  app.options("*", (c) => {
    const headers: Record<string, string> = { Allow: MEDIA_METHODS };
    if (corsOrigin !== "") {
      const asked = c.req.header("Access-Control-Request-Headers");
      headers["Access-Control-Allow-Methods"] = MEDIA_METHODS;
      headers["Access-Control-Allow-Headers"] =
        asked !== undefined && HEADER_LIST_RE.test(asked.trim())
          ? asked.trim()
          : DEFAULT_ALLOWED_HEADERS;
      headers["Access-Control-Max-Age"] = "86400";
      headers["Vary"] = "Access-Control-Request-Headers";
    }
    return new Response(null, { status: 204, headers });
  });

  app.route(
    "/",
    createOpsApp({
      role: "origin",
      id: deps.id,
      metrics: registry,
      status: () => healthy() ? "ok" : "unhealthy",
    }),
  );

  if (deps.llHls) app.use("/live/*", deps.llHls);

  app.get("/live/*", (c) => {
    const answered = deps.liveFile === undefined ? undefined : extensionFile(c, deps.liveFile);
    if (answered !== undefined) return answered;
    const media = locate(c.req.url);
    if (media.master !== undefined && deps.masterPlaylist) {
      const text = deps.masterPlaylist(media.master);
      if (text === undefined) throw notFoundError();
      const bytes = new TextEncoder().encode(text);
      return new Response(c.req.method === "HEAD" ? null : bytes, {
        headers: {
          "Content-Type": media.contentType,
          "Cache-Control": media.cacheControl,
          "Content-Length": String(bytes.byteLength),
        },
      });
    }
    const memory = media.live === undefined ? undefined : deps.livePlaylist?.(media.live);
    return memory === undefined ? serveMedia(c, media) : serveMemory(c, media, memory);
  });

  app.all("/live/*", () => {
    throw new HttpError(405, "method_not_allowed", "Method not allowed: use GET or HEAD", {
      headers: { Allow: MEDIA_METHODS },
    });
  });

  app.onError(jsonErrorHandler);
  app.notFound(jsonNotFound);
  return app;
}

/** What `liveFile` answers for a well-formed `/live/{name}/{file}` path, if anything. */
function extensionFile(
  c: Context,
  liveFile: NonNullable<OriginHttpDeps["liveFile"]>,
): Response | Promise<Response> | undefined {
  const parts = rawPath(c.req.url).split("/");
  if (parts.length !== 4 || parts[0] !== "" || parts[1] !== "live") return undefined;
  const name = decodePathSegment(parts[2]!);
  if (!STREAM_NAME_RE.test(name)) return undefined;
  return liveFile(name, decodePathSegment(parts[3]!), c.req.raw);
}

function serveMemory(c: Context, media: MediaFile, playlist: MemoryPlaylist): Response {
  const headers: Record<string, string> = {
    "Content-Type": media.contentType,
    "Cache-Control": media.cacheControl,
    "ETag": playlist.etag,
    "Last-Modified": playlist.modified.toUTCString(),
  };
  if (matchesEtag(c.req.header("If-None-Match"), playlist.etag)) {
    return new Response(null, { status: 304, headers });
  }
  headers["Content-Length"] = String(playlist.bytes.byteLength);
  return new Response(c.req.method === "HEAD" ? null : playlist.bytes, { status: 200, headers });
}

async function serveMedia(c: Context, media: MediaFile): Promise<Response> {
  const head = c.req.method === "HEAD";
  let file: Deno.FsFile | null = null;
  try {
    let stat: Deno.FileInfo;
    if (head) {
      stat = await statRegularFile(media.path);
    } else {
      ({ file, info: stat } = await openRegularFile(media.path));
    }

    const size = stat.size;
    const etag = `"${(stat.ino ?? 0).toString(16)}-${size.toString(16)}-${
      (stat.mtime?.getTime() ?? 0).toString(16)
    }"`;
    const headers: Record<string, string> = {
      "Content-Type": media.contentType,
      "Cache-Control": media.cacheControl,
      "ETag": etag,
    };
    if (stat.mtime) headers["Last-Modified"] = stat.mtime.toUTCString();
    if (media.ranges) headers["Accept-Ranges"] = "bytes";

    if (matchesEtag(c.req.header("If-None-Match"), etag)) {
      return new Response(null, { status: 304, headers });
    }

    let range: ByteRange | "unsatisfiable" | null = null;
    const rangeHeader = media.ranges ? c.req.header("Range") : undefined;
    if (rangeHeader !== undefined) {
      const ifRange = c.req.header("If-Range");
      if (ifRange === undefined || ifRange === etag) range = parseRange(rangeHeader, size);
    }
    if (range === "unsatisfiable") {
      throw new HttpError(416, "range_not_satisfiable", `Range not satisfiable: size is ${size}`, {
        headers: { "Content-Range": `bytes */${size}`, "Accept-Ranges": "bytes" },
      });
    }

    let status = 200;
    let length = size;
    if (range !== null) {
      status = 206;
      length = range.end - range.start + 1;
      headers["Content-Range"] = `bytes ${range.start}-${range.end}/${size}`;
    }
    headers["Content-Length"] = String(length);
    if (file === null) return new Response(null, { status, headers });

    let body: ReadableStream<Uint8Array>;
    if (range === null) {
      body = file.readable;
    } else {
      body = await fileSlice(file, range.start, length);
    }
    file = null;
    return new Response(body, { status, headers });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      throw notFoundError();
    }
    throw err;
  } finally {
    file?.close();
  }
}
