/**
 * The edge's entity tags: strong validators computed once, when an object is stored, from a
 * cheap 32-bit hash and the body's length. A segment's tag hashes its cache key (a segment
 * never changes within a broadcast), a playlist's hashes its text; a playlist rewritten for
 * one viewer's playback token gets a tag of its own, so caches never mix signed copies.
 */

/** FNV-1a 32-bit of a string or bytes, as 8 hex digits: cheap validators, not security. */
export function fnv1a(input: string | Uint8Array): string {
  let h = 0x811c9dc5;
  if (typeof input === "string") {
    for (let i = 0; i < input.length; i++) {
      h ^= input.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  } else {
    for (let i = 0; i < input.length; i++) {
      h ^= input[i]!;
      h = Math.imul(h, 0x01000193);
    }
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

/** The quoted tag of a body of `size` bytes identified by `identity`. */
export function etagOf(identity: string, size: number): string {
  return `"${fnv1a(identity)}-${size.toString(16)}"`;
}

/** The tag of `etag`'s playlist with `token` added to its URIs. */
export function tokenEtag(etag: string, token: string): string {
  return `${etag.slice(0, -1)}-${fnv1a(token)}"`;
}
