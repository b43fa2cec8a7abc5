/**
 * Argument checks shared by both registry backends, so that both reject the same inputs
 * with the same errors before touching any state. Readers use them too: a record that an
 * older or hostile writer put in the store is checked again by whoever acts on it (the edge
 * fetches from `originUrl`), so a `file://` or credential-bearing URL is never followed.
 */
import { PROFILE_RE } from "@cascade/common/renditions";
import { STREAM_NAME_RE } from "@cascade/common/config";
import {
  MAX_STANDBY_NAMES,
  NODE_KINDS,
  type NodeKind,
  type NodeRecord,
  type Replacing,
  type StreamConfig,
  type StreamMedia,
  type StreamRecord,
  type VodRecord,
} from "./types.ts";

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
  if (!NODE_KINDS.includes(kind)) {
    throw new TypeError(`Invalid node kind: ${JSON.stringify(kind)}`);
  }
}

export function checkKeyHash(keyHash: string): void {
  if (typeof keyHash !== "string" || !KEY_HASH_RE.test(keyHash)) {
    throw new TypeError("Invalid key hash: expected 64 lowercase hex digits");
  }
}

/**
 * An absolute `http:` or `https:` URL without credentials: the only kind of address a node
 * may announce, since every reader fetches from it (and credentials would leak into logs).
 */
export function checkHttpUrl(what: string, url: string): void {
  let parsed: URL | null = null;
  try {
    parsed = typeof url === "string" ? new URL(url) : null;
  } catch { /* refused below */ }
  if (parsed === null || (parsed.protocol !== "http:" && parsed.protocol !== "https:")) {
    throw new TypeError(`Invalid ${what}: expected an http(s) URL`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new TypeError(`Invalid ${what}: credentials are not allowed in the URL`);
  }
}

export function checkStream(record: StreamRecord): void {
  checkName(record.name);
  checkId("origin id", record.originId);
  checkHttpUrl("origin URL", record.originUrl);
  checkHttpUrl("manifest URL", record.manifest);
  if (record.codecs !== undefined && typeof record.codecs !== "string") {
    throw new TypeError(`Invalid codecs: ${JSON.stringify(record.codecs)}`);
  }
  if (record.media !== undefined) checkMedia(record.media);
  if (record.ll !== undefined && typeof record.ll !== "boolean") {
    throw new TypeError(`Invalid ll: ${JSON.stringify(record.ll)}`);
  }
  for (const field of ["lastSequence", "discontinuitySequence"] as const) {
    const value = record[field];
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw new TypeError(`Invalid ${field}: ${JSON.stringify(value)}`);
    }
  }
}

/** A takeover names the claim it replaces by owner and `updatedAt`. */
export function checkReplacing(replacing: Replacing): void {
  checkId("replaced origin id", replacing.originId);
  if (!Number.isFinite(replacing.updatedAt)) {
    throw new TypeError(`Invalid replaced updatedAt: ${replacing.updatedAt}`);
  }
}

const MEDIA_FIGURES = ["keyframeInterval", "frameRate", "width", "height", "bitrate"] as const;

/** Each figure of `media` is null or a finite number ≥ 0; the segment duration is > 0. */
export function checkMedia(media: StreamMedia): void {
  if (typeof media !== "object" || media === null) {
    throw new TypeError("Invalid media: expected an object");
  }
  for (const field of MEDIA_FIGURES) {
    const value = media[field];
    if (value !== null && !(typeof value === "number" && Number.isFinite(value) && value >= 0)) {
      throw new RangeError(`Invalid media.${field}: ${JSON.stringify(value)}`);
    }
  }
  const seconds = media.segmentSeconds;
  if (!(typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0)) {
    throw new RangeError(`Invalid media.segmentSeconds: ${JSON.stringify(seconds)}`);
  }
}

export function checkVod(record: VodRecord): void {
  checkName(record.name);
  checkId("origin id", record.originId);
  checkHttpUrl("origin URL", record.originUrl);
  checkHttpUrl("manifest URL", record.manifest);
  if (!Number.isSafeInteger(record.updatedAt)) {
    throw new TypeError(`Invalid updatedAt: ${record.updatedAt}`);
  }
}

export function checkNode(node: NodeRecord): void {
  checkKind(node.kind);
  checkId("node id", node.id);
  checkHttpUrl("node URL", node.url);
  if (node.standby !== undefined) {
    if (!Array.isArray(node.standby) || node.standby.length > MAX_STANDBY_NAMES) {
      throw new TypeError(`Invalid standby: at most ${MAX_STANDBY_NAMES} stream names`);
    }
    for (const name of node.standby) checkName(name);
  }
  for (const field of ["cpu", "rss", "egressBitsPerSecond"] as const) {
    const value = node[field];
    if (
      value !== undefined && !(typeof value === "number" && Number.isFinite(value) && value >= 0)
    ) {
      throw new TypeError(`Invalid ${field}: expected a finite number ≥ 0`);
    }
  }
}

export function checkConfig(cfg: StreamConfig): void {
  checkName(cfg.name);
  checkKeyHash(cfg.keyHash);
  if (!Number.isFinite(cfg.createdAt)) {
    throw new TypeError(`Invalid createdAt: ${cfg.createdAt}`);
  }
  if (cfg.transcode !== undefined && !PROFILE_RE.test(cfg.transcode)) {
    throw new TypeError(`Invalid transcode profile: ${cfg.transcode}`);
  }
}
