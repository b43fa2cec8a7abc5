/**
 * What a viewer's request names, checked before anything else runs: `/live/{name}/{file}`
 * with the stream-name rule of docs/architecture.md and the file-name rules the origin serves
 * (`index.m3u8`-like playlists, `{seq}.ts` segments, and the LL-HLS files: `ll.m3u8` with its
 * fMP4 init section, parts and segments, and the `thumb.jpg` picture of the stream), plus the
 * playback `token` of the query and, for
 * `ll.m3u8`, the blocking-reload directives (`_HLS_msn`, `_HLS_part`, `_HLS_skip`).
 * Each path segment is percent-decoded exactly once and refused if it still looks like a path
 * or an encoding afterwards, so a bad request costs no registry lookup and no origin fetch.
 */
import { HttpError } from "@cascade/common/http_errors";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { decodePathSegment, type MediaKind, parseMediaPath } from "@cascade/common/http_paths";
import { LL_FILE_RE, LL_PLAYLIST } from "@cascade/media/hls/layout";

export type { MediaKind };

/** Which LL-HLS file a request names. */
export type LlKind = "playlist" | "init" | "part" | "segment";

/**
 * What the origin is asked for, finer than `MediaKind`: the `kind` label of the edge's
 * per-kind metrics, so "one origin request per part" can be read off them.
 */
export type FileKind =
  | "playlist"
  | "blocking_playlist"
  | "segment"
  | "part"
  | "init"
  | "thumbnail";

/** The stream's latest picture (a JPEG), which the origin renews every few seconds. */
export const THUMBNAIL_FILE = "thumb.jpg";

/** The LL-HLS side of a request (absent for the TS files). */
export interface LlTarget {
  kind: LlKind;
  /**
   * The directives of an `ll.m3u8` request as a canonical query: sorted, numbers without
   * leading zeros, `_HLS_part=0` when only `_HLS_msn` is given (what it means, so Safari,
   * which leaves the part out, shares hls.js's key), nothing else (no token); `""` when
   * there are none. Part of the cache key and forwarded to the origin as is.
   */
  directives: string;
  /** `_HLS_msn` is given: the origin holds the request until the playlist has that part. */
  blocking: boolean;
}

/** A request for one file of one stream. */
export interface MediaTarget {
  name: string;
  file: string;
  kind: MediaKind;
  /** The `token` query parameter, when present. */
  token: string | null;
  /** Present for the LL-HLS files (docs/architecture.md, "LL-HLS"). */
  ll?: LlTarget;
  /**
   * `thumb.jpg`: fetched and coalesced like a segment (`kind` is `segment`), but it changes,
   * so it is cached only as briefly as its origin says.
   */
  picture?: true;
}

/** Longest request target (path and query) accepted; longer ones get 414. */
export const MAX_TARGET_LENGTH = 2048;

/** Splits a request target (`/path?query`, as sent) into raw path and raw query. */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf("?");
  return q < 0
    ? { path: target, query: "" }
    : { path: target.slice(0, q), query: target.slice(q + 1) };
}

/**
 * The stream file a `/live/…` request target names. Throws `HttpError` 400 for a malformed
 * path, stream name or blocking-reload directive and 404 for a file that no origin serves.
 */
export function parseMediaTarget(target: string): MediaTarget {
  const { path, query } = splitTarget(target);
  const token = queryParam(query, "token");
  const ll = llFile(path);
  if (ll !== null) return { name: ll.name, file: ll.file, kind: ll.kind, token, ll: ll.target };
  const picture = pictureName(path);
  if (picture !== null) {
    return { name: picture, file: THUMBNAIL_FILE, kind: "segment", token, picture: true };
  }
  const { name, file, kind } = parseMediaPath(path);
  if (file !== LL_PLAYLIST) return { name, file, kind, token };
  const directives = parseDirectives(query);
  return {
    name,
    file,
    kind,
    token,
    ll: { kind: "playlist", directives, blocking: directives.startsWith("_HLS_msn=") },
  };
}

