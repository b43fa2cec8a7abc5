/**
 * Putting one file into S3 (or anything that speaks its API) and proving it arrived. Files
 * up to one part go in a single PUT, larger ones as a multipart upload that reports each
 * acknowledged part to the caller's ledger and can resume from it; every request carries
 * `Content-MD5`, so the server refuses corrupted bytes, and is retried with exponential
 * backoff and full jitter. Verification HEADs the object and compares its size and ETag
 * with what was sent: the file's MD5 for a single PUT, and for multipart either AWS's
 * `md5(part md5s)-N` form or a whole-file MD5 (as some S3-compatible servers report). A
 * completed upload whose ledger write was lost is recognised that way instead of being
 * sent twice.
 */

import { createHash } from "node:crypto";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { Logger } from "@cascade/common/log";
import type { LedgerEntry, LedgerPart } from "./ledger.ts";

export interface S3UploaderOptions {
  client: S3Client;
  bucket: string;
  /** Files up to this size go in one PUT; larger ones in parts of this size. */
  partSize: number;
  log: Logger;
  /** Attempts per request (default 5) and the backoff between them. */
  attempts?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

/** A local file and the object it becomes. */
export interface UploadTarget {
  path: string;
  /** `{name}/{file}`, for logs. */
  rel: string;
  key: string;
  size: number;
  mtimeMs: number;
}

/** Thrown once `abort()` was called; the ledger keeps what was done before. */
export class AbortedError extends Error {
  override name = "AbortedError";
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

/** See the module comment. One upload at a time. */
export class S3Uploader {
  readonly #o: S3UploaderOptions;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  /** Requests sent, by command name (for tests and metrics). */
  readonly requests = new Map<string, number>();

  constructor(o: S3UploaderOptions) {
    if (!(o.partSize >= 1)) throw new RangeError(`Invalid partSizeBytes: ${o.partSize}`);
    this.#o = o;
    this.#log = o.log;
  }

  /** Aborts the request in flight and every later one with `AbortedError`. */
  abort(): void {
    this.#abort.abort();
  }

  /**
   * Uploads `t` and returns its "uploaded" ledger entry. `existing` is what the ledger holds
   * for the file: a multipart upload of the same bytes and part size resumes from it.
   * `record` is called with the "uploading" entry whenever a multipart step completes.
   */
  put(
    t: UploadTarget,
    existing: LedgerEntry | undefined,
    record: (entry: LedgerEntry) => Promise<void>,
  ): Promise<LedgerEntry> {
    if (t.size <= this.#o.partSize) return this.#putSingle(t);
    const resumable = existing?.state === "uploading" && existing.size === t.size &&
        existing.mtimeMs === t.mtimeMs && existing.partSize === this.#o.partSize &&
        existing.key === t.key && Array.isArray(existing.parts)
      ? existing
      : undefined;
    return this.#putMultipart(t, resumable, record);
  }

  async #putSingle({ path, key, size, mtimeMs }: UploadTarget): Promise<LedgerEntry> {
    const body = await Deno.readFile(path);
    const md5 = createHash("md5").update(body).digest();
    const res = await this.#send("PutObject", (signal) =>
      this.#o.client.send(
        new PutObjectCommand({
          Bucket: this.#o.bucket,
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
      state: "uploaded",
      etag: verified.etag ?? etag,
      verified: verified.ok,
    };
  }

  async #putMultipart(
    t: UploadTarget,
    resume: LedgerEntry | undefined,
    record: (entry: LedgerEntry) => Promise<void>,
  ): Promise<LedgerEntry> {
    const { path, rel, key, size, mtimeMs } = t;
    const partSize = this.#o.partSize;
    const count = Math.ceil(size / partSize);
    let entry = resume;
    if (entry) {
      this.#log.info("archive.resume", {
        file: rel,
        partsDone: (entry.parts as LedgerPart[]).length,
        parts: count,
      });
    }
    for (let restart = 0;; restart++) {
      if (!entry) {
        const created = await this.#send("CreateMultipartUpload", (signal) =>
          this.#o.client.send(
            new CreateMultipartUploadCommand({
              Bucket: this.#o.bucket,
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
        await record(entry);
      }
      try {
        return await this.#continueMultipart(path, entry, count, record);
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
        this.#log.info("archive.restart", { file: rel, reason: "NoSuchUpload" });
        entry = undefined;
      }
    }
  }

  async #continueMultipart(
    path: string,
    entry: LedgerEntry,
    count: number,
    record: (entry: LedgerEntry) => Promise<void>,
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
            Bucket: this.#o.bucket,
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
      await record(entry);
      this.#log.debug("archive.part", { key: entry.key, part: n, parts: count });
    }
    const done = await this.#send("CompleteMultipartUpload", (signal) =>
      this.#o.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.#o.bucket,
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
          this.#o.client.send(new HeadObjectCommand({ Bucket: this.#o.bucket, Key: key }), {
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

  /** Sends with retries: exponential backoff with full jitter, aborted by `abort()`. */
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
          error: err,
          waitMs: Math.round(waitMs),
        });
        await abortableDelay(waitMs, signal);
      }
    }
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
