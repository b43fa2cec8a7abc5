/**
 * Server side of the RTMP handshake (Adobe RTMP 1.0 section 5.2) as a pure state machine: feed
 * it whatever the socket delivered and write back what it returns. It implements the plain
 * ("simple") handshake: S1 carries a time, four zero bytes and random bytes, and S2 echoes C1.
 * ffmpeg, OBS (librtmp) and GStreamer accept this for publishing and playing H.264/AAC; they
 * only insist on the digest-based handshake when S1's version field is non-zero, which it never
 * is here. C2 is consumed but not checked, because clients that tried the digest handshake send
 * a C2 that is not a plain echo of S1.
 */

import { RtmpProtocolError } from "./messages.ts";

/** Size of C1, C2, S1 and S2 in bytes. */
export const HANDSHAKE_SIZE = 1536;

/** The only protocol version accepted in C0 and sent in S0. */
export const RTMP_VERSION = 3;

export interface ServerHandshakeOptions {
  /** S1's time field in milliseconds (the epoch of our timestamps); default 0. */
  time?: number;
  /** Fills S1's random field; default `crypto.getRandomValues`. */
  random?: (bytes: Uint8Array) => void;
}

/** What one `ServerHandshake.push()` produced. */
export interface HandshakeStep {
  /** S0+S1+S2, returned once, by the push that completes C0+C1; otherwise null. */
  output: Uint8Array | null;
  /** True once C2 has been received; the connection now speaks chunks. */
  done: boolean;
  /** Bytes that followed C2 in the pushed data (the first chunks), or null if there were none. */
  rest: Uint8Array | null;
}

const S0_S1_S2_SIZE = 1 + 2 * HANDSHAKE_SIZE;
const S2_OFFSET = 1 + HANDSHAKE_SIZE;

/**
 * Accepts C0+C1 then C2 in any split. Once done, further pushes return their data as `rest`
 * untouched, so a caller may keep routing bytes through it. Throws `RtmpProtocolError` when C0
 * asks for a version other than 3 (6 and 8 are the encrypted RTMPE variants).
 */
export class ServerHandshake {
  /** S0+S1+S2; C1 is copied straight into the S2 slot as it arrives. */
  #out: Uint8Array;
  /** Bytes of C0+C1 received so far, 0..1537. */
  #c0c1 = 0;
  /** Bytes of C2 received so far, 0..1536. */
  #c2 = 0;

  constructor(options: ServerHandshakeOptions = {}) {
    const out = new Uint8Array(S0_S1_S2_SIZE);
    out[0] = RTMP_VERSION; // S0: version
    new DataView(out.buffer).setUint32(1, (options.time ?? 0) >>> 0); // S1: time
    // S1 bytes 5..8 stay zero: the "zero" field, which keeps clients on the simple handshake
    const random = out.subarray(9, S2_OFFSET); // S1: random bytes
    if (options.random) options.random(random);
    else crypto.getRandomValues(random);
    this.#out = out;
  }

  /** True once C2 has been received. */
  get done(): boolean {
    return this.#c2 === HANDSHAKE_SIZE;
  }

  push(data: Uint8Array): HandshakeStep {
    let pos = 0;
    let output: Uint8Array | null = null;
    if (this.#c0c1 === 0 && data.length > 0) {
      const version = data[0]!; // C0: version
      if (version !== RTMP_VERSION) {
        const hint = version === 6 || version === 8 ? " (RTMPE encryption is not supported)" : "";
        throw new RtmpProtocolError(
          `Cannot parse handshake: unsupported RTMP version ${version}${hint}`,
        );
      }
      this.#c0c1 = 1;
      pos = 1;
    }
    if (this.#c0c1 > 0 && this.#c0c1 < S2_OFFSET) {
      const n = Math.min(S2_OFFSET - this.#c0c1, data.length - pos);
      // C1 lands in the S2 slot: S2 echoes C1's time, second field and random bytes
      this.#out.set(data.subarray(pos, pos + n), this.#c0c1 + HANDSHAKE_SIZE);
      this.#c0c1 += n;
      pos += n;
      if (this.#c0c1 === S2_OFFSET) output = this.#out;
    }
    if (this.#c0c1 === S2_OFFSET && this.#c2 < HANDSHAKE_SIZE) {
      const n = Math.min(HANDSHAKE_SIZE - this.#c2, data.length - pos);
      this.#c2 += n;
      pos += n;
    }
    const done = this.#c2 === HANDSHAKE_SIZE;
    const rest = done && pos < data.length ? data.subarray(pos) : null;
    return { output, done, rest };
  }
}
