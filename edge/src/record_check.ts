/**
 * Registry records checked again before the edge acts on them. The registry backends refuse
 * a record whose origin URL is not plain http(s) on write (`@cascade/registry/validate`),
 * but a record written by an older or hostile writer straight into Redis would still reach
 * the edge, which fetches from `originUrl`: such a record is treated as absent (the stream is
 * not live) and logged once, not once per viewer request.
 */
import type { Logger } from "@cascade/common/log";
import type { StreamRecord, VodRecord } from "@cascade/registry";
import { checkStream, checkVod } from "@cascade/registry/validate";

/** Refused records remembered so each is warned about once; beyond it the memory starts over. */
const MAX_WARNED = 1024;

export class RecordCheck {
  readonly #log: Logger;
  readonly #warned = new Set<string>();

  constructor(log: Logger) {
    this.#log = log;
  }

  /** `record` when it is safe to fetch from, else null. */
  stream = (record: StreamRecord | null): StreamRecord | null =>
    this.#accept(record, checkStream, "stream");

  /** `record` when it is safe to fetch from, else null. */
  vod = (record: VodRecord | null): VodRecord | null => this.#accept(record, checkVod, "vod");

  #accept<T extends StreamRecord | VodRecord>(
    record: T | null,
    check: (record: T) => void,
    kind: string,
  ): T | null {
    if (record === null) return null;
    try {
      check(record);
      return record;
    } catch (err) {
      const key =
        `${kind}|${record.name}|${record.originId}|${record.originUrl}|${record.manifest}`;
      if (!this.#warned.has(key)) {
        if (this.#warned.size >= MAX_WARNED) this.#warned.clear();
        this.#warned.add(key);
        this.#log.warn("edge.record_refused", {
          kind,
          stream: record.name,
          origin: record.originId,
          error: err,
        });
      }
      return null;
    }
  }
}
