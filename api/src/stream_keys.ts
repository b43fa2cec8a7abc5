/**
 * Stream keys the API issues: `sk_` followed by 32 random bytes in base64url (256 bits of
 * entropy, 46 characters, valid in an RTMP URL path). A key is shown once, in the answer
 * that creates or rotates it; only its SHA-256 reaches the registry (`key:{hash}` → name).
 */
import { Buffer } from "node:buffer";
import { sha256Hex } from "@cascade/common/secrets";

export const STREAM_KEY_PREFIX = "sk_";
export const STREAM_KEY_RE = /^sk_[A-Za-z0-9_-]{43}$/;

/** A fresh key from the system's CSPRNG. */
export function generateStreamKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return STREAM_KEY_PREFIX + Buffer.from(bytes).toString("base64url");
}

/** The hex SHA-256 the registry stores for `key`. */
export function hashStreamKey(key: string): Promise<string> {
  return sha256Hex(key);
}
