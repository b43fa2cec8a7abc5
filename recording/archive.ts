/**
 * The object-storage archive: uploads every finished recording to S3 (or anything that
 * speaks its API) as `{S3_PREFIX}/{name}/{file}`, one file at a time so the origin's two
 * cores stay with live streaming. Files up to one part go in a single PUT, larger ones as a
 * multipart upload; every request carries `Content-MD5`, so the server refuses corrupted
 * bytes, and is retried with exponential backoff and jitter; a file that still fails is
 * tried again later, never dropped.
 *
 * A small JSON ledger per stream, `{RECORD_DIR}/{name}/.archive.json`, is rewritten
 * atomically (temp file + rename) after every step: the multipart upload id and each part's
 * MD5 and ETag as they complete, then "uploaded" with the object's verified size and ETag.
 * A restart (or a crash, or SIGKILL) therefore resumes a multipart upload at the first part
 * it has no record of, re-uploads no finished file, and keeps knowing about files whose
 * local copy is gone. A completed upload whose ledger write was lost is recognised by its
 * size and ETag instead of being sent twice.
 *
 * Verification compares the object's size and ETag with what was sent: the file's MD5 for
 * a single PUT, and for multipart either AWS's `md5(part md5s)-N` form or a whole-file MD5
 * (as some S3-compatible servers report). Only a verified upload lets `S3_DELETE_LOCAL`
 * delete the local file.
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { Logger } from "@cascade/common/log";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { readMovieHeader } from "@cascade/media/mp4/reader";

export const LEDGER_FILE = ".archive.json";
const MIB = 1024 * 1024;

/** One part of a multipart upload that the server acknowledged. */
export interface LedgerPart {
  n: number;
  size: number;
  md5: string;
  etag: string;
}

export interface LedgerEntry {
  key: string;
  size: number;
  mtimeMs: number;
  state: "uploading" | "uploaded";
  uploadId?: string;
  partSize?: number;
  /** Parts done while uploading; their count once uploaded (the details are not needed then). */
  parts?: LedgerPart[] | number;
  /** Object ETag as the server reported it, without quotes. */
  etag?: string;
  /** The object's size and ETag matched the local file. */
  verified?: boolean;
  uploadedAt?: string;
  /** Still on the local disk (false after `S3_DELETE_LOCAL` or retention removed it). */
  local?: boolean;
  durationSeconds?: number;
  startedAt?: string;
}

interface Ledger {
  version: 1;
  files: Record<string, LedgerEntry>;
}

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

