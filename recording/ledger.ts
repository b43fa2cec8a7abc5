/**
 * The archive's ledger: one small JSON file per stream, `{RECORD_DIR}/{name}/.archive.json`,
 * saying which recordings are uploaded (with the object's verified size and ETag) and, for a
 * multipart upload in progress, its upload id and each acknowledged part's MD5 and ETag. It
 * is rewritten atomically (temp file + rename) after every upload step, so a restart, a
 * crash or SIGKILL loses at most the step in flight: the archive resumes a multipart upload
 * at the first part the ledger has no record of, re-uploads no finished file, and keeps
 * knowing about files whose local copy is gone. A ledger that cannot be parsed is set aside
 * (not overwritten) and its files are uploaded again.
 */

import { join } from "node:path";
import type { Logger } from "@cascade/common/log";

export const LEDGER_FILE = ".archive.json";

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

export interface Ledger {
  version: 1;
  files: Record<string, LedgerEntry>;
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
      error: err,
      action: "starting an empty ledger; files will be uploaded again",
    });
    return { version: 1, files: {} };
  }
}

/** The ledgers of every stream under one recordings directory, each read once and kept. */
export class LedgerStore {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #ledgers = new Map<string, Ledger>();

  constructor(dir: string, log: Logger) {
    this.#dir = dir;
    this.#log = log;
  }

  /** The stream's ledger if it has been loaded, without touching the disk. */
  loaded(name: string): Ledger | undefined {
    return this.#ledgers.get(name);
  }

  async load(name: string): Promise<Ledger> {
    let ledger = this.#ledgers.get(name);
    if (ledger) return ledger;
    ledger = await readLedger(join(this.#dir, name, LEDGER_FILE), this.#log);
    this.#ledgers.set(name, ledger);
    return ledger;
  }

  /** Writes the stream's ledger atomically; a ledger never loaded is left alone. */
  async save(name: string): Promise<void> {
    const ledger = this.#ledgers.get(name);
    if (!ledger) return;
    const path = join(this.#dir, name, LEDGER_FILE);
    await Deno.mkdir(join(this.#dir, name), { recursive: true });
    await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(ledger, null, 1) + "\n");
    await Deno.rename(`${path}.tmp`, path);
  }
}
