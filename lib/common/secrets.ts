/**
 * Secret handling shared by origin, API and edge: SHA-256 hashing of stream keys (only the
 * hash is ever stored), hex digests (also the Lua scripts' SHA-1) and constant-time
 * comparison of tokens, on WebCrypto and plain code, so the roles' auth paths need no
 * `node:crypto`.
 */
const encoder = new TextEncoder();

/** Hex digest of a UTF-8 string. */
export async function digestHex(algorithm: "SHA-1" | "SHA-256", text: string): Promise<string> {
  const digest = await crypto.subtle.digest(algorithm, encoder.encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hex SHA-256 of a UTF-8 string. */
export function sha256Hex(text: string): Promise<string> {
  return digestHex("SHA-256", text);
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
  return constantTimeEqual(new Uint8Array(ha), new Uint8Array(hb));
}

/**
 * Whether two byte strings are equal, in time that depends only on their length: every byte
 * is compared however early a difference is.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

const BEARER_RE = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/** The token of an `Authorization: Bearer {token}` header, or undefined for any other value. */
export function bearerToken(header: string | undefined): string | undefined {
  return BEARER_RE.exec(header ?? "")?.[1];
}
