/**
 * An RTMP publisher played by hand over a real TCP connection, for tests that need to send
 * exactly the tags they choose, which no encoder can be made to do on cue: a new AVC
 * sequence header mid-stream, a stream that goes silent, a connection that just dies. It
 * speaks what ffmpeg speaks (handshake, Set Chunk Size, connect, releaseStream, FCPublish,
 * createStream, publish, then FLV tags as audio, video and data messages, FCUnpublish and
 * deleteStream to stop), reads the server's replies and fails with the server's status code
 * when a step is refused. Test support only: imported by relative path, not exported by
 * the package.
 */
import { type AmfValue, decodeAmf0, encodeAmf0 } from "../../amf0.ts";
import type { FlvFileTag } from "../../flv.ts";
import { ChunkReader } from "../chunk_reader.ts";
import { ChunkWriter } from "../chunk_writer.ts";
import { MessageType, setChunkSizePayload } from "../messages.ts";
import { handshakeOver } from "./client_handshake.ts";

/** Our outgoing chunk size, as ffmpeg announces it. */
const CHUNK_SIZE = 4096;
const CSID_CONTROL = 2;
const CSID_COMMAND = 3;
const CSID_AUDIO = 4;
const CSID_VIDEO = 6;
/** How long a reply to connect, createStream or publish may take. */
const REPLY_TIMEOUT_MS = 10_000;

export interface PublisherOptions {
  hostname: string;
  port: number;
  app: string;
  /** The stream key, sent as publish's name. */
  key: string;
}

/** A command the server sent: its name, transaction id and the values after them. */
export interface ServerCommand {
  name: string;
  txn: number;
  args: AmfValue[];
}

/** How `sendTags` times its tags. */
export interface SendOptions {
  /** Added to every tag's timestamp, ms (to continue a timeline from an earlier file). */
  offsetMs?: number;
  /** Media seconds sent per wall-clock second (like ffmpeg's `-re` at 1); default 1. */
  speed?: number;
}

/** One publisher connection; `using` it closes the socket. */
export class RtmpTestPublisher implements AsyncDisposable {
  readonly #conn: Deno.Conn;
  readonly #key: string;
  readonly #writer = new ChunkWriter();
  readonly #reader = new ChunkReader();
  readonly #commands: ServerCommand[] = [];
  #waiters = new Set<() => void>();
  #readError: unknown;
  #streamId = 0;
  #nextTxn = 1;
  #closed = false;
  /** Settles when the server closes the connection or reading fails. */
  readonly #reading: Promise<void>;

  private constructor(conn: Deno.Conn, key: string) {
    this.#conn = conn;
    this.#key = key;
    this.#reading = this.#readLoop();
  }

  /** Connects, shakes hands and publishes `key`; throws with the server's code if refused. */
  static async publish(o: PublisherOptions): Promise<RtmpTestPublisher> {
    const conn = await Deno.connect({ hostname: o.hostname, port: o.port });
    try {
      await handshakeOver(conn);
    } catch (err) {
      conn.close();
      throw err;
    }
    const publisher = new RtmpTestPublisher(conn, o.key);
    try {
      await publisher.#start(o);
    } catch (err) {
      publisher.close();
      throw err;
    }
    return publisher;
  }

  /** Every command the server sent so far, in order. */
  get commands(): readonly ServerCommand[] {
    return this.#commands;
  }

  /** Whether the server has closed the connection (or reading it failed). */
  get serverClosed(): boolean {
    return this.#readError !== undefined;
  }

