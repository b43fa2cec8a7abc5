/**
 * Recording retention: keeps `RECORD_DIR` within `RECORD_MAX_GB` and deletes finished
 * files older than `RECORD_RETENTION_HOURS`. Oldest finished files go first (by the time
 * they were finished); a file being written is never deleted, whatever the limits say. Age
 * deletes only files the archive is done with (so with `S3_BUCKET` a file is never lost
 * because an upload was slow); the size cap is a hard limit and deletes unarchived files
 * too, saying so in the log. Leftover `.part` files that nobody writes (a crashed process)
 * are removed once they have not changed for `STALE_PART_MS`.
 *
 * `planRetention` is the pure decision, `scanRecordings` reads the directory, and
 * `Retention` runs both every `intervalMs` and on demand (after each chunk, on disk full).
 */

import { join } from "node:path";
import type { Logger } from "@cascade/common/log";
import { STREAM_NAME_RE } from "@cascade/common/config";

/** A `.part` file unchanged this long belongs to no running recorder. */
export const STALE_PART_MS = 10 * 60 * 1000;
/** `RECORD_MAX_GB` counts decimal gigabytes, as disks are sold. */
export const BYTES_PER_GB = 1e9;

export interface RecordingFile {
  /** Stream name (the sub-directory). */
  name: string;
  file: string;
  path: string;
  size: number;
  mtimeMs: number;
  /** A `.part` file: being written, or left by a crash. */
  part: boolean;
}

/** Every `.mp4` and `.part` file under `{dir}/{name}/`; a missing `dir` is empty. */
export async function scanRecordings(dir: string): Promise<RecordingFile[]> {
  const out: RecordingFile[] = [];
  let names: Deno.DirEntry[];
  try {
    names = await Array.fromAsync(Deno.readDir(dir));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return out;
    throw err;
  }
  for (const entry of names) {
    if (!entry.isDirectory || !STREAM_NAME_RE.test(entry.name)) continue;
    const streamDir = join(dir, entry.name);
    let files: Deno.DirEntry[];
    try {
      files = await Array.fromAsync(Deno.readDir(streamDir));
    } catch {
      continue; // removed meanwhile
    }
    for (const f of files) {
      const part = f.name.endsWith(".part");
      if (!f.isFile || !(part || f.name.endsWith(".mp4"))) continue;
      const path = join(streamDir, f.name);
      try {
        const st = await Deno.stat(path);
        out.push({
          name: entry.name,
          file: f.name,
          path,
          size: st.size,
          mtimeMs: st.mtime?.getTime() ?? 0,
          part,
        });
      } catch { /* removed meanwhile */ }
    }
  }
  return out;
}

export interface RetentionPolicy {
  /** Total bytes allowed; undefined or 0 → no cap. */
  maxBytes?: number;
  /** Age (since finished) after which a file goes; undefined or 0 → forever. */
  maxAgeMs?: number;
  now: number;
  isOpen: (path: string) => boolean;
  /** False while the archive still needs the file; omitted → no archive, always true. */
  isArchived?: (path: string) => boolean;
}

export interface RetentionDecision {
  file: RecordingFile;
  reason: "age" | "size" | "stale-part";
  archived: boolean;
}

/** Which files to delete, oldest first; see the module comment. */
export function planRetention(files: RecordingFile[], p: RetentionPolicy): RetentionDecision[] {
  const out: RetentionDecision[] = [];
  const archived = (f: RecordingFile) => p.isArchived?.(f.path) ?? true;
  let total = 0;
  for (const f of files) total += f.size;
  const finished = files.filter((f) => !f.part && !p.isOpen(f.path))
    .sort((a, b) => a.mtimeMs - b.mtimeMs || a.path.localeCompare(b.path));
  const gone = new Set<RecordingFile>();
  for (const f of files) {
    if (f.part && !p.isOpen(f.path) && p.now - f.mtimeMs > STALE_PART_MS) {
      out.push({ file: f, reason: "stale-part", archived: false });
      gone.add(f);
      total -= f.size;
    }
  }
  if (p.maxAgeMs) {
    for (const f of finished) {
      if (p.now - f.mtimeMs <= p.maxAgeMs) break;
      if (!archived(f)) continue;
      out.push({ file: f, reason: "age", archived: true });
      gone.add(f);
      total -= f.size;
    }
  }
  if (p.maxBytes) {
    for (const f of finished) {
      if (total <= p.maxBytes) break;
      if (gone.has(f)) continue;
      out.push({ file: f, reason: "size", archived: archived(f) });
      gone.add(f);
      total -= f.size;
    }
  }
  return out;
}

