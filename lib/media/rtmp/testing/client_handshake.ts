/**
 * The client side of the plain RTMP handshake for tests that play a publisher by hand: the
 * bytes C0+C1 (version 3, zeroed time and random fields) and C2, either at once for a session
 * fed in memory or over a TCP connection, reading S0+S1+S2 in between. Test support only:
 * imported by relative path, not exported by the package.
 */
import { HANDSHAKE_SIZE, RTMP_VERSION } from "../handshake.ts";

/** C0+C1: the version byte, then a 1536-byte C1 of zeros. */
export function clientHello(): Uint8Array {
  const c0c1 = new Uint8Array(1 + HANDSHAKE_SIZE);
  c0c1[0] = RTMP_VERSION; // C0 version
  return c0c1;
}

/** C0+C1+C2 in one buffer, for a server that is fed bytes without answering first. */
export function clientHandshake(): Uint8Array {
  const bytes = new Uint8Array(1 + 2 * HANDSHAKE_SIZE);
  bytes.set(clientHello());
  return bytes;
}

/** Bytes a server sends in the handshake: S0+S1+S2. */
export const SERVER_HANDSHAKE_BYTES = 1 + 2 * HANDSHAKE_SIZE;

/** Completes the handshake over `conn`: sends C0+C1, reads S0+S1+S2, sends C2. */
export async function handshakeOver(conn: Deno.Conn): Promise<void> {
  await conn.write(clientHello());
  let got = 0;
  const buf = new Uint8Array(4096);
  while (got < SERVER_HANDSHAKE_BYTES) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("Cannot complete the RTMP handshake: the server closed");
    got += n;
  }
  await conn.write(new Uint8Array(HANDSHAKE_SIZE)); // C2
}
