/**
 * The adaptive-bitrate ladder's names and numbers, shared by the transcoder (which makes the
 * renditions), the origin (which refuses publishers that take a rendition's name and builds the
 * master playlist), the edge (whose playback tokens cover a stream's renditions) and the API.
 * A profile is `none` or a comma list of rungs (`480p,240p`); rung `480p` of stream `cam` is
 * the stream `cam_480p`, so every name ending in a rung suffix is reserved for renditions
 * (docs/architecture.md, "Adaptive bitrate").
 */
import { STREAM_NAME_RE } from "./config.ts";

/** One rung of the ladder: output height and the video bit rate it is encoded at. */
export interface Rung {
  /** `480p`: the profile token and the rendition name's suffix. */
  name: string;
  height: number;
  videoKbps: number;
}

/** The rungs a profile may name, tallest first; the bit rates are the usual H.264 ladder's. */
export const RUNGS: readonly Rung[] = [
  { name: "1080p", height: 1080, videoKbps: 5000 },
  { name: "720p", height: 720, videoKbps: 2800 },
  { name: "480p", height: 480, videoKbps: 1400 },
  { name: "360p", height: 360, videoKbps: 800 },
  { name: "240p", height: 240, videoKbps: 400 },
  { name: "144p", height: 144, videoKbps: 200 },
];

/** A stream name that ends like a rendition: `_` and one of the rungs' names. */
const RENDITION_RE = new RegExp(`^(.+)_(${RUNGS.map((r) => r.name).join("|")})$`);

/** The profile syntax, for config schemas and API validation. */
export const PROFILE_RE = new RegExp(
  `^(none|(${RUNGS.map((r) => r.name).join("|")})(,(${RUNGS.map((r) => r.name).join("|")}))*)$`,
);

/**
 * The rungs of a profile, tallest first, without repeats; `none` (or an empty string) is the
 * empty ladder. Throws `SyntaxError` naming the first unknown rung.
 */
export function parseProfile(profile: string): Rung[] {
  const text = profile.trim().toLowerCase();
  if (text === "" || text === "none") return [];
  const wanted = new Set<string>();
  for (const token of text.split(",")) {
    const name = token.trim();
    if (!RUNGS.some((r) => r.name === name)) {
      throw new SyntaxError(
        `Cannot parse transcode profile: unknown rung ${JSON.stringify(name)} (use none or ${
          RUNGS.map((r) => r.name).join(", ")
        })`,
      );
    }
    wanted.add(name);
  }
  return RUNGS.filter((r) => wanted.has(r.name));
}

/** The stream name of rung `rung` of `source`, e.g. `cam_480p`. */
export function renditionName(source: string, rung: Rung | string): string {
  return `${source}_${typeof rung === "string" ? rung : rung.name}`;
}

/** True when `name` is reserved for a rendition (ends in `_` and a rung's name). */
export function isRendition(name: string): boolean {
  return RENDITION_RE.test(name);
}

/** The source stream of a rendition's name and its rung, or undefined for any other name. */
export function sourceOf(name: string): { source: string; rung: Rung } | undefined {
  const m = RENDITION_RE.exec(name);
  if (!m) return undefined;
  const rung = RUNGS.find((r) => r.name === m[2])!;
  return { source: m[1]!, rung };
}

/**
 * The rungs live for each source among the stream names `names`, tallest first (the order of
 * the master playlist): what the API's live list and the dashboard show on a source's entry
 * instead of listing its renditions as streams.
 */
export function renditionsBySource(names: Iterable<string>): Map<string, string[]> {
  const rungs = new Map<string, Set<string>>();
  for (const name of names) {
    const of = sourceOf(name);
    if (of === undefined) continue;
    const set = rungs.get(of.source) ?? new Set();
    set.add(of.rung.name);
    rungs.set(of.source, set);
  }
  const out = new Map<string, string[]>();
  for (const [source, set] of rungs) {
    out.set(source, RUNGS.map((r) => r.name).filter((r) => set.has(r)));
  }
  return out;
}

/**
 * Why a publisher may not take `name`, or undefined when it may: names ending in a rung
 * suffix belong to the transcoder.
 */
export function reservedNameReason(name: string): string | undefined {
  const rendition = sourceOf(name);
  if (!rendition) return undefined;
  return `Stream name is reserved for renditions: ${name} ends in _${rendition.rung.name} (publish ${rendition.source} and let the transcoder make it)`;
}

/** True when every rendition name of `source` is a valid stream name (at most 64 characters). */
export function renditionsFit(source: string, rungs: readonly Rung[]): boolean {
  return rungs.every((r) => STREAM_NAME_RE.test(renditionName(source, r)));
}

/** Even output width for a source of `width`×`height` scaled to `rungHeight` lines. */
export function scaledWidth(width: number, height: number, rungHeight: number): number {
  return Math.max(2, Math.round((width * rungHeight) / height / 2) * 2);
}
