/**
 * What a viewer's request names, checked before anything else runs: `/live/{name}/{file}`
 * with the stream-name rule of docs/architecture.md and the file-name rules the origin serves
 * (`index.m3u8`-like playlists, `{seq}.ts` segments), plus the playback `token` of the query.
 * Each path segment is percent-decoded exactly once and refused if it still looks like a path
 * or an encoding afterwards, so a bad request costs no registry lookup and no origin fetch.
 */
import { type MediaKind, parseMediaPath } from "@cascade/common/http_paths";

export type { MediaKind };

/** A request for one file of one stream. */
export interface MediaTarget {
  name: string;
  file: string;
  kind: MediaKind;
  /** The `token` query parameter, when present. */
  token: string | null;
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
 * path or stream name and 404 for a file that no origin serves.
 */
export function parseMediaTarget(target: string): MediaTarget {
  const { path, query } = splitTarget(target);
  const { name, file, kind } = parseMediaPath(path);
  return { name, file, kind, token: queryParam(query, "token") };
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
