/**
 * HLS media playlists (RFC 8216) as values: `renderPlaylist` writes the live playlist the
 * origin serves, and `parsePlaylist` reads back what Cascade and nginx-rtmp write, for
 * discovery, the edge and tests. Only the media-playlist tags a single-rendition live
 * stream needs are modelled; the parser skips every other tag, so a playlist with extra
 * tags still parses, while a malformed value of a modelled tag is a `SyntaxError`.
 */

export interface PlaylistSegment {
  /** Media Sequence Number (RFC 8216 §3): the playlist's first number plus the position. */
  sequence: number;
  /** Seconds. */
  duration: number;
  uri: string;
  /** Wall-clock time of the segment's first sample. */
  programDateTime?: Date;
  /** A `#EXT-X-DISCONTINUITY` precedes this segment. */
  discontinuity: boolean;
}

export interface LivePlaylist {
  version: number;
  /** Whole seconds, an upper bound on every segment's duration rounded to an integer. */
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  independentSegments: boolean;
  segments: PlaylistSegment[];
  ended: boolean;
  playlistType?: "VOD" | "EVENT";
}

/**
 * The lowest version whose clients read the decimal-float `#EXTINF` durations written here
 * (RFC 8216 §7); nothing else written here needs a later one.
 */
const MIN_VERSION = 3;

/**
 * The playlist text, one tag per line and a final newline. Every segment gets its own
 * `#EXT-X-PROGRAM-DATE-TIME` when it has one, which lets a player map any position to
 * ingest wall-clock time. The version written is at least 3.
 */
export function renderPlaylist(p: LivePlaylist): string {
  checkInteger("target duration", p.targetDuration);
  checkInteger("media sequence", p.mediaSequence);
  checkInteger("discontinuity sequence", p.discontinuitySequence);
  checkInteger("version", p.version);
  const lines = [
    "#EXTM3U",
    `#EXT-X-VERSION:${Math.max(MIN_VERSION, p.version)}`,
    `#EXT-X-TARGETDURATION:${p.targetDuration}`,
    `#EXT-X-MEDIA-SEQUENCE:${p.mediaSequence}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${p.discontinuitySequence}`,
  ];
  if (p.playlistType !== undefined) lines.push(`#EXT-X-PLAYLIST-TYPE:${p.playlistType}`);
  if (p.independentSegments) lines.push("#EXT-X-INDEPENDENT-SEGMENTS");
  for (const s of p.segments) {
    if (!Number.isFinite(s.duration) || s.duration < 0) {
      throw new RangeError(
        `Cannot render playlist: segment ${s.sequence} has duration ${s.duration}`,
      );
    }
    if (s.uri === "" || /[\r\n]/.test(s.uri)) {
      throw new RangeError(`Cannot render playlist: segment ${s.sequence} has an unusable uri`);
    }
    if (s.discontinuity) lines.push("#EXT-X-DISCONTINUITY");
    if (s.programDateTime !== undefined) {
      if (Number.isNaN(s.programDateTime.getTime())) {
        throw new RangeError(`Cannot render playlist: segment ${s.sequence} has an invalid date`);
      }
      // toISOString() always has milliseconds and a zone, as §4.3.2.6 asks.
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${s.programDateTime.toISOString()}`);
    }
    lines.push(`#EXTINF:${s.duration.toFixed(3)},`, s.uri);
  }
  if (p.ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

function checkInteger(what: string, n: number): void {
  // RFC 8216 §4.2 decimal-integer; 2^53 is as far as a JS number counts exactly.
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`Cannot render playlist: ${what} is not a non-negative integer: ${n}`);
  }
}

/**
 * Reads a media playlist. Tolerates CRLF line ends, a byte order mark, blank lines,
 * surrounding whitespace, a missing version (taken as 1), and tags it does not model.
 * Throws `SyntaxError` when the text does not start with `#EXTM3U`, has no
 * `#EXT-X-TARGETDURATION`, has a segment without `#EXTINF`, or has a modelled tag
 * with a malformed value.
 */
export function parsePlaylist(text: string): LivePlaylist {
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n|\r/);
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === "") i++;
  if (lines[i]?.trim() !== "#EXTM3U") fail("missing #EXTM3U header");

  const p: LivePlaylist = {
    version: 1,
    targetDuration: 0,
    mediaSequence: 0,
    discontinuitySequence: 0,
    independentSegments: false,
    segments: [],
    ended: false,
  };
  let haveTarget = false;
  let duration: number | undefined;
  let programDateTime: Date | undefined;
  let discontinuity = false;

  for (i++; i < lines.length; i++) {
    const line = lines[i]!.trim();
    const at = `line ${i + 1}`;
    if (line === "") continue;
    if (!line.startsWith("#")) {
      if (duration === undefined) fail(`segment without #EXTINF at ${at}`);
      p.segments.push({
        sequence: p.segments.length,
        duration,
        uri: line,
        ...(programDateTime ? { programDateTime } : {}),
        discontinuity,
      });
      duration = undefined;
      programDateTime = undefined;
      discontinuity = false;
      continue;
    }
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).trim();
    switch (name) {
      case "#EXT-X-VERSION":
        p.version = integer(value, name, at);
        break;
      case "#EXT-X-TARGETDURATION":
        // A decimal target is invalid, but rounding it up keeps it an upper bound.
        p.targetDuration = Math.ceil(decimal(value, name, at));
        haveTarget = true;
        break;
      case "#EXT-X-MEDIA-SEQUENCE":
        p.mediaSequence = integer(value, name, at);
        break;
      case "#EXT-X-DISCONTINUITY-SEQUENCE":
        p.discontinuitySequence = integer(value, name, at);
        break;
      case "#EXT-X-INDEPENDENT-SEGMENTS":
        p.independentSegments = true;
        break;
      case "#EXT-X-PLAYLIST-TYPE":
        if (value !== "VOD" && value !== "EVENT") fail(`unknown ${name} ${value} at ${at}`);
        p.playlistType = value;
        break;
      case "#EXT-X-ENDLIST":
        p.ended = true;
        break;
      case "#EXT-X-DISCONTINUITY":
        discontinuity = true;
        break;
      case "#EXT-X-PROGRAM-DATE-TIME":
        programDateTime = date(value, at);
        break;
      case "#EXTINF": {
        // `<duration>,[<title>]`; the title is not kept.
        const comma = value.indexOf(",");
        duration = decimal(comma < 0 ? value : value.slice(0, comma), name, at);
        break;
      }
    }
  }
  if (!haveTarget) fail("missing #EXT-X-TARGETDURATION");
  // Numbered last because a tolerated late #EXT-X-MEDIA-SEQUENCE still numbers every segment.
  for (const s of p.segments) s.sequence += p.mediaSequence;
  return p;
}

function fail(detail: string): never {
  throw new SyntaxError(`Cannot parse playlist: ${detail}`);
}

function integer(value: string, tag: string, at: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) {
    fail(`${tag} is not an integer at ${at}`);
  }
  return n;
}

function decimal(value: string, tag: string, at: string): number {
  const v = value.trim();
  if (!/^\d+(\.\d*)?$|^\.\d+$/.test(v)) fail(`${tag} is not a decimal number at ${at}`);
  return Number(v);
}

function date(value: string, at: string): Date {
  // ISO 8601 with a zone (§4.3.2.6); Date.parse alone would take many other shapes.
  const ok = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.test(value);
  const d = new Date(ok ? value : NaN);
  if (Number.isNaN(d.getTime())) fail(`#EXT-X-PROGRAM-DATE-TIME is not a date at ${at}`);
  return d;
}
