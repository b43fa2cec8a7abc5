/**
 * A media playlist as an origin writes it, for the edge's playlist tests: a window of
 * 2-second segments with optional discontinuities and program date times.
 */

export interface PlaylistSpec {
  /** Media sequence of the first segment. */
  seq: number;
  /** Segments in the window. */
  n?: number;
  /** `#EXT-X-DISCONTINUITY-SEQUENCE`; omitted → no tag. */
  ds?: number;
  /** Window positions carrying `#EXT-X-DISCONTINUITY`. */
  disc?: number[];
  dates?: boolean;
}

export function playlist({ seq, n = 3, ds, disc = [], dates = false }: PlaylistSpec): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2"];
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${seq}`);
  if (ds !== undefined) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${ds}`);
  lines.push("#EXT-X-INDEPENDENT-SEGMENTS");
  for (let i = 0; i < n; i++) {
    if (disc.includes(i)) lines.push("#EXT-X-DISCONTINUITY");
    if (dates) lines.push(`#EXT-X-PROGRAM-DATE-TIME:2026-11-21T20:00:0${i}.000Z`);
    lines.push("#EXTINF:2.000,", `${seq + i}.ts`);
  }
  return lines.join("\n") + "\n";
}
