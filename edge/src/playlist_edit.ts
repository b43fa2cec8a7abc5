/**
 * Line-level edits of an origin's media playlist, made without re-rendering it so that an
 * unedited playlist reaches viewers byte for byte and tags the edge does not know survive:
 * appending the playback token to relative URIs, and renumbering the media and
 * discontinuity sequences with an `#EXT-X-DISCONTINUITY` before the first segment (what
 * `timeline.ts` needs to join two broadcasts).
 */

/** Tags that belong to the segment after them (RFC 8216 §4.3.2). */
const SEGMENT_TAGS = [
  "#EXTINF",
  "#EXT-X-BYTERANGE",
  "#EXT-X-DISCONTINUITY",
  "#EXT-X-KEY",
  "#EXT-X-MAP",
  "#EXT-X-PROGRAM-DATE-TIME",
  "#EXT-X-DATERANGE",
  "#EXT-X-GAP",
  "#EXT-X-BITRATE",
];

const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+.-]*:/;
const URI_ATTRIBUTE_RE = /URI="([^"]*)"/g;

function isSegmentTag(line: string): boolean {
  for (const tag of SEGMENT_TAGS) {
    if (line.startsWith(tag) && (line.length === tag.length || line[tag.length] === ":")) {
      return true;
    }
  }
  return false;
}

function lineBreakOf(text: string): string {
  return text.includes("\r\n") ? "\r\n" : "\n";
}

/** True for a URI resolved against the playlist's own URL (so it reaches this edge). */
function isRelative(uri: string): boolean {
  return uri !== "" && !SCHEME_RE.test(uri) && !uri.startsWith("//");
}

function withQueryParam(uri: string, param: string): string {
  const hash = uri.indexOf("#");
  const base = hash < 0 ? uri : uri.slice(0, hash);
  const fragment = hash < 0 ? "" : uri.slice(hash);
  return `${base}${base.includes("?") ? "&" : "?"}${param}${fragment}`;
}

/**
 * Appends `token=…` to every relative URI: segment lines and `URI="…"` attributes (keys,
 * init sections). Absolute URIs point elsewhere and are left alone. `token` must be
 * URL-safe (playback tokens are digits, `.` and base64url).
 */
export function addTokenToUris(text: string, token: string): string {
  if (!/^[A-Za-z0-9._~-]+$/.test(token)) throw new TypeError("Invalid token: not URL-safe");
  const param = `token=${token}`;
  const eol = lineBreakOf(text);
  const lines = text.split(eol);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const trimmed = line.trim();
    if (trimmed === "") continue;
    if (trimmed.startsWith("#")) {
      if (trimmed.includes('URI="')) {
        lines[i] = line.replace(
          URI_ATTRIBUTE_RE,
          (whole, uri: string) => isRelative(uri) ? `URI="${withQueryParam(uri, param)}"` : whole,
        );
      }
      continue;
    }
    if (isRelative(trimmed)) lines[i] = withQueryParam(trimmed, param);
  }
  return lines.join(eol);
}

export interface SequenceEdit {
  /** New `#EXT-X-MEDIA-SEQUENCE` value. */
  mediaSequence: number;
  /** New `#EXT-X-DISCONTINUITY-SEQUENCE` value (the tag is added when missing). */
  discontinuitySequence: number;
  /** Insert `#EXT-X-DISCONTINUITY` before the first segment. */
  discontinuityFirst: boolean;
}

/**
 * Rewrites the sequence tags and optionally marks the first segment as a discontinuity.
 * The discontinuity sequence tag, when added, goes right after the media sequence tag
 * (or after `#EXTM3U` when that is missing too).
 */
export function editSequences(text: string, edit: SequenceEdit): string {
  const eol = lineBreakOf(text);
  const lines = text.split(eol);
  const out: string[] = [];
  let sawDiscontinuitySequence = false;
  let mediaSequenceAt = -1;
  let headerAt = -1;
  let firstSegmentDone = false;
  for (const line of lines) {
    const trimmed = line.trim();
    if (trimmed.startsWith("#EXT-X-MEDIA-SEQUENCE:")) {
      mediaSequenceAt = out.length;
      out.push(`#EXT-X-MEDIA-SEQUENCE:${edit.mediaSequence}`);
      continue;
    }
    if (trimmed.startsWith("#EXT-X-DISCONTINUITY-SEQUENCE:")) {
      sawDiscontinuitySequence = true;
      out.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${edit.discontinuitySequence}`);
      continue;
    }
    if (trimmed === "#EXTM3U" && headerAt < 0) headerAt = out.length;
    const segmentStart = trimmed !== "" && (!trimmed.startsWith("#") || isSegmentTag(trimmed));
    if (segmentStart && !firstSegmentDone) {
      firstSegmentDone = true;
      if (edit.discontinuityFirst) out.push("#EXT-X-DISCONTINUITY");
    }
    out.push(line);
  }
  if (mediaSequenceAt < 0) {
    mediaSequenceAt = headerAt + 1;
    out.splice(mediaSequenceAt, 0, `#EXT-X-MEDIA-SEQUENCE:${edit.mediaSequence}`);
  }
  if (!sawDiscontinuitySequence) {
    out.splice(
      mediaSequenceAt + 1,
      0,
      `#EXT-X-DISCONTINUITY-SEQUENCE:${edit.discontinuitySequence}`,
    );
  }
  return out.join(eol);
}
