/**
 * Low-Latency HLS media playlists (draft-pantos-hls-rfc8216bis) as values:
 * `renderLlPlaylist` writes the `ll.m3u8` the origin serves — fMP4 segments after their
 * `#EXT-X-MAP`, `#EXT-X-PART` tags for the segments of the last three target durations and
 * for the segment still being written, `#EXT-X-PRELOAD-HINT` for the next part while live,
 * `#EXT-X-SERVER-CONTROL` for blocking reloads and delta updates — and, asked for a delta
 * update, replaces the oldest segments by `#EXT-X-SKIP` while keeping at least
 * `CAN-SKIP-UNTIL` seconds listed (§6.2.5.1). `renderRenditionReports` writes the
 * `#EXT-X-RENDITION-REPORT` lines appended to a live playlist that has sibling renditions
 * (§4.4.5.4), so a player switching rungs can ask the new one for the part it needs at once.
 * `parseLlPlaylist` reads back what they write, enough for tests and tools. The values follow docs/architecture.md, "HLS output".
 */

export interface LlPart {
  /** Seconds, at most the part target. */
  duration: number;
  uri: string;
  /** Starts with a keyframe (every audio-only part does). */
  independent: boolean;
}

export interface LlSegment {
  sequence: number;
  /** The init segment of the publish this segment belongs to (`EXT-X-MAP`). */
  mapUri: string;
  programDateTime?: Date;
  /** A `#EXT-X-DISCONTINUITY` precedes this segment. */
  discontinuity: boolean;
  parts: LlPart[];
  /** Complete segments: their duration (seconds) and URI; absent for the one being written. */
  duration?: number;
  uri?: string;
}

export interface LlPlaylist {
  /** Whole seconds; never changes. */
  targetDuration: number;
  /** `PART-TARGET`, seconds; never changes. */
  partTarget: number;
  mediaSequence: number;
  discontinuitySequence: number;
  /** Complete segments oldest first, then at most one being written (no `duration`). */
  segments: LlSegment[];
  /** The next part's URI; written while the playlist is not ended. */
  preloadHint?: string;
  ended: boolean;
  /** Delta updates only: segments replaced by `#EXT-X-SKIP`. */
  skipped?: number;
}

/** Where another rendition of the same multivariant playlist stands (`EXT-X-RENDITION-REPORT`). */
export interface RenditionReport {
  /** Its media playlist, relative to this playlist's URL. */
  uri: string;
  /** `LAST-MSN`: the sequence number of its newest segment that has parts. */
  lastMsn: number;
  /** `LAST-PART`: the index of the newest part of that segment. */
  lastPart: number;
}

/** `EXT-X-VERSION`: 9 is the first with `EXT-X-SKIP`. */
export const LL_VERSION = 9;

/** `PART-HOLD-BACK` (3 part targets, as Apple requires) for `partTarget`. */
export function partHoldBack(partTarget: number): number {
  return 3 * partTarget;
}

/** `CAN-SKIP-UNTIL`: six target durations, the least the draft allows (§4.4.3.8). */
export function canSkipUntil(targetDuration: number): number {
  return 6 * targetDuration;
}

