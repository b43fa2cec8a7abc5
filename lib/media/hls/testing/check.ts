/**
 * A strict judge of live media playlists for tests: fed every reload of one playlist (from
 * the origin, through an edge, from disk), it fails on anything RFC 8216 forbids of a server
 * or that Cascade promises beyond it — a segment whose duration rounds above
 * `#EXT-X-TARGETDURATION` (§4.3.3.1), a target that changes (§6.2.1), a media sequence that
 * goes backwards, a segment number that changes its URI, duration or discontinuity, a
 * segment dropped from the end of the window, a discontinuity sequence that does not count
 * the discontinuities that left the window (§6.2.2), a change after `#EXT-X-ENDLIST`
 * (§6.2.1), a missing required tag, or decimal
 * durations under a version below 3 (§7). `parsePlaylist` is lenient by design; this is not.
 * Test support only: imported by relative path, not exported by the package.
 */
import { AssertionError } from "node:assert/strict";
import { type LivePlaylist, parsePlaylist, type PlaylistSegment } from "../playlist.ts";

/** The successive reloads of one media playlist, each checked against the ones before. */
export class PlaylistChecker {
  /** Names the playlist in failure messages, e.g. `origin cam`. */
  readonly what: string;
  /** Reloads checked so far. */
  reloads = 0;
  #first: LivePlaylist | undefined;
  #last: LivePlaylist | undefined;
  #lastText = "";
  /** Every segment seen, by sequence number: what it must stay while listed. */
  readonly #seen = new Map<number, PlaylistSegment>();

  constructor(what: string) {
    this.what = what;
  }

  /** The target duration every reload so far carried; undefined before the first. */
  get targetDuration(): number | undefined {
    return this.#first?.targetDuration;
  }

  /** Every segment any reload listed, by sequence number. */
  get segments(): ReadonlyMap<number, PlaylistSegment> {
    return this.#seen;
  }

  /** Checks one more reload; returns it parsed, or throws an `AssertionError` saying why. */
  reload(text: string): LivePlaylist {
    this.reloads++;
    const p = checkPlaylistText(text, this.#where());
    const fail = (detail: string): never => {
      throw new AssertionError({ message: `${this.#where()}: ${detail}` });
    };
    const first = this.#first;
    if (first && p.targetDuration !== first.targetDuration) {
      fail(`#EXT-X-TARGETDURATION changed from ${first.targetDuration} to ${p.targetDuration}`);
    }
    const last = this.#last;
    if (last) {
      // RFC 8216 §6.2.1: the only change a server may make after ENDLIST is none.
      if (last.ended && this.#lastText !== text) fail("the playlist changed after #EXT-X-ENDLIST");
      if (p.mediaSequence < last.mediaSequence) {
        fail(`#EXT-X-MEDIA-SEQUENCE went back from ${last.mediaSequence} to ${p.mediaSequence}`);
      }
      const lastEnd = last.mediaSequence + last.segments.length;
      const end = p.mediaSequence + p.segments.length;
      if (end < lastEnd) fail(`segment ${end} was listed and is gone from the end`);
      // Discontinuities that left the window, when the last reload saw all that left.
      if (p.mediaSequence <= lastEnd) {
        const left = last.segments.filter((s) => s.sequence < p.mediaSequence);
        const expected = last.discontinuitySequence + left.filter((s) => s.discontinuity).length;
        if (p.discontinuitySequence !== expected) {
          fail(
            `#EXT-X-DISCONTINUITY-SEQUENCE is ${p.discontinuitySequence}, expected ${expected}`,
          );
        }
      } else if (p.discontinuitySequence < last.discontinuitySequence) {
        fail("#EXT-X-DISCONTINUITY-SEQUENCE went back");
      }
    }
    for (const s of p.segments) {
      const before = this.#seen.get(s.sequence);
      if (before === undefined) {
        this.#seen.set(s.sequence, s);
        continue;
      }
      if (before.uri !== s.uri || before.duration !== s.duration) {
        fail(
          `segment ${s.sequence} was ${before.uri} (${before.duration} s), now ${s.uri} (${s.duration} s)`,
        );
      }
      // The first segment of a window may drop its tag only when the sequence counted it.
      if (before.discontinuity !== s.discontinuity && s.sequence !== p.mediaSequence) {
        fail(`segment ${s.sequence} changed its #EXT-X-DISCONTINUITY`);
      }
    }
    this.#first ??= p;
    this.#last = p;
    this.#lastText = text;
    return p;
  }

  #where(): string {
    return `${this.what}, reload ${this.reloads}`;
  }
}

/**
 * Checks one playlist on its own: the header and required tags, one integer target duration,
 * an `#EXTINF` before every URI, durations that round to at most the target, and version 3
 * or later for decimal durations. Returns it parsed.
 */
export function checkPlaylistText(text: string, what = "playlist"): LivePlaylist {
  const fail = (detail: string): never => {
    throw new AssertionError({ message: `${what}: ${detail}\n${text}` });
  };
  const lines = text.split("\n");
  if (lines[0] !== "#EXTM3U") fail("the first line is not #EXTM3U");
  const tags = (name: string) => lines.filter((l) => l === name || l.startsWith(`${name}:`));
  for (const name of ["#EXT-X-VERSION", "#EXT-X-TARGETDURATION", "#EXT-X-MEDIA-SEQUENCE"]) {
    if (tags(name).length !== 1) fail(`${name} appears ${tags(name).length} times, not once`);
  }
  const target = tags("#EXT-X-TARGETDURATION")[0]!.slice("#EXT-X-TARGETDURATION:".length);
  if (!/^\d+$/.test(target)) fail(`#EXT-X-TARGETDURATION ${target} is not a decimal-integer`);
  let pendingInf = false;
  for (const line of lines.slice(1)) {
    if (line.startsWith("#EXTINF:")) {
      if (pendingInf) fail("two #EXTINF without a URI between them");
      pendingInf = true;
    } else if (line !== "" && !line.startsWith("#")) {
      if (!pendingInf) fail(`URI ${line} without #EXTINF`);
      pendingInf = false;
    }
  }
  if (pendingInf) fail("#EXTINF without a URI");
  let p: LivePlaylist;
  try {
    p = parsePlaylist(text);
  } catch (err) {
    return fail((err as Error).message);
  }
  for (const s of p.segments) {
    if (Math.round(s.duration) > p.targetDuration) {
      fail(`segment ${s.sequence} lasts ${s.duration} s, above the target ${p.targetDuration} s`);
    }
    if (!Number.isInteger(s.duration) && p.version < 3) {
      fail(`decimal #EXTINF ${s.duration} needs #EXT-X-VERSION 3, not ${p.version}`);
    }
  }
  return p;
}
