/**
 * Listing recordings for `GET /api/v1/streams/{name}/recordings`: the finished chunks of a
 * stream with size, duration, start time and a download URL — the origin's
 * `/recordings/{name}/{file}` while the file is on local disk, the object storage URL once
 * only the archive has it. Durations and start times come from each file's `mvhd` (the
 * first few hundred bytes, the files being faststart) or, for archived-only files, from
 * the archive ledger. Files being written (`.part`) are never listed.
 */

import { join } from "node:path";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { readMovieHeader } from "@cascade/media/mp4/reader";
import { parseChunkName } from "./recorder.ts";

export interface Recording {
  /** `{startedAt}-{n}.mp4` */
  file: string;
  size: number;
  durationSeconds: number;
  /** ISO 8601 wall clock of the chunk's first frame. */
  startedAt: string;
  /** Download URL: local while the file is on disk, else object storage. */
  url: string;
  /** The archive holds a verified copy. */
  archived: boolean;
  /** Object storage URL, when archived. */
  archiveUrl?: string;
}

/** What listings need of the archive (`Archive` implements it). */
export interface ArchiveView {
  entries(name: string): Promise<
    {
      file: string;
      key: string;
      size: number;
      durationSeconds?: number;
      startedAt?: string;
    }[]
  >;
  urlOf(key: string): string;
}

export interface ListOptions {
  archive?: ArchiveView;
  /** Base of local download URLs, e.g. the origin's public URL; default "" (relative). */
  baseUrl?: string;
}

/** Reads `mvhd` from the start of a file. */
async function movieHeader(path: string) {
  using fh = await Deno.open(path, { read: true });
  const head = new Uint8Array(4096);
  const n = (await fh.read(head)) ?? 0;
  return readMovieHeader(head.subarray(0, n));
}

/**
 * The recordings of stream `name` under `dir`, oldest first. Throws `RangeError` for a
 * name that breaks the stream-name rule; a stream with nothing recorded lists nothing.
 */
export async function listRecordings(
  dir: string,
  name: string,
  options: ListOptions = {},
): Promise<Recording[]> {
  if (!STREAM_NAME_RE.test(name)) throw new RangeError(`Invalid stream name: ${name}`);
  const base = (options.baseUrl ?? "").replace(/\/+$/, "");
  const archived = new Map(
    (await options.archive?.entries(name) ?? []).map((e) => [e.file, e]),
  );
  const out: Recording[] = [];
  const streamDir = join(dir, name);
  let entries: Deno.DirEntry[] = [];
  try {
    entries = await Array.fromAsync(Deno.readDir(streamDir));
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  const local = new Set<string>();
  for (const e of entries) {
    if (!e.isFile || !parseChunkName(e.name)) continue;
    const path = join(streamDir, e.name);
    try {
      const st = await Deno.stat(path);
      const mvhd = await movieHeader(path);
      const copy = archived.get(e.name);
      local.add(e.name);
      out.push({
        file: e.name,
        size: st.size,
        durationSeconds: round3(mvhd?.durationSeconds ?? 0),
        startedAt: (mvhd?.created ?? parseChunkName(e.name)!.startedAt).toISOString(),
        url: `${base}/recordings/${name}/${e.name}`,
        archived: copy !== undefined,
        ...(copy ? { archiveUrl: options.archive!.urlOf(copy.key) } : {}),
      });
    } catch { /* deleted while listing */ }
  }
  for (const [file, e] of archived) {
    if (local.has(file) || !parseChunkName(file)) continue;
    const url = options.archive!.urlOf(e.key);
    out.push({
      file,
      size: e.size,
      durationSeconds: round3(e.durationSeconds ?? 0),
      startedAt: e.startedAt ?? parseChunkName(file)!.startedAt.toISOString(),
      url,
      archived: true,
      archiveUrl: url,
    });
  }
  return out.sort(byBroadcastThenNumber);
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function byBroadcastThenNumber(a: Recording, b: Recording): number {
  const pa = parseChunkName(a.file)!;
  const pb = parseChunkName(b.file)!;
  return pa.startedAt.getTime() - pb.startedAt.getTime() || pa.n - pb.n;
}
