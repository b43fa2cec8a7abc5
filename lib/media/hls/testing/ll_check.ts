/**
 * A strict judge of Low-Latency HLS playlists for tests: every full reload of one `ll.m3u8`
 * goes through the `PlaylistChecker` (the segment rules of RFC 8216) and then through the
 * part rules of draft-pantos-hls-rfc8216bis and docs/architecture.md — `PART-TARGET`,
 * `SERVER-CONTROL` and the target that never change, `PART-HOLD-BACK` at least three part
 * targets, every part at most `PART-TARGET`, every part of a segment but its last at least
 * 85 % of it, parts numbered from 0 without gaps under their segment's number, parts that add
 * up to their segment, a part that keeps its duration and independence across reloads, a
 * segment whose first part is independent, and a preload hint, naming the part after the
 * last one, exactly while the playlist is live. Test support only: imported by relative path.
 */
import { AssertionError } from "node:assert/strict";
import { type LlPart, type LlPlaylist, parseLlPlaylist } from "../ll_playlist.ts";
import { PlaylistChecker } from "./check.ts";

const PART_URI = /^([0-9a-z]+)_p(\d+)\.(\d+)\.m4s$/;

export class LlPlaylistChecker {
  readonly #segments: PlaylistChecker;
  #first: (LlPlaylist & { serverControl: string }) | undefined;
  readonly #parts = new Map<string, LlPart>();

  constructor(readonly what: string) {
    this.#segments = new PlaylistChecker(what);
  }

  get reloads(): number {
    return this.#segments.reloads;
  }

  /** Checks one more full (not delta) reload; returns it parsed, or throws `AssertionError`. */
  reload(text: string): LlPlaylist {
    this.#segments.reload(text);
    const p = parseLlPlaylist(text);
    const fail = (detail: string): never => {
      throw new AssertionError({
        message: `${this.what}, reload ${this.reloads}: ${detail}\n${text}`,
      });
    };
    const first = this.#first ??= p;
    if (p.partTarget !== first.partTarget) fail(`PART-TARGET changed to ${p.partTarget}`);
    if (p.serverControl !== first.serverControl) {
      fail(`SERVER-CONTROL changed to ${p.serverControl}`);
    }
    const holdBack = Number(/PART-HOLD-BACK=([\d.]+)/.exec(p.serverControl)?.[1]);
    if (!(holdBack >= 3 * p.partTarget - 0.0015)) {
      fail(`PART-HOLD-BACK ${holdBack} is below 3 part targets`);
    }
    if (!/CAN-BLOCK-RELOAD=YES/.test(p.serverControl)) fail("no CAN-BLOCK-RELOAD=YES");
    if (p.skipped !== undefined) fail("a delta update: check full reloads only");
    for (const s of p.segments) {
      s.parts.forEach((part, i) => {
        const m = PART_URI.exec(part.uri) ?? fail(`part URI ${part.uri} is malformed`);
        const index = Number(m[3]);
        const expected = i === 0 ? index : Number(PART_URI.exec(s.parts[i - 1]!.uri)![3]) + 1;
        if (Number(m[2]) !== s.sequence || index !== expected) {
          fail(`part ${part.uri} in segment ${s.sequence} is out of order`);
        }
        if (part.duration > p.partTarget) {
          fail(`part ${part.uri} lasts ${part.duration} s, above PART-TARGET`);
        }
        const last = i === s.parts.length - 1 && s.duration !== undefined;
        if (!last && part.duration < 0.85 * p.partTarget) {
          fail(`part ${part.uri} lasts ${part.duration} s, below 85 % of PART-TARGET`);
        }
        if (index === 0 && !part.independent) {
          fail(`part ${part.uri} starts a segment but is not independent`);
        }
        const before = this.#parts.get(part.uri);
        if (
          before && (before.duration !== part.duration || before.independent !== part.independent)
        ) {
          fail(`part ${part.uri} changed from ${before.duration} s to ${part.duration} s`);
        }
        this.#parts.set(part.uri, part);
      });
      const listedFromStart = s.parts.length > 0 && PART_URI.exec(s.parts[0]!.uri)![3] === "0";
      if (s.duration !== undefined && listedFromStart) {
        const sum = s.parts.reduce((a, x) => a + x.duration, 0);
        if (Math.abs(sum - s.duration) > 0.002 * s.parts.length) {
          fail(`the parts of segment ${s.sequence} add up to ${sum} s, not ${s.duration} s`);
        }
      }
    }
    if (p.ended !== (p.preloadHint === undefined)) {
      fail("a preload hint must be there exactly while live");
    }
    const last = p.segments.at(-1);
    if (p.preloadHint && last) {
      const prefix = PART_URI.exec(p.preloadHint)?.[1] ??
        fail(`hint ${p.preloadHint} is malformed`);
      const next = last.duration === undefined
        ? `${prefix}_p${last.sequence}.${
          last.parts.length > 0 ? Number(PART_URI.exec(last.parts.at(-1)!.uri)![3]) + 1 : 0
        }.m4s`
        : `${prefix}_p${last.sequence + 1}.0.m4s`;
      if (p.preloadHint !== next) fail(`the hint is ${p.preloadHint}, expected ${next}`);
    }
    return p;
  }
}
