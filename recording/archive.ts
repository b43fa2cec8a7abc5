/**
 * The object-storage archive: uploads every finished recording to S3 (or anything that
 * speaks its API) as `{S3_PREFIX}/{name}/{file}`, one file at a time through a queue and a
 * single worker, so the origin's two cores stay with live streaming. A file whose upload
 * still fails after its retries (`s3_upload.ts`) is queued again later, never dropped; the
 * per-stream ledger (`ledger.ts`) is updated after every step, so a restart queues only
 * what is not yet uploaded and resumes where it stopped. Only a verified upload lets
 * `S3_DELETE_LOCAL` delete the local file.
 */

import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "@cascade/common/log";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { readMovieHeader } from "@cascade/media/mp4/reader";
import { type LedgerEntry, LedgerStore } from "./ledger.ts";
import { AbortedError, S3Uploader } from "./s3_upload.ts";

const MIB = 1024 * 1024;

export interface ArchiveOptions {
  dir: string;
  bucket: string;
  /** Key prefix without surrounding slashes; "" for none. */
  prefix: string;
  client: S3Client;
  deleteLocal: boolean;
  log: Logger;
  /** Default 8 MiB; files up to this size go in one PUT. */
  partSizeBytes?: number;
  /** Attempts per request (default 5) and the backoff between them. */
  attempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** A file whose upload failed all attempts is queued again after this; default 60 s. */
  fileRetryMs?: number;
  /** Base of download URLs; default the endpoint's path-style URL, or AWS's virtual host. */
  publicUrl?: string;
  /** The endpoint and region the client uses, for download URLs. */
  endpoint?: string;
  region?: string;
}