/** Decimal numbers as tags carry them: at most 3 decimals, no trailing zeros. */
function num(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

/**
 * The playlist text. With `delta`, complete segments whose end lies more than
 * `CAN-SKIP-UNTIL` before the playlist's end are replaced by `#EXT-X-SKIP` (none when none
 * is that old, which is then a full playlist). An ended playlist is never a delta.
 */
export function renderLlPlaylist(p: LlPlaylist, delta = false): string {
  const lines = [
    "#EXTM3U",
    `#EXT-X-VERSION:${LL_VERSION}`,
    `#EXT-X-TARGETDURATION:${p.targetDuration}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${
      num(partHoldBack(p.partTarget))
    },CAN-SKIP-UNTIL=${num(canSkipUntil(p.targetDuration))}`,
    `#EXT-X-PART-INF:PART-TARGET=${num(p.partTarget)}`,
    `#EXT-X-MEDIA-SEQUENCE:${p.mediaSequence}`,
    `#EXT-X-DISCONTINUITY-SEQUENCE:${p.discontinuitySequence}`,
  ];
  const skip = delta && !p.ended ? skippable(p) : 0;
  if (skip > 0) lines.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${skip}`);
  const ends: number[] = [];
  let total = 0;
  for (const s of p.segments) ends.push(total += segmentSeconds(s));
  // Parts are listed for the segments ending within the last three target durations.
  const partsFrom = total - 3 * p.targetDuration;
  let map: string | undefined;
  p.segments.forEach((s, i) => {
    if (i < skip) return;
    if (s.discontinuity) lines.push("#EXT-X-DISCONTINUITY");
    if (s.mapUri !== map) lines.push(`#EXT-X-MAP:URI="${s.mapUri}"`);
    map = s.mapUri;
    if (s.programDateTime) {
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${s.programDateTime.toISOString()}`);
    }
    if (s.duration === undefined || ends[i]! > partsFrom) {
      for (const part of s.parts) {
        lines.push(
          `#EXT-X-PART:DURATION=${part.duration.toFixed(3)},URI="${part.uri}"${
            part.independent ? ",INDEPENDENT=YES" : ""
          }`,
        );
      }
    }
    if (s.duration !== undefined) lines.push(`#EXTINF:${s.duration.toFixed(3)},`, s.uri!);
  });
  if (!p.ended && p.preloadHint) {
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${p.preloadHint}"`);
  }
  if (p.ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

/**
 * Where `p` stands as a rendition report of it says (§4.4.5.4): its newest segment that has
 * parts and that segment's last part; undefined while it lists no part, or once ended.
 */
export function newestPart(p: LlPlaylist): { lastMsn: number; lastPart: number } | undefined {
  if (p.ended) return undefined;
  for (let i = p.segments.length - 1; i >= 0; i--) {
    const s = p.segments[i]!;
    if (s.parts.length > 0) return { lastMsn: s.sequence, lastPart: s.parts.length - 1 };
  }
  return undefined;
}

/**
 * The `#EXT-X-RENDITION-REPORT` lines for `reports`, each ending in a newline (empty for none):
 * appended to a live playlist's text, after its preload hint. Apart from the playlist because
 * the siblings move on their own clocks: the playlist is rendered when its own part closes,
 * the reports when it is served.
 */
export function renderRenditionReports(reports: readonly RenditionReport[]): string {
  let out = "";
  for (const r of reports) {
    out += `#EXT-X-RENDITION-REPORT:URI="${r.uri}",LAST-MSN=${r.lastMsn},LAST-PART=${r.lastPart}\n`;
  }
  return out;
}

function segmentSeconds(s: LlSegment): number {
  if (s.duration !== undefined) return s.duration;
  let sum = 0;
  for (const part of s.parts) sum += part.duration;
  return sum;
}

/**
 * Leading complete segments that end more than `CAN-SKIP-UNTIL` before the end; none while a
 * discontinuity is listed, since players merged such delta updates wrongly (hls.js#6949).
 */
function skippable(p: LlPlaylist): number {
  if (p.segments.some((s) => s.discontinuity)) return 0;
  let after = 0;
  for (const s of p.segments) after += segmentSeconds(s);
  const limit = canSkipUntil(p.targetDuration);
  let n = 0;
  for (const s of p.segments) {
    if (s.duration === undefined) break;
    after -= s.duration;
    if (after < limit) break;
    n++;
  }
  return n;
}

/**
 * Reads an LL playlist as `renderLlPlaylist` writes it (skipped segments are counted in
 * `skipped`, not listed). Throws `SyntaxError` when the header, the target duration or the
 * part target is missing, or a modelled tag has a malformed value.
 */
export function parseLlPlaylist(
  text: string,
): LlPlaylist & { serverControl: string; renditionReports: RenditionReport[] } {
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== "#EXTM3U") fail("missing #EXTM3U header");
  const p: LlPlaylist & { serverControl: string; renditionReports: RenditionReport[] } = {
    targetDuration: NaN,
    partTarget: NaN,
    mediaSequence: 0,
    discontinuitySequence: 0,
    segments: [],
    ended: false,
    serverControl: "",
    renditionReports: [],
  };
  let map = "";
  let next: LlSegment | undefined;
  const current = (): LlSegment =>
    next ??= {
      sequence: p.mediaSequence + (p.skipped ?? 0) + p.segments.length,
      mapUri: map,
      discontinuity: false,
      parts: [],
    };
  let duration: number | undefined;
  for (const raw of lines.slice(1)) {
    const line = raw.trim();
    if (line === "") continue;
    if (!line.startsWith("#")) {
      if (duration === undefined) fail(`segment ${line} without #EXTINF`);
      const s = current();
      s.duration = duration;
      s.uri = line;
      p.segments.push(s);
      next = undefined;
      duration = undefined;
      continue;
    }
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1);
    const attrs = attributes(value);
    switch (name) {
      case "#EXT-X-TARGETDURATION":
        p.targetDuration = integer(value, name);
        break;
      case "#EXT-X-PART-INF":
        p.partTarget = decimal(attrs.get("PART-TARGET"), name);
        break;
      case "#EXT-X-SERVER-CONTROL":
        p.serverControl = value;
        break;
      case "#EXT-X-MEDIA-SEQUENCE":
        p.mediaSequence = integer(value, name);
        break;
      case "#EXT-X-DISCONTINUITY-SEQUENCE":
        p.discontinuitySequence = integer(value, name);
        break;
      case "#EXT-X-SKIP":
        p.skipped = integer(attrs.get("SKIPPED-SEGMENTS") ?? "", name);
        break;
      case "#EXT-X-MAP":
        map = attrs.get("URI") ?? fail(`${name} without URI`);
        if (next) next.mapUri = map;
        break;
      case "#EXT-X-DISCONTINUITY":
        current().discontinuity = true;
        break;
      case "#EXT-X-PROGRAM-DATE-TIME": {
        const d = new Date(value);
        if (Number.isNaN(d.getTime())) fail(`${name} ${value} is not a date`);
        current().programDateTime = d;
        break;
      }
      case "#EXT-X-PART":
        current().parts.push({
          duration: decimal(attrs.get("DURATION"), name),
          uri: attrs.get("URI") ?? fail(`${name} without URI`),
          independent: attrs.get("INDEPENDENT") === "YES",
        });
        break;
      case "#EXTINF":
        duration = decimal(value.split(",")[0], name);
        break;
      case "#EXT-X-PRELOAD-HINT":
        p.preloadHint = attrs.get("URI") ?? fail(`${name} without URI`);
        break;
      case "#EXT-X-ENDLIST":
        p.ended = true;
        break;
      case "#EXT-X-RENDITION-REPORT":
        p.renditionReports.push({
          uri: attrs.get("URI") ?? fail(`${name} without URI`),
          lastMsn: integer(attrs.get("LAST-MSN") ?? "", name),
          lastPart: integer(attrs.get("LAST-PART") ?? "", name),
        });
        break;
    }
  }
  if (next) p.segments.push(next);
  if (!Number.isInteger(p.targetDuration)) fail("missing #EXT-X-TARGETDURATION");
  if (!Number.isFinite(p.partTarget)) fail("missing #EXT-X-PART-INF");
  return p;
}

/** An attribute list (`A=1,B="x,y"`), quotes removed. */
function attributes(value: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of value.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) {
    out.set(m[1]!, m[2]!.replace(/^"|"$/g, ""));
  }
  return out;
}

function fail(detail: string): never {
  throw new SyntaxError(`Cannot parse LL playlist: ${detail}`);
}

function integer(value: string, tag: string): number {
  if (!/^\d+$/.test(value)) fail(`${tag} ${value} is not an integer`);
  return Number(value);
}

function decimal(value: string | undefined, tag: string): number {
  if (value === undefined || !/^\d+(\.\d+)?$/.test(value)) fail(`${tag} ${value} is not a number`);
  return Number(value);
}
