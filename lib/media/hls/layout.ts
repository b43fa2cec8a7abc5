/**
 * The on-disk and URL layout of a stream's HLS output, in one place: `MEDIA_ROOT/{name}/`
 * holds the live playlist `index.m3u8`, segments `{sequence}.ts`, and — for finished
 * broadcasts kept with `KEEP_HLS` — `vod.m3u8` plus `vod-{first sequence}.m3u8`. This is the
 * layout of nginx-rtmp with `hls_nested on` and sequential naming, so the packager, the
 * origin's HTTP server, the discovery watcher and the edge all read it from here
 * (docs/architecture.md, "HLS output"). Low-Latency HLS adds `ll.m3u8` and fMP4 files named
 * after a per-publish prefix: `{prefix}_init.mp4`, parts `{prefix}_p{msn}.{i}.m4s` and whole
 * segments `{prefix}_s{msn}.m4s`.
 */

/** The live playlist of a stream directory. */
export const LIVE_PLAYLIST = "index.m3u8";

/**
 * The multivariant playlist of a stream with renditions: made at each request from the live
 * streams, never a file.
 */
export const MASTER_PLAYLIST = "master.m3u8";

/**
 * The multivariant playlist whose variants are the rungs' LL-HLS playlists (`ll.m3u8`), on
 * origins that serve LL-HLS; like `master.m3u8`, made at each request.
 */
export const LL_MASTER_PLAYLIST = "ll_master.m3u8";

/** Name of the latest broadcast's VOD playlist in a stream directory. */
export const VOD_PLAYLIST = "vod.m3u8";

/** `vod.m3u8` and every `vod-{sequence}.m3u8`: the playlists of finished broadcasts. */
export const VOD_PLAYLIST_RE = /^vod(-\d{1,20})?\.m3u8$/;

/** Any playlist file name the origin and edge serve. */
export const PLAYLIST_FILE_RE = /^[a-z0-9_-]{1,64}\.m3u8$/;

/** A segment file name: its media sequence number and `.ts`. */
export const SEGMENT_FILE_RE = /^\d{1,20}\.ts$/;

/** The LL-HLS (fMP4/CMAF) media playlist of a stream, beside the TS `index.m3u8`. */
export const LL_PLAYLIST = "ll.m3u8";

/**
 * An LL-HLS media file: `{prefix}_init.mp4` (the `EXT-X-MAP`), part `{prefix}_p{msn}.{i}.m4s`
 * or whole segment `{prefix}_s{msn}.m4s`. `{prefix}` is a per-publish token (lowercase
 * base36), so a republish never reuses a URI and every such file is immutable.
 */
export const LL_FILE_RE = /^[0-9a-z]+_(init\.mp4|p\d+\.\d+\.m4s|s\d+\.m4s)$/;

/** Suffix of a file being written; it is renamed to its final name once complete. */
export const TEMP_SUFFIX = ".tmp";

/** The segment file of media sequence number `sequence`. */
export function segmentFileName(sequence: number): string {
  return `${sequence}.ts`;
}

/** The per-broadcast VOD playlist name, `vod-{first sequence}.m3u8`. */
export function vodPlaylistName(firstSequence: number): string {
  return `vod-${firstSequence}.m3u8`;
}

/** The init segment (`EXT-X-MAP`) of publish `prefix`. */
export function llInitName(prefix: string): string {
  return `${prefix}_init.mp4`;
}

/** Part `index` (from 0) of media segment `sequence`. */
export function llPartName(prefix: string, sequence: number, index: number): string {
  return `${prefix}_p${sequence}.${index}.m4s`;
}

/** The whole media segment `sequence`: the same samples as its parts. */
export function llSegmentName(prefix: string, sequence: number): string {
  return `${prefix}_s${sequence}.m4s`;
}

/** What an LL file name names; undefined when it is not one. */
export type LlFile =
  | { kind: "init"; prefix: string }
  | { kind: "part"; prefix: string; sequence: number; index: number }
  | { kind: "segment"; prefix: string; sequence: number };

/** Reads an LL file name (see `LL_FILE_RE`); numbers beyond 2^53 are not names either. */
export function parseLlFileName(file: string): LlFile | undefined {
  const m = /^([0-9a-z]{1,20})_(?:(init)\.mp4|p(\d{1,16})\.(\d{1,6})\.m4s|s(\d{1,16})\.m4s)$/.exec(
    file,
  );
  if (!m) return undefined;
  const [, prefix = "", init, partMsn, index, segMsn] = m;
  if (init) return { kind: "init", prefix };
  if (partMsn !== undefined) {
    return { kind: "part", prefix, sequence: Number(partMsn), index: Number(index) };
  }
  return { kind: "segment", prefix, sequence: Number(segMsn) };
}
