/**
 * The multivariant ("master") playlist of a stream with renditions (RFC 8216bis 4.4.6.2): one
 * `EXT-X-STREAM-INF` per rung, the source first, each naming the rung's media playlist by a
 * URI relative to the master's. Pure: the variants' figures in, the playlist text out.
 */

/** One rung as the master playlist describes it. */
export interface Variant {
  /** The media playlist, relative to the master playlist's URL. */
  uri: string;
  /** Peak bits per second (BANDWIDTH). */
  bandwidth: number;
  /** Mean bits per second (AVERAGE-BANDWIDTH); left out when unknown. */
  averageBandwidth?: number;
  width?: number;
  height?: number;
  /** RFC 6381 codec strings, e.g. `avc1.64001f`, `mp4a.40.2`. */
  codecs: string[];
  frameRate?: number;
}

/** The playlist text, variants in the order given (the source first, by convention here). */
export function masterPlaylist(variants: readonly Variant[]): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:6", "#EXT-X-INDEPENDENT-SEGMENTS"];
  for (const v of variants) {
    const attrs = [`BANDWIDTH=${Math.max(1, Math.round(v.bandwidth))}`];
    if (v.averageBandwidth !== undefined) {
      attrs.push(`AVERAGE-BANDWIDTH=${Math.max(1, Math.round(v.averageBandwidth))}`);
    }
    if (v.width !== undefined && v.height !== undefined) {
      attrs.push(`RESOLUTION=${v.width}x${v.height}`);
    }
    if (v.codecs.length > 0) attrs.push(`CODECS="${v.codecs.join(",")}"`);
    if (v.frameRate !== undefined && v.frameRate > 0) {
      attrs.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
    }
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(",")}`, v.uri);
  }
  return lines.join("\n") + "\n";
}
