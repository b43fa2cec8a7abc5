/**
 * Request paths and byte ranges as the HTTP services that serve media files (origin,
 * recordings, edge) read them: the raw path exactly as sent, each segment percent-decoded
 * once and refused when it still looks like a path or an encoding, and single-range
 * `Range` headers with a file slice to stream, and files opened only when they are regular
 * files, never through a symlink. One implementation, so a traversal fix or a range fix
 * lands everywhere at once.
 */
import { STREAM_NAME_RE } from "./config.ts";
import { HttpError } from "./http_errors.ts";
import { PLAYLIST_FILE_RE, SEGMENT_FILE_RE } from "@cascade/media/hls/layout";

export function notFoundError(): HttpError {
  return new HttpError(404, "not_found", "Not found");
}

export function badPathError(): HttpError {
  return new HttpError(400, "invalid_path", "Invalid path");
}

/** The path of an absolute request URL as sent (still percent-encoded), without the query. */
export function rawPath(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return url.slice(start, query < 0 ? url.length : query);
}

/**
 * Decodes one path segment, once. Whatever still looks like a path or an encoding after
 * that (`/`, `\`, `..`, `%`, control characters) is refused with a 400 `HttpError`, even
 * though the name rules of the callers would refuse it too: this check must hold whatever
 * those rules become.
 */
export function decodePathSegment(segment: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    throw badPathError();
  }
  if (decoded.includes("..")) throw badPathError();
  for (let i = 0; i < decoded.length; i++) {
    const ch = decoded.charCodeAt(i);
    if (ch < 0x20 || ch === 0x7f || ch === 0x2f || ch === 0x5c || ch === 0x25) {
      throw badPathError();
    }
  }
  return decoded;
}

/** Headers the media servers (origin, edge) answer with. */
export const PLAYLIST_CONTENT_TYPE = "application/vnd.apple.mpegurl";
export const SEGMENT_CONTENT_TYPE = "video/mp2t";
/** Segment URLs never name two contents, so segments are cacheable for good. */
export const SEGMENT_CACHE_CONTROL = "public, max-age=31536000, immutable";
export const MEDIA_METHODS = "GET, HEAD, OPTIONS";
/** A comma-separated list of header names, as a CORS preflight may ask for. */
export const HEADER_LIST_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;

/** True when an `If-None-Match` header names `etag` (strong or weak) or `*`. */
export function matchesEtag(header: string | null | undefined, etag: string): boolean {
  if (!header) return false;
  for (const candidate of header.split(",")) {
    const tag = candidate.trim();
    if (tag === "*" || tag === etag || tag === `W/${etag}`) return true;
  }
  return false;
}

export type MediaKind = "playlist" | "segment";

/** One file of one stream, as `/live/{name}/{file}` names it. */
export interface MediaPath {
  name: string;
  file: string;
  kind: MediaKind;
}

/**
 * The stream file a raw `/live/{name}/{file}` path names. Throws `HttpError` 400 for a
 * malformed segment or stream name and 404 for anything else that is not a stream file.
 */
export function parseMediaPath(path: string): MediaPath {
  const parts = path.split("/");
  if (parts.length !== 4 || parts[0] !== "" || parts[1] !== "live") throw notFoundError();
  const name = decodePathSegment(parts[2]!);
  const file = decodePathSegment(parts[3]!);
  if (!STREAM_NAME_RE.test(name)) {
    throw new HttpError(
      400,
      "invalid_stream_name",
      `Invalid stream name: must match ${STREAM_NAME_RE.source}`,
    );
  }
  if (SEGMENT_FILE_RE.test(file)) return { name, file, kind: "segment" };
  if (PLAYLIST_FILE_RE.test(file)) return { name, file, kind: "playlist" };
  throw notFoundError();
}

/** An inclusive byte range inside the file. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a single-range `Range` header against a file of `size` bytes: `bytes=a-b`
 * (end clamped to the file), `bytes=a-`, `bytes=-n` (the last n bytes). Returns null for
 * what the server ignores and answers with the whole file (other units, several ranges,
 * malformed values) and `"unsatisfiable"` for a well-formed range that selects nothing.
 */
export function parseRange(header: string, size: number): ByteRange | "unsatisfiable" | null {
  const m = /^bytes=\s*(\d*)\s*-\s*(\d*)\s*$/.exec(header.trim());
  if (m === null) return null;
  const [, first = "", last = ""] = m;
  if (first === "" && last === "") return null;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === "" ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || (last !== "" && Number(last) < start)) return "unsatisfiable";
  return { start, end };
}

/**
 * The status of the regular file at `path` (`HEAD`), or a 404 `HttpError` when it is a
 * symlink, a directory or anything else. The packager and the recorder never write
 * symlinks, so one found under a media root was put there to reach a file outside it; one
 * `lstat` refuses it without resolving the whole path on every request. (`NotFound` is
 * thrown as is.)
 */
export async function statRegularFile(path: string): Promise<Deno.FileInfo> {
  const info = await Deno.lstat(path);
  if (!info.isFile) throw notFoundError();
  return info;
}

/**
 * Opens the regular file at `path` for reading, with its status, like `statRegularFile`;
 * the opened file must be the one that was checked (same device and inode), so a symlink
 * swapped in between the check and the open is refused too.
 */
export async function openRegularFile(
  path: string,
): Promise<{ file: Deno.FsFile; info: Deno.FileInfo }> {
  const checked = await statRegularFile(path);
  const file = await Deno.open(path, { read: true });
  try {
    const info = await file.stat();
    if (info.ino !== checked.ino || info.dev !== checked.dev) throw notFoundError();
    return { file, info };
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Bytes read per pull when streaming a range. */
const SLICE_CHUNK = 64 * 1024;

/**
 * Streams `length` bytes of `file` from `start` in reads of at most 64 KiB, and closes the
 * file at the end, on error or when the reader cancels.
 */
export async function fileSlice(
  file: Deno.FsFile,
  start: number,
  length: number,
): Promise<ReadableStream<Uint8Array>> {
  await file.seek(start, Deno.SeekMode.Start);
  let left = length;
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    try {
      file.close();
    } catch { /* already closed */ }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = new Uint8Array(Math.min(SLICE_CHUNK, left));
        const n = await file.read(chunk);
        if (n === null) throw new RangeError(`Cannot stream range: file ended ${left} bytes early`);
        left -= n;
        controller.enqueue(n === chunk.length ? chunk : chunk.subarray(0, n));
        if (left === 0) {
          close();
          controller.close();
        }
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    cancel() {
      close();
    },
  });
}
