/**
 * One recording chunk on disk: an MP4 written as `{path}.part` while frames arrive and
 * renamed to `{path}` once complete, standalone and faststart (`moov` before `mdat`).
 *
 * Why native muxing rather than `ffmpeg -c copy` over the packaged HLS segments: the hub
 * already hands us demuxed AVCC frames with exact timestamps, so writing MP4 is table
 * bookkeeping in `@cascade/media/mp4/muxer`, with no process per stream (ffmpeg costs
 * ~57 MB RSS per stream), no dependency on the HLS segments outliving their window, no
 * TS→MP4 timestamp round trip, and chunk cuts on exactly the keyframe we choose. Faststart
 * without a second copy of the media: the file starts with `ftyp` and a `free` box sized
 * for the `moov` (about 1 KiB per second of media), the `mdat` payload is appended behind
 * it, and at the end the `moov` is written into the reserved room. Only if it does not fit
 * (an unusually dense chunk) is the `mdat` moved back in place by the difference; that
 * needs just the difference in free space, so even a nearly full disk can finish a chunk.
 */

import { free, MDAT_HEADER_SIZE, mdatHeader } from "@cascade/media/mp4/boxes";
import { fileHead, Mp4Muxer, type Mp4MuxerOptions, placeMoov } from "@cascade/media/mp4/muxer";
import type { MediaFrame } from "@cascade/media/frame";

/** Room reserved for the `moov`: generous for 30–60 fps video plus AAC. */
export function moovReserveBytes(chunkSeconds: number): number {
  return 16 * 1024 + Math.ceil(chunkSeconds) * 1024;
}

const SHIFT_BUFFER_BYTES = 1024 * 1024;

export interface FinishedFile {
  path: string;
  size: number;
  durationSeconds: number;
  /** The `moov` did not fit the reserve and the media was moved. */
  shifted: boolean;
}

/** True for "no space left" and "quota exceeded" errors. */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === "ENOSPC" || code === "EDQUOT" ||
    (err instanceof Error && /No space left on device|os error 28\b/.test(err.message));
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await file.write(bytes.subarray(written));
}

async function readExactly(file: Deno.FsFile, into: Uint8Array): Promise<void> {
  let got = 0;
  while (got < into.length) {
    const n = await file.read(into.subarray(got));
    if (n === null) {
      throw new RangeError(`Cannot read chunk: ended ${into.length - got} bytes early`);
    }
    got += n;
  }
}

/** See the module comment. Methods must not be called concurrently. */
export class ChunkFile {
  readonly path: string;
  readonly partPath: string;
  readonly #file: Deno.FsFile;
  readonly #muxer: Mp4Muxer;
  readonly #reserve: number;
  readonly #dataStart: number;
  #batch = new Uint8Array(256 * 1024);
  #closed = false;
  /** Bytes in the file so far. */
  bytes: number;

  private constructor(path: string, file: Deno.FsFile, muxer: Mp4Muxer, reserve: number) {
    this.path = path;
    this.partPath = `${path}.part`;
    this.#file = file;
    this.#muxer = muxer;
    this.#reserve = reserve;
    const head = fileHead(reserve);
    this.#dataStart = head.dataStart;
    this.bytes = head.dataStart;
  }

  /** Creates `{path}.part` with the file head written. */
  static async create(
    path: string,
    options: Mp4MuxerOptions & { reserveBytes: number },
  ): Promise<ChunkFile> {
    const muxer = new Mp4Muxer(options);
    const file = await Deno.open(`${path}.part`, {
      read: true,
      write: true,
      create: true,
      truncate: true,
    });
    const chunk = new ChunkFile(path, file, muxer, options.reserveBytes);
    try {
      await writeAll(file, fileHead(options.reserveBytes).bytes);
    } catch (err) {
      await chunk.abandon();
      throw err;
    }
    return chunk;
  }

  get muxer(): Mp4Muxer {
    return this.#muxer;
  }

  /** Adds a frame; its bytes reach the file in interleaved batches. */
  async write(frame: MediaFrame): Promise<void> {
    this.#muxer.add(frame);
    if (this.#muxer.shouldFlush()) await this.#flush();
  }

  async #flush(): Promise<void> {
    const pieces = this.#muxer.take();
    let size = 0;
    for (const p of pieces) size += p.length;
    if (size === 0) return;
    if (size > this.#batch.length) this.#batch = new Uint8Array(size * 2);
    let at = 0;
    for (const p of pieces) {
      this.#batch.set(p, at);
      at += p.length;
    }
    await writeAll(this.#file, this.#batch.subarray(0, size));
    this.bytes += size;
  }

  /**
   * Writes what is buffered, then the `moov` (into the reserve, or moving the media when
   * it does not fit) and the `mdat` size; syncs and renames `.part` to the final name.
   * On failure the `.part` file is removed and the error rethrown.
   */
  async finish(endDtsMs?: number): Promise<FinishedFile> {
    try {
      await this.#flush();
      const mux = this.#muxer;
      mux.finish(endDtsMs);
      const measure = mux.moov(this.#dataStart);
      const place = placeMoov(measure.length, this.#reserve);
      const mdatAt = this.#dataStart - MDAT_HEADER_SIZE;
      if (place.shift > 0) await this.#shiftTail(mdatAt, place.shift);
      const moov = place.shift > 0 ? mux.moov(this.#dataStart + place.shift) : measure;
      if (moov.length !== measure.length) throw new Error("moov size changed with its offset");
      await this.#file.seek(place.moovAt, Deno.SeekMode.Start);
      await writeAll(this.#file, moov);
      if (place.freeSize > 0) await writeAll(this.#file, free(place.freeSize));
      await writeAll(this.#file, mdatHeader(mux.dataSize));
      await this.#file.syncData();
      this.#close();
      await Deno.rename(this.partPath, this.path);
      return {
        path: this.path,
        size: this.bytes + place.shift,
        durationSeconds: mux.durationSeconds,
        shifted: place.shift > 0,
      };
    } catch (err) {
      await this.abandon();
      throw err;
    }
  }

  /** Moves bytes `[from, end)` to `from + by`, last block first, like memmove. */
  async #shiftTail(from: number, by: number): Promise<void> {
    const file = this.#file;
    // Claim the new tail first, so running out of space fails before anything moves.
    await file.seek(this.bytes, Deno.SeekMode.Start);
    await writeAll(file, new Uint8Array(by));
    const buf = new Uint8Array(Math.min(SHIFT_BUFFER_BYTES, this.bytes - from));
    let end = this.bytes;
    while (end > from) {
      const n = Math.min(buf.length, end - from);
      const block = buf.subarray(0, n);
      await file.seek(end - n, Deno.SeekMode.Start);
      await readExactly(file, block);
      await file.seek(end - n + by, Deno.SeekMode.Start);
      await writeAll(file, block);
      end -= n;
    }
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }

  /** Closes and removes the `.part` file (after an error, or to drop the chunk). */
  async abandon(): Promise<void> {
    this.#close();
    await Deno.remove(this.partPath).catch(() => {});
  }
}
