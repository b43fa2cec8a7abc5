/**
 * Reading `RedisRegistry`'s values back: JSON records, events from the events channel and
 * stream configuration hashes. Anything malformed reads as `null` (an event of an unknown
 * type too), so a foreign or corrupt value is skipped rather than crashing a caller.
 */
import type { RegistryEvent, StreamConfig } from "./types.ts";

export function parseJson<T>(value: string | null): T | null {
  if (value === null) return null;
  try {
    const parsed = JSON.parse(value);
    return typeof parsed === "object" && parsed !== null ? parsed as T : null;
  } catch {
    return null;
  }
}

export function parseEvent(message: string): RegistryEvent | null {
  const e = parseJson<Record<string, unknown>>(message);
  if (e === null || typeof e.name !== "string" || typeof e.originId !== "string") return null;
  if (typeof e.at !== "number") return null;
  if (e.type === "stream.up" || e.type === "stream.kick") {
    return { type: e.type, name: e.name, originId: e.originId, at: e.at };
  }
  if (e.type === "stream.update" && typeof e.updatedAt === "number") {
    return { type: e.type, name: e.name, originId: e.originId, at: e.at, updatedAt: e.updatedAt };
  }
  if (e.type === "stream.down") {
    const reason = e.reason === "expired" ? "expired" : "released";
    return { type: "stream.down", name: e.name, originId: e.originId, at: e.at, reason };
  }
  return null;
}

export function toConfig(name: string, hash: Record<string, string> | null): StreamConfig | null {
  if (hash === null || hash.keyHash === undefined) return null;
  return {
    name,
    keyHash: hash.keyHash,
    createdAt: Number(hash.createdAt ?? 0),
    disabled: hash.disabled === "1",
    record: hash.record === "1",
    ...(hash.transcode !== undefined ? { transcode: hash.transcode } : {}),
  };
}
