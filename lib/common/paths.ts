/**
 * File paths as the roles build them (POSIX, `/`-separated), without `node:path`: importing
 * any `node:` module sets up Deno's Node layer, which an origin that needs none of it would
 * otherwise hold from its start (docs/architecture.md, "Runtime flags").
 */

/** Separator of the paths these functions make. */
export const SEP = "/";

/** `path` with empty and `.` segments dropped and `..` applied; "." when nothing is left. */
function normalize(path: string): string {
  const absolute = path.startsWith(SEP);
  const out: string[] = [];
  for (const segment of path.split(SEP)) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (out.length > 0 && out.at(-1) !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(segment);
  }
  const joined = out.join(SEP);
  return absolute ? SEP + joined : joined === "" ? "." : joined;
}

/** The segments joined with `/` and normalised, a trailing `/` kept (as `node:path`'s `join`). */
export function joinPath(...segments: string[]): string {
  const joined = segments.filter((s) => s !== "").join(SEP);
  if (joined === "") return ".";
  const path = normalize(joined);
  return joined.endsWith(SEP) && path !== SEP ? path + SEP : path;
}

/**
 * The absolute, normalised path the segments lead to from the working directory, each
 * absolute segment starting afresh (as `node:path`'s `resolve`).
 */
export function resolvePath(...segments: string[]): string {
  let path = "";
  for (let i = segments.length - 1; i >= 0 && !path.startsWith(SEP); i--) {
    const segment = segments[i]!;
    if (segment !== "") path = path === "" ? segment : `${segment}${SEP}${path}`;
  }
  if (!path.startsWith(SEP)) path = `${Deno.cwd()}${SEP}${path}`;
  return normalize(path);
}

/** The last segment of `path`. */
export function baseName(path: string): string {
  const trimmed = path.endsWith(SEP) ? path.slice(0, -1) : path;
  return trimmed.slice(trimmed.lastIndexOf(SEP) + 1);
}