export interface S3ClientSettings {
  region: string;
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/**
 * An S3 client for AWS or an S3-compatible endpoint (path-style addressing then). The
 * archive retries itself, so the SDK makes one attempt per call, and checksums are sent only
 * where the API requires them (S3-compatible servers often reject the newer trailers).
 * Credentials default to the SDK's chain (`AWS_ACCESS_KEY_ID`, profiles, instance roles).
 */
export function createS3Client(s: S3ClientSettings): S3Client {
  return new S3Client({
    region: s.region,
    ...(s.endpoint ? { endpoint: s.endpoint, forcePathStyle: true } : {}),
    ...(s.credentials ? { credentials: s.credentials } : {}),
    maxAttempts: 1,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

/** See the module comment. */
export class Archive {
  readonly bucket: string;
  readonly prefix: string;
  readonly #o: ArchiveOptions;
  readonly #log: Logger;
  readonly #ledgers: LedgerStore;
  readonly #uploader: S3Uploader;
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  #worker: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];
  #closed = false;
  /** Requests sent, by command name (for tests and metrics). */
  readonly requests: Map<string, number>;

  constructor(o: ArchiveOptions) {
    this.bucket = o.bucket;
    this.prefix = o.prefix.replace(/^\/+|\/+$/g, "");
    this.#o = o;
    this.#log = o.log.child({ component: "archive" });
    this.#ledgers = new LedgerStore(o.dir, this.#log);
    this.#uploader = new S3Uploader({
      client: o.client,
      bucket: o.bucket,
      partSize: o.partSizeBytes ?? 8 * MIB,
      log: this.#log,
      attempts: o.attempts,
      backoffBaseMs: o.backoffBaseMs,
      backoffMaxMs: o.backoffMaxMs,
    });
    this.requests = this.#uploader.requests;
  }

  /** Object key of a recording. */
  keyOf(name: string, file: string): string {
    return this.prefix ? `${this.prefix}/${name}/${file}` : `${name}/${file}`;
  }

  /** Download URL of an object. */
  urlOf(key: string): string {
    const path = key.split("/").map(encodeURIComponent).join("/");
    if (this.#o.publicUrl) return `${this.#o.publicUrl.replace(/\/+$/, "")}/${path}`;
    if (this.#o.endpoint) return `${this.#o.endpoint.replace(/\/+$/, "")}/${this.bucket}/${path}`;
    return `https://${this.bucket}.s3.${this.#o.region ?? "us-east-1"}.amazonaws.com/${path}`;
  }

  /**
   * Loads the ledgers and queues every finished local file they do not list as uploaded
   * (oldest first), then starts uploading.
   */
  async start(): Promise<void> {
    const pending: { path: string; mtimeMs: number }[] = [];
    let names: Deno.DirEntry[] = [];
    try {
      names = await Array.fromAsync(Deno.readDir(this.#o.dir));
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
    for (const d of names) {
      if (!d.isDirectory || !STREAM_NAME_RE.test(d.name)) continue;
      const ledger = await this.#ledgers.load(d.name);
      for await (const f of Deno.readDir(join(this.#o.dir, d.name))) {
        if (!f.isFile || !f.name.endsWith(".mp4")) continue;
        const path = join(this.#o.dir, d.name, f.name);
        const st = await Deno.stat(path).catch(() => null);
        if (!st) continue;
        const entry = ledger.files[f.name];
        if (entry?.state === "uploaded" && entry.size === st.size) continue;
        pending.push({ path, mtimeMs: st.mtime?.getTime() ?? 0 });
      }
    }
    pending.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const p of pending) this.enqueue(p.path);
  }

  /** Queues a finished file `{dir}/{name}/{file}` for upload. */
  enqueue(path: string): void {
    if (this.#closed || this.#queued.has(path)) return;
    this.#queued.add(path);
    this.#queue.push(path);
    this.#worker ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      await this.#work();
    } finally {
      this.#worker = undefined;
      if (this.#queue.length > 0 && !this.#closed) this.#worker = this.#drain();
      else for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  /** Whether the file's upload is done and verified (retention may then age it out). */
  isArchived(path: string): boolean {
    const { name, file } = splitPath(this.#o.dir, path);
    const entry = this.#ledgers.loaded(name)?.files[file];
    return entry?.state === "uploaded";
  }

  /** Files of a stream that the archive holds, as the ledger knows them. */
  async entries(name: string): Promise<(LedgerEntry & { file: string })[]> {
    const ledger = await this.#ledgers.load(name);
    return Object.entries(ledger.files)
      .filter(([, e]) => e.state === "uploaded")
      .map(([file, e]) => ({ file, ...e }));
  }

  /** Notes that a local file is gone (retention), so listings point at the archive. */
  async forgetLocal(path: string): Promise<void> {
    const { name, file } = splitPath(this.#o.dir, path);
    const ledger = this.#ledgers.loaded(name);
    const entry = ledger?.files[file];
    if (!ledger || !entry) return;
    if (entry.state === "uploading") {
      delete ledger.files[file];
    } else entry.local = false;
    await this.#ledgers.save(name).catch(() => {});
  }

  /** Files waiting or uploading. */
  get pending(): number {
    return this.#queue.length + (this.#worker ? 1 : 0);
  }

  /** Files whose upload failed and waits for its retry. */
  get failed(): number {
    return this.#retryTimers.size;
  }

  /** Resolves when nothing is queued or uploading (failed files wait on their retry timer). */
  idle(): Promise<void> {
    if (!this.#worker && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Aborts the request in flight (the ledger keeps what was done) and stops. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#retryTimers) clearTimeout(t);
    this.#retryTimers.clear();
    this.#uploader.abort();
    await this.#worker?.catch(() => {});
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  async #work(): Promise<void> {
    while (this.#queue.length > 0 && !this.#closed) {
      const path = this.#queue.shift()!;
      this.#queued.delete(path);
      try {
        await this.#upload(path);
      } catch (err) {
        if (this.#closed || err instanceof AbortedError) return;
        const retryMs = this.#o.fileRetryMs ?? 60_000;
        this.#log.warn("archive.upload_failed", {
          file: splitPath(this.#o.dir, path).rel,
          error: err,
          retryInSeconds: Math.round(retryMs / 1000),
        });
        const timer = setTimeout(() => {
          this.#retryTimers.delete(timer);
          this.enqueue(path);
        }, retryMs);
        this.#retryTimers.add(timer);
      }
    }
  }

  async #upload(path: string): Promise<void> {
    const { name, file, rel } = splitPath(this.#o.dir, path);
    const ledger = await this.#ledgers.load(name);
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      this.#log.info("archive.skipped", { file: rel, reason: "deleted locally before upload" });
      if (ledger.files[file]?.state === "uploading") {
        delete ledger.files[file];
        await this.#ledgers.save(name);
      }
      return;
    }
    const size = st.size;
    const existing = ledger.files[file];
    if (existing?.state === "uploaded" && existing.size === size) return;
    const key = this.keyOf(name, file);
    const meta = await readMeta(path);
    const started = performance.now();
    const entry = await this.#uploader.put(
      { path, rel, key, size, mtimeMs: st.mtime?.getTime() ?? 0 },
      existing,
      async (progress) => {
        ledger.files[file] = progress;
        await this.#ledgers.save(name);
      },
    );
    Object.assign(entry, meta, { local: true, uploadedAt: new Date().toISOString() });
    ledger.files[file] = entry;
    await this.#ledgers.save(name);
    this.#log.info("archive.uploaded", {
      file: rel,
      key,
      bytes: size,
      parts: typeof entry.parts === "number" ? entry.parts : 1,
      verified: entry.verified,
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
    });
    if (this.#o.deleteLocal) {
      if (!entry.verified) {
        this.#log.warn("archive.kept_local", {
          file: rel,
          reason: "the object's ETag could not be matched to the local file",
        });
        return;
      }
      await Deno.remove(path).catch((err) => {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      });
      entry.local = false;
      await this.#ledgers.save(name);
      this.#log.info("archive.deleted_local", { file: rel });
    }
  }
}

/** Duration and start time from the file's `mvhd`, for listings of archived files. */
async function readMeta(path: string): Promise<{ durationSeconds?: number; startedAt?: string }> {
  try {
    using fh = await Deno.open(path, { read: true });
    const head = new Uint8Array(4096);
    const n = (await fh.read(head)) ?? 0;
    const mvhd = readMovieHeader(head.subarray(0, n));
    if (!mvhd) return {};
    return { durationSeconds: mvhd.durationSeconds, startedAt: mvhd.created.toISOString() };
  } catch {
    return {};
  }
}

/** `{dir}/{name}/{file}` → its parts; throws `RangeError` for a path outside `dir`. */
function splitPath(dir: string, path: string): { name: string; file: string; rel: string } {
  const parts = path.split(/[\\/]/);
  const file = parts.at(-1) ?? "";
  const name = parts.at(-2) ?? "";
  if (!STREAM_NAME_RE.test(name) || file === "" || join(dir, name, file) !== join(path)) {
    throw new RangeError(`Not a recording path under ${dir}: ${path}`);
  }
  return { name, file, rel: `${name}/${file}` };
}