  async #start(o: PublisherOptions): Promise<void> {
    await this.#write(
      CSID_CONTROL,
      MessageType.SET_CHUNK_SIZE,
      0,
      0,
      setChunkSizePayload(CHUNK_SIZE),
    );
    const tcUrl = `rtmp://${o.hostname}:${o.port}/${o.app}`;
    const connect = await this.#call("connect", [{
      app: o.app,
      type: "nonprivate",
      flashVer: "FMLE/3.0 (compatible; Cascade test)",
      tcUrl,
    }]);
    expectStatus(connect, "NetConnection.Connect.Success", "connect");
    await this.#send("releaseStream", this.#nextTxn++, null, this.#key);
    await this.#send("FCPublish", this.#nextTxn++, null, this.#key);
    const created = await this.#call("createStream", []);
    const streamId = created.args[1];
    if (created.name !== "_result" || typeof streamId !== "number") {
      throw new Error(`createStream failed: ${created.name}`);
    }
    this.#streamId = streamId;
    const seen = this.#commands.length;
    await this.#send("publish", 0, null, this.#key, "live");
    const status = await this.#waitFor(
      "onStatus after publish",
      () => this.#commands.slice(seen).find((c) => c.name === "onStatus"),
    );
    expectStatus(status, "NetStream.Publish.Start", "publish");
  }

  /** Sends one FLV file tag as the RTMP message of the same type, at `timestamp + offsetMs`. */
  async sendTag(tag: FlvFileTag, offsetMs = 0): Promise<void> {
    const timestamp = tag.timestamp + offsetMs;
    switch (tag.type) {
      case MessageType.AUDIO:
        return await this.#write(
          CSID_AUDIO,
          MessageType.AUDIO,
          this.#streamId,
          timestamp,
          tag.body,
        );
      case MessageType.VIDEO:
        return await this.#write(
          CSID_VIDEO,
          MessageType.VIDEO,
          this.#streamId,
          timestamp,
          tag.body,
        );
      case MessageType.DATA_AMF0: {
        // A file's script tag is `onMetaData, {…}`; an encoder sends it behind @setDataFrame.
        const prefix = encodeAmf0("@setDataFrame");
        const payload = new Uint8Array(prefix.length + tag.body.length);
        payload.set(prefix);
        payload.set(tag.body, prefix.length);
        return await this.#write(
          CSID_AUDIO,
          MessageType.DATA_AMF0,
          this.#streamId,
          timestamp,
          payload,
        );
      }
      default:
        throw new RangeError(`Cannot send FLV tag: unknown TagType ${tag.type}`);
    }
  }

  /**
   * Sends `tags` in order, each no earlier than its timestamp (relative to the first one)
   * divided by `speed` after the call, as a live encoder would.
   */
  async sendTags(tags: Iterable<FlvFileTag>, o: SendOptions = {}): Promise<void> {
    const speed = o.speed ?? 1;
    const started = performance.now();
    let first: number | undefined;
    for (const tag of tags) {
      first ??= tag.timestamp;
      const dueMs = (tag.timestamp - first) / speed - (performance.now() - started);
      if (dueMs > 1) await new Promise((resolve) => setTimeout(resolve, dueMs));
      await this.sendTag(tag, o.offsetMs);
    }
  }

  /** Stops publishing as ffmpeg does at its end (FCUnpublish, deleteStream), then closes. */
  async unpublish(): Promise<void> {
    await this.#send("FCUnpublish", this.#nextTxn++, null, this.#key);
    await this.#send("deleteStream", this.#nextTxn++, null, this.#streamId);
    this.close();
    await this.#reading;
  }

  /** Closes the socket without a word, as an encoder that crashed or lost its network. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#reading;
  }

  /** Sends a command with a fresh transaction id and waits for its `_result` or `_error`. */
  async #call(name: string, args: AmfValue[]): Promise<ServerCommand> {
    const txn = this.#nextTxn++;
    await this.#send(name, txn, ...args);
    return await this.#waitFor(
      `the reply to ${name}`,
      () =>
        this.#commands.find((c) => c.txn === txn && (c.name === "_result" || c.name === "_error")),
    );
  }

  async #send(name: string, txn: number, ...args: AmfValue[]): Promise<void> {
    const streamId = name === "publish" || name === "deleteStream" ? this.#streamId : 0;
    await this.#write(
      CSID_COMMAND,
      MessageType.COMMAND_AMF0,
      streamId,
      0,
      encodeAmf0(name, txn, ...args),
    );
  }

  async #write(
    csid: number,
    typeId: number,
    streamId: number,
    timestamp: number,
    payload: Uint8Array,
  ): Promise<void> {
    const bytes = this.#writer.write({ csid, typeId, streamId, timestamp, payload });
    let written = 0;
    while (written < bytes.length) written += await this.#conn.write(bytes.subarray(written));
  }

  /** Resolves with `find()`'s value once it has one; fails when the server closes or time runs out. */
  #waitFor<T>(what: string, find: () => T | undefined): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error(`No ${what} within ${REPLY_TIMEOUT_MS} ms`)),
        REPLY_TIMEOUT_MS,
      );
      const check = () => {
        const value = find();
        if (value !== undefined) done(undefined, value);
        else if (this.#readError !== undefined) {
          done(
            new Error(`The server closed the connection before ${what}`, {
              cause: this.#readError,
            }),
          );
        }
      };
      const done = (err?: Error, value?: T) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (err) reject(err);
        else resolve(value as T);
      };
      this.#waiters.add(check);
      check();
    });
  }

  async #readLoop(): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (n === null) throw new Error("closed by the server");
        this.#reader.push(buf.subarray(0, n));
        for (const msg of this.#reader.drain()) {
          if (msg.typeId !== MessageType.COMMAND_AMF0) continue;
          const [name, txn, ...args] = decodeAmf0(msg.payload);
          this.#commands.push({ name: String(name), txn: Number(txn), args });
        }
        for (const check of [...this.#waiters]) check();
      }
    } catch (err) {
      this.#readError = err;
      this.#reader.dispose();
      for (const check of [...this.#waiters]) check();
    }
  }
}

/** Throws unless `reply`'s info object (after the command object) carries `code`. */
function expectStatus(reply: ServerCommand, code: string, step: string): void {
  const info = reply.args[1];
  const got = info && typeof info === "object" && "code" in info ? String(info.code) : "no code";
  if (got !== code) throw new Error(`${step} refused: ${reply.name} ${got}`);
}
