/**
 * Secret handling shared by origin, API and edge: SHA-256 hashing of stream keys (only the
 * hash is ever stored) and constant-time comparison of tokens.
 */
import { timingSafeEqual } from "node:crypto";

const encoder = new TextEncoder();

/** Hex SHA-256 of a UTF-8 string. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Compares two secrets in time independent of where they differ. Both sides are hashed
 * first so that the lengths are equal and the comparison leaks nothing about length either.
 */
export async function safeEqual(a: string, b: string): Promise<boolean> {
  const [ha, hb] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(a)),
    crypto.subtle.digest("SHA-256", encoder.encode(b)),
  ]);
  return timingSafeEqual(new Uint8Array(ha), new Uint8Array(hb));
}

const BEARER_RE = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** The token of an `Authorization: Bearer {token}` header, or undefined for any other value. */
export function bearerToken(header: string | undefined): string | undefined {
  return BEARER_RE.exec(header ?? "")?.[1];
}