export interface RetentionOptions {
  dir: string;
  maxBytes?: number;
  maxAgeMs?: number;
  isOpen: (path: string) => boolean;
  isArchived?: (path: string) => boolean;
  /** Told about each deleted file (e.g. to update the archive's view). */
  onDelete?: (file: RecordingFile) => void;
  log: Logger;
  /** Period of automatic sweeps; default 60 s. */
  intervalMs?: number;
  now?: () => number;
}

/** Runs `planRetention` over `scanRecordings` periodically and on demand. */
export class Retention {
  readonly #o: RetentionOptions;
  readonly #log: Logger;
  #timer: ReturnType<typeof setInterval> | undefined;
  #running: Promise<RetentionDecision[]> | undefined;
  #again = false;

  constructor(o: RetentionOptions) {
    this.#o = o;
    this.#log = o.log.child({ component: "retention" });
  }

  /** True when a limit is configured; otherwise sweeps only clear stale `.part` files. */
  get limited(): boolean {
    return Boolean(this.#o.maxBytes || this.#o.maxAgeMs);
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.sweep(), this.#o.intervalMs ?? 60_000);
    void this.sweep();
  }

  /** Stops the timer and waits for a running sweep. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => {});
  }

  /**
   * Deletes what the policy says now and returns what went. Calls while a sweep runs
   * are folded into one more sweep after it.
   */
  sweep(): Promise<RetentionDecision[]> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    const run = (async () => {
      const all: RetentionDecision[] = [];
      do {
        this.#again = false;
        all.push(...await this.#sweepOnce());
      } while (this.#again);
      return all;
    })();
    this.#running = run;
    run.finally(() => (this.#running = undefined)).catch(() => {});
    return run;
  }

  async #sweepOnce(): Promise<RetentionDecision[]> {
    let files: RecordingFile[];
    try {
      files = await scanRecordings(this.#o.dir);
    } catch (err) {
      this.#log.error("retention.scan_failed", { error: err });
      return [];
    }
    const plan = planRetention(files, {
      maxBytes: this.#o.maxBytes,
      maxAgeMs: this.#o.maxAgeMs,
      now: (this.#o.now ?? Date.now)(),
      isOpen: this.#o.isOpen,
      isArchived: this.#o.isArchived,
    });
    const done: RetentionDecision[] = [];
    for (const d of plan) {
      // Checked again right before deleting: a chunk may have opened since the scan.
      if (!d.file.part && this.#o.isOpen(d.file.path)) continue;
      try {
        await Deno.remove(d.file.path);
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) {
          this.#log.warn("retention.delete_failed", {
            file: `${d.file.name}/${d.file.file}`,
            error: err,
          });
        }
        continue;
      }
      done.push(d);
      const fields = {
        file: `${d.file.name}/${d.file.file}`,
        bytes: d.file.size,
        reason: d.reason,
      };
      if (d.reason === "size" && !d.archived) {
        this.#log.warn("retention.deleted_unarchived", {
          ...fields,
          hint: "RECORD_MAX_GB reached before the archive upload finished",
        });
      } else this.#log.info("retention.deleted", fields);
      try {
        this.#o.onDelete?.(d.file);
      } catch { /* observer's problem */ }
    }
    return done;
  }
}
