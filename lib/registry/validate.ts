/**
 * Argument checks shared by both registry backends, so that both reject the same inputs
 * with the same errors before touching any state.
 */
import { STREAM_NAME_RE } from "@cascade/common/config";
import type { NodeKind, NodeRecord, StreamConfig, StreamRecord, VodRecord } from "./types.ts";

const KEY_HASH_RE = /^[0-9a-f]{64}$/;

export function checkName(name: string): void {
  if (typeof name !== "string" || !STREAM_NAME_RE.test(name)) {
    throw new TypeError(`Invalid stream name: ${JSON.stringify(name)}`);
  }
}

export function checkId(what: string, id: string): void {
  if (typeof id !== "string" || id === "" || id.length > 256) {
    throw new TypeError(`Invalid ${what}: ${JSON.stringify(id)}`);
  }
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new RangeError(`Invalid TTL: ${ttlMs} ms is not a positive integer`);
  }
}

export function checkKind(kind: NodeKind): void {
  if (kind !== "origin" && kind !== "edge") {
    throw new TypeError(`Invalid node kind: ${JSON.stringify(kind)}`);
  }
}

export function checkKeyHash(keyHash: string): void {
  if (typeof keyHash !== "string" || !KEY_HASH_RE.test(keyHash)) {
    throw new TypeError("Invalid key hash: expected 64 lowercase hex digits");
  }
}

export function checkStream(record: StreamRecord): void {
  checkName(record.name);
  checkId("origin id", record.originId);
}

export function checkVod(record: VodRecord): void {
  checkName(record.name);
  checkId("origin id", record.originId);
  if (!Number.isSafeInteger(record.updatedAt)) {
    throw new TypeError(`Invalid updatedAt: ${record.updatedAt}`);
  }
}

export function checkNode(node: NodeRecord): void {
  checkKind(node.kind);
  checkId("node id", node.id);
}

export function checkConfig(cfg: StreamConfig): void {
  checkName(cfg.name);
  checkKeyHash(cfg.keyHash);
  if (!Number.isFinite(cfg.createdAt)) {
    throw new TypeError(`Invalid createdAt: ${cfg.createdAt}`);
  }
}
