/**
 * Signed playback URLs. With `PLAYBACK_SIGNING_KEY` set, the API appends `?token=` to every
 * HLS URL it hands out (only to a caller holding `PLAYBACK_API_TOKEN` or the admin token) and
 * edges refuse requests without a valid one. A token binds one stream name to an expiry the
 * caller chose and nothing else, so it plays no other stream, and one token serves a viewer's
 * whole session on any edge:
 *
 *     token = `${expires}.${base64url(HMAC-SHA256(key, `${name}.${expires}`))}`
 *
 * `expires` is epoch seconds in decimal; the MAC is base64url without padding (43
 * characters). Stream names never contain `.`, so the signed message is unambiguous.
 * Verification compares in constant time and checks the expiry only for authentic tokens.
 */
import { constantTimeEqual } from "./secrets.ts";
import { Buffer } from "node:buffer";
import { STREAM_NAME_RE } from "./config.ts";

/** The shape of a token: decimal expiry, a dot, 43 base64url characters. */
export const PLAYBACK_TOKEN_RE = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/** The latest expiry a token can carry (12 decimal digits of epoch seconds). */
export const MAX_TOKEN_EXPIRY = 999_999_999_999;

export type PlaybackTokenCheck =
  | { valid: true; expiresAt: number }
  | { valid: false; reason: "malformed" | "signature" | "expired" };

const encoder = new TextEncoder();
/** Imported HMAC keys by secret; processes use one or two keys, so a tiny cache suffices. */
const keyCache = new Map<string, Promise<CryptoKey>>();
const KEY_CACHE_LIMIT = 4;

function hmacKey(secret: string): Promise<CryptoKey> {
  if (typeof secret !== "string" || secret.length === 0) {
    throw new TypeError("Invalid playback signing key: must be a non-empty string");
  }
  let key = keyCache.get(secret);
  if (key === undefined) {
    if (keyCache.size >= KEY_CACHE_LIMIT) keyCache.clear();
    key = crypto.subtle.importKey(
      "raw",
      encoder.encode(secret),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    keyCache.set(secret, key);
  }
  return key;
}

async function mac(secret: string, name: string, expires: number): Promise<string> {
  const signature = await crypto.subtle.sign(
    "HMAC",
    await hmacKey(secret),
    encoder.encode(`${name}.${expires}`),
  );
  return Buffer.from(signature).toString("base64url");
}

/**
 * A token for `name` valid until `expiresAtSeconds` (epoch seconds, an integer).
 * `TypeError` for an invalid name or key, `RangeError` for an invalid expiry.
 */
export async function signPlaybackToken(
  key: string,
  name: string,
  expiresAtSeconds: number,
): Promise<string> {
  if (typeof name !== "string" || !STREAM_NAME_RE.test(name)) {
    throw new TypeError(`Cannot sign playback token: invalid stream name ${JSON.stringify(name)}`);
  }
  if (
    !Number.isSafeInteger(expiresAtSeconds) || expiresAtSeconds < 0 ||
    expiresAtSeconds > MAX_TOKEN_EXPIRY
  ) {
    throw new RangeError(`Cannot sign playback token: invalid expiry ${expiresAtSeconds}`);
  }
  return `${expiresAtSeconds}.${await mac(key, name, expiresAtSeconds)}`;
}

/**
 * Checks `token` for `name` at `nowMs` (epoch milliseconds, default now). A token is valid
 * up to and including its expiry second. The MAC comparison takes the same time wherever
 * the tokens differ.
 */
export async function verifyPlaybackToken(
  key: string,
  name: string,
  token: string,
  nowMs: number = Date.now(),
): Promise<PlaybackTokenCheck> {
  const match = typeof token === "string" ? PLAYBACK_TOKEN_RE.exec(token) : null;
  if (match === null || typeof name !== "string" || !STREAM_NAME_RE.test(name)) {
    return { valid: false, reason: "malformed" };
  }
  const expires = Number(match[1]);
  const expected = encoder.encode(await mac(key, name, expires));
  // Both sides are 43 ASCII characters here, so the time says nothing about the length either.
  if (!constantTimeEqual(expected, encoder.encode(match[2]!))) {
    return { valid: false, reason: "signature" };
  }
  if (expires * 1000 + 999 < nowMs) return { valid: false, reason: "expired" };
  return { valid: true, expiresAt: expires };
}
