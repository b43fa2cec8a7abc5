/**
 * The TS packager's files on disk for one stream directory: the segment being written (as
 * `{uri}.tmp`, in batches, renamed to `{uri}` once complete), segments that left the
 * playlist (deleted after a delay, for slow players), renames when a takeover renumbers the
 * playlist, and the bytes all of it takes. A write error breaks only the segment being
 * written: its file is dropped when it closes and the caller lists nothing for it.
 */
import { join } from "node:path";
import type { Logger } from "@cascade/common/log";
import type { Counter } from "@cascade/common/metrics";
import { TEMP_SUFFIX } from "@cascade/media/hls/layout";

export class SegmentFiles {
  readonly dir: string;
  readonly #log: Logger;
  readonly #bytesWritten: Counter;
  #file: Deno.FsFile | null = null;
  /** URI of the segment being written. */
  #uri: string | null = null;
  #broken = false;
  /** Deletions waiting for their delay, with the files each one removes. */
  readonly #pending = new Map<ReturnType<typeof setTimeout>, string[]>();
  /** Bytes of this directory's files. */
  diskBytes = 0;

  constructor(dir: string, log: Logger, bytesWritten: Counter) {
    this.dir = dir;
    this.#log = log;
    this.#bytesWritten = bytesWritten;
  }

  /** Whether bytes for the open segment are worth producing. */
  get writable(): boolean {
    return this.#file !== null && !this.#broken;
  }

  /** Starts writing segment `uri` (as its temporary file). */
  async open(uri: string): Promise<void> {
    this.#uri = uri;
    this.#broken = false;
    try {
      this.#file = await Deno.open(this.#tmpPath(uri), {
        write: true,
        create: true,
        truncate: true,
      });
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Appends `bytes` to the open segment. */
  async write(bytes: Uint8Array): Promise<void> {
    const file = this.#file;
    if (!file || this.#broken || bytes.length === 0) return;
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      this.diskBytes += bytes.length;
      this.#bytesWritten.inc(bytes.length);
    } catch (err) {
      this.#fail(err);
    }
  }

  /**
   * Closes the open segment, now named `uri` (a takeover may have renumbered it), and gives
   * it its final name; false when it broke or could not be renamed, and its file is gone.
   */
  async close(uri: string): Promise<boolean> {
    const file = this.#file;
    const broken = this.#broken || !file;
    this.#file = null;
    this.#uri = null;
    try {
      file?.close();
    } catch { /* already closed */ }
    if (broken) {
      await Deno.remove(this.#tmpPath(uri)).catch(() => {});
      return false;
    }
    try {
      await Deno.rename(this.#tmpPath(uri), join(this.dir, uri));
      return true;
    } catch (err) {
      this.#log.error("hls.segment_publish_failed", { uri, error: err });
      return false;
    }
  }

  /**
   * Renames a listed segment, or the open one (its temporary file, which stays open for
   * writing), for a takeover's renumbering.
   */
  async rename(from: string, to: string, open: boolean): Promise<void> {
    try {
      if (open) {
        await Deno.rename(this.#tmpPath(from), this.#tmpPath(to));
        if (this.#uri === from) this.#uri = to;
      } else {
        await Deno.rename(join(this.dir, from), join(this.dir, to));
      }
    } catch (err) {
      if (open) this.#fail(err);
      else this.#log.error("hls.segment_rename_failed", { from, to, error: err });
    }
  }

  /** Deletes `uris` after `delayMs`. */
  deleteLater(uris: string[], delayMs: number): void {
    const timer = setTimeout(async () => {
      this.#pending.delete(timer);
      await this.delete(uris);
    }, delayMs);
    this.#pending.set(timer, uris);
  }

  /**
   * Deletes `uris` and every deletion still waiting, now: before a takeover reuses numbers,
   * so that no later deletion removes a file of the same name.
   */
  async deleteAllNow(uris: string[]): Promise<void> {
    const waiting = [...this.#pending.values()].flat();
    this.cancelDeletions();
    await this.delete([...waiting, ...uris]);
  }

  async delete(uris: string[]): Promise<void> {
    for (const uri of uris) {
      try {
        const path = join(this.dir, uri);
        const { size } = await Deno.stat(path);
        await Deno.remove(path);
        this.diskBytes = Math.max(0, this.diskBytes - size);
      } catch { /* already gone */ }
    }
  }

  /** Stops waiting deletions; their files stay. */
  cancelDeletions(): void {
    for (const t of this.#pending.keys()) clearTimeout(t);
    this.#pending.clear();
  }

  /** Removes the whole directory. */
  async removeAll(): Promise<void> {
    this.cancelDeletions();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    this.diskBytes = 0;
  }

  #fail(err: unknown): void {
    this.#broken = true;
    this.#log.error("hls.segment_write_failed", { uri: this.#uri, error: err });
  }

  #tmpPath(uri: string): string {
    return join(this.dir, `${uri}${TEMP_SUFFIX}`);
  }
}