/** The kind of what `target` asks the origin for (`FileKind`). */
export function fileKind(target: MediaTarget): FileKind {
  if (target.picture) return "thumbnail";
  const ll = target.ll;
  if (ll === undefined) return target.kind;
  if (ll.kind === "playlist") return ll.blocking ? "blocking_playlist" : "playlist";
  return ll.kind;
}

/** The file name `target` is cached under: `ll.m3u8` keyed by its directives too. */
export function keyedFile(target: MediaTarget): string {
  const directives = target.ll?.directives ?? "";
  return directives === "" ? target.file : `${target.file}?${directives}`;
}

/** The stream name of a `/live/{name}/thumb.jpg` path, or null for anything else. */
function pictureName(path: string): string | null {
  const parts = path.split("/");
  if (parts.length !== 4 || parts[0] !== "" || parts[1] !== "live") return null;
  if (decodePathSegment(parts[3]!) !== THUMBNAIL_FILE) return null;
  const name = decodePathSegment(parts[2]!);
  // Anything else about the name is parseMediaPath's to refuse, with its usual error.
  return STREAM_NAME_RE.test(name) ? name : null;
}

/** An LL-HLS media file's path (`LL_FILE_RE`), or null for anything else. */
function llFile(
  path: string,
): { name: string; file: string; kind: MediaKind; target: LlTarget } | null {
  const parts = path.split("/");
  if (parts.length !== 4 || parts[0] !== "" || parts[1] !== "live") return null;
  const file = decodePathSegment(parts[3]!);
  const match = LL_FILE_RE.exec(file);
  if (match === null) return null;
  const name = decodePathSegment(parts[2]!);
  // Anything else about the name is parseMediaPath's to refuse, with its usual error.
  if (!STREAM_NAME_RE.test(name)) return null;
  const which = match[1]!;
  const kind: LlKind = which.startsWith("init")
    ? "init"
    : which.startsWith("p")
    ? "part"
    : "segment";
  return { name, file, kind: "segment", target: { kind, directives: "", blocking: false } };
}

const DIRECTIVE_NUMBER_RE = /^\d{1,15}$/;

/**
 * The blocking-reload directives of an `ll.m3u8` query (RFC 8216bis §6.2.5.2) as a
 * canonical query string (`LlTarget.directives`). A malformed value, or `_HLS_part` without
 * `_HLS_msn`, is the 400 the origin would answer, given here without asking it.
 */
function parseDirectives(query: string): string {
  const msn = queryParam(query, "_HLS_msn");
  const part = queryParam(query, "_HLS_part");
  const skip = queryParam(query, "_HLS_skip");
  const out: string[] = [];
  if (msn !== null) {
    out.push(`_HLS_msn=${directiveNumber("_HLS_msn", msn)}`);
    out.push(`_HLS_part=${part === null ? 0 : directiveNumber("_HLS_part", part)}`);
  } else if (part !== null) {
    throw badDirective("_HLS_part needs _HLS_msn");
  }
  if (skip !== null) {
    if (skip !== "YES" && skip !== "v2") throw badDirective("_HLS_skip must be YES or v2");
    out.push(`_HLS_skip=${skip}`);
  }
  return out.join("&");
}

function directiveNumber(key: string, value: string): number {
  if (!DIRECTIVE_NUMBER_RE.test(value)) throw badDirective(`${key} must be a decimal integer`);
  return Number(value);
}

function badDirective(detail: string): HttpError {
  return new HttpError(400, "invalid_directive", `Invalid blocking reload request: ${detail}`, {
    headers: { "Cache-Control": "no-store" },
  });
}

/** The first value of `key` in a raw query string, decoded; null when absent or undecodable. */
export function queryParam(query: string, key: string): string | null {
  if (query === "") return null;
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    const k = eq < 0 ? pair : pair.slice(0, eq);
    if (k !== key) continue;
    try {
      return decodeURIComponent((eq < 0 ? "" : pair.slice(eq + 1)).replaceAll("+", " "));
    } catch {
      return null;
    }
  }
  return null;
}
