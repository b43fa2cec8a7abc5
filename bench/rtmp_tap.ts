/**
 * A TCP relay between one RTMP publisher and the server under test that notes when each
 * video frame leaves the publisher: it forwards every byte unchanged as soon as it reads it,
 * and parses a copy of the publisher's side with Cascade's chunk reader to learn each video
 * message's timestamp. A frame's departure time is when the relay read the bytes completing
 * it, on this process's `performance.now()` clock, which is also the clock the playlist
 * watchers stamp listings with. On loopback the relay adds well under a millisecond. One tap
 * serves one publisher.
 */
import { ChunkReader } from "@cascade/media/rtmp/chunk_reader";
import { MessageType } from "@cascade/media/rtmp/messages";
import { HANDSHAKE_SIZE } from "@cascade/media/rtmp/handshake";

/** A video frame as it left the publisher. */
export interface FrameDeparture {
  /** RTMP timestamp (decode time), ms. */
  dts: number;
  keyframe: boolean;
  /** `performance.now()` when its last byte passed the relay. */
  at: number;
}

/** C0 (version byte) + C1 + C2: what a client sends before the first chunk. */
const CLIENT_HANDSHAKE_BYTES = 1 + 2 * HANDSHAKE_SIZE;

export class RtmpTap implements AsyncDisposable {
  /** `performance.now()` when the publisher connected; undefined until then. */
  connectedAt: number | undefined;
  /** Video frames (not sequence headers) in the order they left the publisher. */
  readonly frames: FrameDeparture[] = [];
  readonly #listener: Deno.TcpListener;
  readonly #upstreamPort: number;
  readonly #conns = new Set<Deno.Conn>();
  readonly #relays = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  /** Publisher bytes still to skip before chunks start; one publisher per tap. */
  #handshakeLeft = CLIENT_HANDSHAKE_BYTES;
  readonly #reader = new ChunkReader();

  constructor(upstreamPort: number) {
    this.#upstreamPort = upstreamPort;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.#accepting = this.#accept();
  }

  get port(): number {
    return this.#listener.addr.port;
  }

  async #accept(): Promise<void> {
    for (;;) {
      let client: Deno.TcpConn;
      try {
        client = await this.#listener.accept();
      } catch {
        return; // listener closed
      }
      this.connectedAt ??= performance.now();
      const relay = this.#relay(client);
      this.#relays.add(relay);
      relay.finally(() => this.#relays.delete(relay));
    }
  }

  async #relay(client: Deno.TcpConn): Promise<void> {
    let server: Deno.TcpConn;
    try {
      server = await Deno.connect({ hostname: "127.0.0.1", port: this.#upstreamPort });
    } catch {
      client.close();
      return;
    }
    this.#conns.add(client);
    this.#conns.add(server);
    const close = () => {
      for (const c of [client, server]) {
        if (this.#conns.delete(c)) {
          try {
            c.close();
          } catch { /* already closed */ }
        }
      }
    };
    await Promise.all([
      this.#pump(client, server, (bytes, at) => this.#observe(bytes, at)).finally(close),
      this.#pump(server, client).finally(close),
    ]);
  }

  /** Copies `from` into `to` until either side closes; `seen` gets each read after it is sent. */
  async #pump(
    from: Deno.Conn,
    to: Deno.Conn,
    seen?: (bytes: Uint8Array, at: number) => void,
  ): Promise<void> {
    const buf = new Uint8Array(256 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) return;
        const at = performance.now();
        const bytes = buf.subarray(0, n);
        for (let sent = 0; sent < n;) sent += await to.write(bytes.subarray(sent));
        seen?.(bytes, at);
      }
    } catch {
      // A reset on either side ends the relay like a close does.
    }
  }

  #observe(bytes: Uint8Array, at: number): void {
    if (this.#handshakeLeft > 0) {
      const skip = Math.min(this.#handshakeLeft, bytes.length);
      this.#handshakeLeft -= skip;
      bytes = bytes.subarray(skip);
    }
    if (bytes.length === 0) return;
    this.#reader.push(bytes);
    for (let msg = this.#reader.read(); msg !== undefined; msg = this.#reader.read()) {
      // FLV VideoTagHeader: FrameType (4 bits), CodecID (4 bits), AVCPacketType (1 = NALUs).
      if (msg.typeId !== MessageType.VIDEO || msg.payload.length < 2) continue;
      if (msg.payload[1] !== 1) continue;
      this.frames.push({ dts: msg.timestamp, keyframe: msg.payload[0]! >> 4 === 1, at });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    await this.#accepting;
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    this.#conns.clear();
    await Promise.allSettled([...this.#relays]);
  }
}
