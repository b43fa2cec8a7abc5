/**
 * HLS media playlists for tests: the text an origin's packager (or nginx-rtmp) writes, built
 * from a few numbers, and a writer that puts it into a stream directory the way the packager
 * does (temp file, then rename), so that a watcher never reads half a playlist. Test support
 * only: imported by relative path, not exported by the package.
 */
import { LIVE_PLAYLIST, TEMP_SUFFIX } from "../layout.ts";

export interface PlaylistSpec {
  /** `#EXT-X-MEDIA-SEQUENCE`, the sequence number of the first segment (default 0). */
  sequence?: number;
  /** Segments in the window (default 3), named `{sequence}.ts`. */
  segments?: number;
  /** `#EXT-X-TARGETDURATION` and every segment's duration, seconds (default 2). */
  target?: number;
  /** `#EXT-X-DISCONTINUITY-SEQUENCE`; omitted → no tag. */
  discontinuitySequence?: number;
  /** Window positions carrying `#EXT-X-DISCONTINUITY`. */
  discontinuities?: number[];
  /** `#EXT-X-PROGRAM-DATE-TIME` on every segment, one per second from 2026-11-21T20:00:00Z. */
  dates?: boolean;
  /** `#EXT-X-INDEPENDENT-SEGMENTS`, as Cascade's packager writes it. */
  independent?: boolean;
  /** `#EXT-X-ENDLIST`: the broadcast is over. */
  ended?: boolean;
}

/** The text of a media playlist described by `spec`. */
export function playlistText(spec: PlaylistSpec = {}): string {
  const { sequence = 0, segments = 3, target = 2, discontinuities = [] } = spec;
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", `#EXT-X-TARGETDURATION:${target}`];
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${sequence}`);
  if (spec.discontinuitySequence !== undefined) {
    lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${spec.discontinuitySequence}`);
  }
  if (spec.independent) lines.push("#EXT-X-INDEPENDENT-SEGMENTS");
  for (let i = 0; i < segments; i++) {
    if (discontinuities.includes(i)) lines.push("#EXT-X-DISCONTINUITY");
    if (spec.dates) {
      lines.push(
        `#EXT-X-PROGRAM-DATE-TIME:${new Date(Date.UTC(2026, 10, 21, 20, 0, i)).toISOString()}`,
      );
    }
    lines.push(`#EXTINF:${target}.000,`, `${sequence + i}.ts`);
  }
  if (spec.ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

export interface WriteOptions {
  /** The file to write in the stream directory, e.g. `VOD_PLAYLIST` (default the live one). */
  file?: string;
  /** Modification time to give the file (set before the rename, so a watcher sees only it). */
  mtime?: Date;
}

/** Writes `text` as `{root}/{name}/index.m3u8` (or `opts.file`): temp file, then rename. */
export async function writePlaylist(
  root: string,
  name: string,
  text: string,
  opts: WriteOptions = {},
): Promise<void> {
  const dir = `${root}/${name}`;
  const path = `${dir}/${opts.file ?? LIVE_PLAYLIST}`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(path + TEMP_SUFFIX, text);
  if (opts.mtime) await Deno.utime(path + TEMP_SUFFIX, opts.mtime, opts.mtime);
  await Deno.rename(path + TEMP_SUFFIX, path);
}