/** `md5(concat(part md5s))-N`, the ETag AWS gives a multipart object. */
export function multipartEtag(partMd5Hex: string[]): string {
  const h = createHash("md5");
  for (const p of partMd5Hex) h.update(hexBytes(p));
  return `${h.digest("hex")}-${partMd5Hex.length}`;
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function unquote(etag: string | undefined): string {
  return (etag ?? "").replace(/"/g, "");
}

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isNoSuchUpload(err: unknown): boolean {
  return (err as { name?: string })?.name === "NoSuchUpload" ||
    (err as { Code?: string })?.Code === "NoSuchUpload";
}

/** Client errors other than timeouts and throttling do not get better by trying again. */
function retryable(err: unknown): boolean {
  if (isNoSuchUpload(err)) return false;
  const status = statusOf(err);
  return status === undefined || status >= 500 || status === 408 || status === 429;
}

class AbortedError extends Error {
  override name = "AbortedError";
}

/** See the module comment. */
export class Archive {
  readonly bucket: string;
  readonly prefix: string;
  readonly #o: ArchiveOptions;
  readonly #log: Logger;
  readonly #partSize: number;
  readonly #ledgers = new Map<string, Ledger>();
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  readonly #abort = new AbortController();
  #worker: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];
  #closed = false;
  /** Requests sent, by command name (for tests and metrics). */
  readonly requests = new Map<string, number>();

  constructor(o: ArchiveOptions) {
    this.bucket = o.bucket;
    this.prefix = o.prefix.replace(/^\/+|\/+$/g, "");
    this.#o = o;
    this.#log = o.log.child({ component: "archive" });
    this.#partSize = o.partSizeBytes ?? 8 * MIB;
    if (!(this.#partSize >= 1)) throw new RangeError(`Invalid partSizeBytes: ${this.#partSize}`);
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
      const ledger = await this.#ledger(d.name);
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
    const entry = this.#ledgers.get(name)?.files[file];
    return entry?.state === "uploaded";
  }

  /** Files of a stream that the archive holds, as the ledger knows them. */
  async entries(name: string): Promise<(LedgerEntry & { file: string })[]> {
    const ledger = await this.#ledger(name);
    return Object.entries(ledger.files)
      .filter(([, e]) => e.state === "uploaded")
      .map(([file, e]) => ({ file, ...e }));
  }

  /** Notes that a local file is gone (retention), so listings point at the archive. */
  async forgetLocal(path: string): Promise<void> {
    const { name, file } = splitPath(this.#o.dir, path);
    const ledger = this.#ledgers.get(name);
    const entry = ledger?.files[file];
    if (!ledger || !entry) return;
    if (entry.state === "uploading") {
      delete ledger.files[file];
    } else entry.local = false;
    await this.#save(name).catch(() => {});
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
    this.#abort.abort();
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
          error: (err as Error).message,
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
    const ledger = await this.#ledger(name);
    let st: Deno.FileInfo;
    try {
      st = await Deno.stat(path);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      this.#log.info("archive.skipped", { file: rel, reason: "deleted locally before upload" });
      if (ledger.files[file]?.state === "uploading") {
        delete ledger.files[file];
        await this.#save(name);
      }
      return;
    }
    const size = st.size;
    const mtimeMs = st.mtime?.getTime() ?? 0;
    const existing = ledger.files[file];
    if (existing?.state === "uploaded" && existing.size === size) return;
    const key = this.keyOf(name, file);
    const meta = await readMeta(path);
    const started = performance.now();
    let entry: LedgerEntry;
    if (size <= this.#partSize) {
      entry = await this.#putSingle(path, key, size, mtimeMs);
    } else {
      const resumable = existing?.state === "uploading" && existing.size === size &&
          existing.mtimeMs === mtimeMs && existing.partSize === this.#partSize &&
          existing.key === key && Array.isArray(existing.parts)
        ? existing
        : undefined;
      entry = await this.#putMultipart(name, file, path, key, size, mtimeMs, resumable);
    }
    Object.assign(entry, meta, { local: true, uploadedAt: new Date().toISOString() });
    ledger.files[file] = entry;
    await this.#save(name);
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
      await this.#save(name);
      this.#log.info("archive.deleted_local", { file: rel });
    }
  }

  async #putSingle(path: string, key: string, size: number, mtimeMs: number) {
    const body = await Deno.readFile(path);
    const md5 = createHash("md5").update(body).digest();
    const res = await this.#send("PutObject", (signal) =>
      this.#o.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: body.length,
          ContentMD5: md5.toString("base64"),
          ContentType: "video/mp4",
        }),
        { abortSignal: signal },
      ));
    const md5Hex = md5.toString("hex");
    const etag = unquote(res.ETag);
    const verified = await this.#verify(key, size, [md5Hex], () => Promise.resolve(md5Hex));
    return {
      key,
      size,
      mtimeMs,
      state: "uploaded" as const,
      etag: verified.etag ?? etag,
      verified: verified.ok,
    };
  }

  async #putMultipart(
    name: string,
    file: string,
    path: string,
    key: string,
    size: number,
    mtimeMs: number,
    resume: LedgerEntry | undefined,
  ): Promise<LedgerEntry> {
    const ledger = this.#ledgers.get(name)!;
    const partSize = this.#partSize;
    const count = Math.ceil(size / partSize);
    let entry = resume;
    if (entry) {
      this.#log.info("archive.resume", {
        file: `${name}/${file}`,
        partsDone: (entry.parts as LedgerPart[]).length,
        parts: count,
      });
    }
    for (let restart = 0;; restart++) {
      if (!entry) {
        const created = await this.#send("CreateMultipartUpload", (signal) =>
          this.#o.client.send(
            new CreateMultipartUploadCommand({
              Bucket: this.bucket,
              Key: key,
              ContentType: "video/mp4",
            }),
            { abortSignal: signal },
          ));
        if (!created.UploadId) throw new Error("CreateMultipartUpload returned no UploadId");
        entry = {
          key,
          size,
          mtimeMs,
          state: "uploading",
          uploadId: created.UploadId,
          partSize,
          parts: [],
        };
        ledger.files[file] = entry;
        await this.#save(name);
      }
      try {
        return await this.#continueMultipart(name, path, entry, count);
      } catch (err) {
        if (!isNoSuchUpload(err) || restart > 0) throw err;
        // The server no longer knows the upload (expired or aborted): maybe it completed
        // just before a crash, else start over.
        const done = await this.#verify(
          key,
          size,
          (entry.parts as LedgerPart[]).map((p) => p.md5),
          () => fileMd5(path),
        );
        if (done.ok) {
          return {
            key,
            size,
            mtimeMs,
            state: "uploaded",
            etag: done.etag,
            verified: true,
            parts: (entry.parts as LedgerPart[]).length,
          };
        }
        this.#log.info("archive.restart", { file: `${name}/${file}`, reason: "NoSuchUpload" });
        entry = undefined;
      }
    }
  }

  async #continueMultipart(
    name: string,
    path: string,
    entry: LedgerEntry,
    count: number,
  ): Promise<LedgerEntry> {
    const partSize = entry.partSize!;
    const parts = entry.parts as LedgerPart[];
    using fh = await Deno.open(path, { read: true });
    for (let n = 1; n <= count; n++) {
      if (parts.some((p) => p.n === n)) continue;
      const offset = (n - 1) * partSize;
      const body = new Uint8Array(Math.min(partSize, entry.size - offset));
      await fh.seek(offset, Deno.SeekMode.Start);
      await readExactly(fh, body);
      const md5 = createHash("md5").update(body).digest();
      const res = await this.#send("UploadPart", (signal) =>
        this.#o.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: entry.key,
            UploadId: entry.uploadId,
            PartNumber: n,
            Body: body,
            ContentLength: body.length,
            ContentMD5: md5.toString("base64"),
          }),
          { abortSignal: signal },
        ));
      const md5Hex = md5.toString("hex");
      const etag = unquote(res.ETag);
      if (etag !== md5Hex && etag !== "") {
        this.#log.debug("archive.part_etag_differs", { part: n, etag });
      }
      parts.push({ n, size: body.length, md5: md5Hex, etag: etag || md5Hex });
      parts.sort((a, b) => a.n - b.n);
      await this.#save(name);
      this.#log.debug("archive.part", { key: entry.key, part: n, parts: count });
    }
    const done = await this.#send("CompleteMultipartUpload", (signal) =>
      this.#o.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: entry.key,
          UploadId: entry.uploadId,
          MultipartUpload: {
            Parts: parts.map((p) => ({ PartNumber: p.n, ETag: `"${p.etag}"` })),
          },
        }),
        { abortSignal: signal },
      ));
    const verified = await this.#verify(
      entry.key,
      entry.size,
      parts.map((p) => p.md5),
      () => fileMd5(path),
    );
    return {
      key: entry.key,
      size: entry.size,
      mtimeMs: entry.mtimeMs,
      state: "uploaded",
      etag: verified.etag ?? unquote(done.ETag),
      verified: verified.ok,
      parts: parts.length,
    };
  }

  /**
   * HEADs the object: its size must equal `size` and its ETag one of the forms the server
   * may give: the MD5 (one part), AWS's multipart form, or the whole file's MD5.
   */
  async #verify(
    key: string,
    size: number,
    partMd5s: string[],
    wholeMd5: () => Promise<string>,
  ): Promise<{ ok: boolean; etag?: string }> {
    let head;
    try {
      head = await this.#send(
        "HeadObject",
        (signal) =>
          this.#o.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
            abortSignal: signal,
          }),
      );
    } catch (err) {
      if (statusOf(err) === 404) return { ok: false };
      throw err;
    }
    const etag = unquote(head.ETag);
    if (head.ContentLength !== size) return { ok: false, etag };
    if (partMd5s.length > 1 && etag === multipartEtag(partMd5s)) return { ok: true, etag };
    if (partMd5s.length === 1 && etag === partMd5s[0]) return { ok: true, etag };
    return { ok: etag === await wholeMd5(), etag };
  }

  /** Sends with retries: exponential backoff with full jitter, aborted by `close()`. */
  async #send<T>(what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const attempts = this.#o.attempts ?? 5;
    const base = this.#o.backoffBaseMs ?? 500;
    const max = this.#o.backoffMaxMs ?? 30_000;
    const signal = this.#abort.signal;
    for (let attempt = 1;; attempt++) {
      if (signal.aborted) throw new AbortedError("Archive closed");
      this.requests.set(what, (this.requests.get(what) ?? 0) + 1);
      try {
        return await call(signal);
      } catch (err) {
        if (signal.aborted) throw new AbortedError("Archive closed");
        if (attempt >= attempts || !retryable(err)) throw err;
        const waitMs = Math.random() * Math.min(max, base * 2 ** (attempt - 1));
        this.#log.debug("archive.retry", {
          request: what,
          attempt,
          error: (err as Error).message,
          waitMs: Math.round(waitMs),
        });
        await abortableDelay(waitMs, signal);
      }
    }
  }

  async #ledger(name: string): Promise<Ledger> {
    let ledger = this.#ledgers.get(name);
    if (ledger) return ledger;
    ledger = await readLedger(join(this.#o.dir, name, LEDGER_FILE), this.#log);
    this.#ledgers.set(name, ledger);
    return ledger;
  }

  async #save(name: string): Promise<void> {
    const ledger = this.#ledgers.get(name);
    if (!ledger) return;
    const path = join(this.#o.dir, name, LEDGER_FILE);
    await Deno.mkdir(join(this.#o.dir, name), { recursive: true });
    await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(ledger, null, 1) + "\n");
    await Deno.rename(`${path}.tmp`, path);
  }
}

/** Reads a ledger file; a missing one is empty, an unreadable one is set aside and logged. */
export async function readLedger(path: string, log?: Logger): Promise<Ledger> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { version: 1, files: {} };
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Ledger;
    if (parsed?.version !== 1 || typeof parsed.files !== "object" || parsed.files === null) {
      throw new SyntaxError("not a version 1 ledger");
    }
    return parsed;
  } catch (err) {
    const aside = `${path}.corrupt-${Date.now()}`;
    await Deno.rename(path, aside).catch(() => {});
    log?.error("archive.ledger_unreadable", {
      path,
      movedTo: aside,
      error: (err as Error).message,
      action: "starting an empty ledger; files will be uploaded again",
    });
    return { version: 1, files: {} };
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

async function fileMd5(path: string): Promise<string> {
  const h = createHash("md5");
  using fh = await Deno.open(path, { read: true });
  for await (const chunk of fh.readable) h.update(chunk);
  return h.digest("hex");
}

async function readExactly(fh: Deno.FsFile, into: Uint8Array): Promise<void> {
  let got = 0;
  while (got < into.length) {
    const n = await fh.read(into.subarray(got));
    if (n === null) throw new RangeError(`Cannot read part: file ended ${into.length - got} early`);
    got += n;
  }
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AbortedError("Archive closed"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
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
