/**
 * One RTMP connection of a publisher, as a sans-I/O state machine: the server feeds it the
 * bytes the socket delivered and writes back what it sends; the session answers the
 * handshake, reassembles chunks, runs the NetConnection/NetStream commands that ffmpeg, OBS
 * and GStreamer's rtmp2sink send, asks the authorizer about the stream key, and turns
 * audio/video messages into hub frames. Protocol violations throw `RtmpProtocolError`;
 * refusals (wrong app, key, busy name, unsupported codec) send an error status and then ask
 * the host to close. The stream key is never logged: only the public name is.
 */
import { type AmfValue, decodeAmf0, encodeAmf0 } from "@cascade/media/amf0";
import { ServerHandshake } from "@cascade/media/rtmp/handshake";
import { type BufferPool, ChunkReader } from "@cascade/media/rtmp/chunk_reader";
import { ChunkWriter } from "@cascade/media/rtmp/chunk_writer";
import {
  ackPayload,
  MessageType,
  parseUserControl,
  PeerBandwidthLimit,
  type RtmpMessage,
  RtmpProtocolError,
  setChunkSizePayload,
  setPeerBandwidthPayload,
  splitAggregate,
  UserControlEvent,
  userControlPayload,
  windowAckSizePayload,
} from "@cascade/media/rtmp/messages";
import { FlvDemuxer, UnsupportedCodecError } from "@cascade/media/flv";
import type { HubMessage } from "@cascade/media/frame";
import type { Logger } from "@cascade/common/log";
import type { PublishAuthorizer } from "@cascade/common/publish_auth";
import { type LiveStream, StreamBusyError, type StreamHub } from "@cascade/stream/hub";

/** What the session needs from its surroundings. */
export interface SessionHost {
  /** Queue bytes for the socket, in order. */
  send(bytes: Uint8Array): void;
  /** Close the connection once everything sent so far is flushed. */
  close(reason: string): void;
  /** The peer was authorized and publishes: it no longer counts as a pending connection. */
  established?(): void;
}

export interface SessionOptions {
  app: string;
  originId: string;
  clientIp: string;
  hub: StreamHub;
  auth: PublishAuthorizer;
  log: Logger;
  /** Largest message once publishing is authorized. */
  maxMessageSize: number;
  /** Largest message before that (connect and the other commands are small). */
  maxPendingMessageSize?: number;
  /** The server-wide budget for bytes of messages in progress. */
  pool?: BufferPool;
}

/** Our outgoing chunk size, announced right after connect. */
const OUT_CHUNK_SIZE = 4096;
/** Window we ask the client to acknowledge, and the bandwidth we grant it. */
const WINDOW_ACK_SIZE = 2_500_000;
const CSID_CONTROL = 2;
const CSID_COMMAND = 3;
const CSID_STATUS = 5;

type Phase = "handshake" | "connecting" | "connected" | "closed";

export class RtmpSession {
  readonly #o: SessionOptions;
  readonly #host: SessionHost;
  readonly #handshake = new ServerHandshake();
  readonly #reader: ChunkReader;
  readonly #writer = new ChunkWriter();
  #phase: Phase = "handshake";
  #log: Logger;
  #nextStreamId = 1;
  #publishStreamId = 0;
  #publishing: LiveStream | null = null;
  #publishPending = false;
  #demuxer = new FlvDemuxer();
  #droppedBeforeStart = 0;
  /** Set once the session asked the host to close: later input is ignored. */
  #hangingUp = false;
  /** `performance.now()` of the last media message, or of the session start. */
  lastActivity = performance.now();

  constructor(opts: SessionOptions, host: SessionHost) {
    this.#o = opts;
    this.#host = host;
    this.#log = opts.log;
    this.#reader = new ChunkReader({
      maxMessageSize: Math.min(opts.maxPendingMessageSize ?? Infinity, opts.maxMessageSize),
      pool: opts.pool,
    });
  }

  get handshakeDone(): boolean {
    return this.#phase !== "handshake";
  }

  /** Memory held for incomplete input (bounded by the reader's limits). */
  get bufferedBytes(): number {
    return this.#reader.bufferedBytes;
  }

  /** The public name being published, once authorized. */
  get streamName(): string | undefined {
    return this.#publishing?.info.name;
  }

  /** Feeds bytes from the socket. Throws `RtmpProtocolError` (or `RangeError`) on bad input. */
  push(data: Uint8Array): void {
    if (this.#phase === "closed" || this.#hangingUp) return;
    if (this.#phase === "handshake") {
      const step = this.#handshake.push(data);
      if (step.output) this.#host.send(step.output);
      if (!step.done) return;
      this.#phase = "connecting";
      if (!step.rest) return;
      data = step.rest;
    }
    const reader = this.#reader;
    reader.push(data);
    for (let msg = reader.read(); msg !== undefined; msg = reader.read()) {
      if (this.#hangingUp) return;
      this.#onMessage(msg);
    }
    const ack = reader.takeAck();
    if (ack !== null) this.#sendControl(MessageType.ACK, ackPayload(ack));
  }

  /** The connection is gone (EOF, error, timeout, shutdown): ends any broadcast. */
  closed(reason: string): void {
    if (this.#phase === "closed") return;
    this.#phase = "closed";
    this.#reader.dispose();
    // Still publishing when the connection goes: the encoder vanished and may reconnect.
    this.#stopPublishing(reason, true);
  }

  /** Sends a final status and closes: used for kicks and server shutdown. */
  kick(code: string, description: string): void {
    if (this.#phase === "closed") return;
    if (this.#publishStreamId) {
      this.#sendStatus(this.#publishStreamId, "status", code, description);
    }
    this.#stopPublishing(description);
    this.#hangUp(description);
  }

  readonly #onMessage = (msg: RtmpMessage): void => {
    switch (msg.typeId) {
      case MessageType.VIDEO:
      case MessageType.AUDIO:
        this.#onMedia(msg);
        return;
      case MessageType.AGGREGATE:
        for (const sub of splitAggregate(msg)) this.#onMessage(sub);
        return;
      case MessageType.COMMAND_AMF0:
        this.#onCommand(msg, decodeAmf0(msg.payload));
        return;
      case MessageType.COMMAND_AMF3:
        // AMF3 command messages start with a format byte, then plain AMF0 values.
        this.#onCommand(msg, decodeAmf0(msg.payload.subarray(1)));
        return;
      case MessageType.DATA_AMF0:
        this.#onData(decodeAmf0(msg.payload));
        return;
      case MessageType.DATA_AMF3:
        this.#onData(decodeAmf0(msg.payload.subarray(1)));
        return;
      case MessageType.USER_CONTROL: {
        const uc = parseUserControl(msg.payload);
        if (uc.event === UserControlEvent.PING_REQUEST) {
          this.#sendControl(
            MessageType.USER_CONTROL,
            userControlPayload(UserControlEvent.PING_RESPONSE, uc.value),
          );
        }
        return;
      }
      default:
        // Set chunk size, abort and the peer's window are applied by the reader; acks,
        // bandwidth and shared objects need nothing from a publish-only server.
        return;
    }
  };

  #onMedia(msg: RtmpMessage): void {
    const stream = this.#publishing;
    if (!stream || msg.streamId !== this.#publishStreamId) {
      this.#droppedBeforeStart++;
      return;
    }
    this.lastActivity = performance.now();
    let out: HubMessage | null;
    try {
      out = msg.typeId === MessageType.VIDEO
        ? this.#demuxer.video(msg.timestamp, msg.payload)
        : this.#demuxer.audio(msg.timestamp, msg.payload);
    } catch (err: unknown) {
      if (err instanceof UnsupportedCodecError) {
        this.#log.warn("rtmp.codec_unsupported", { stream: stream.info.name, reason: err.message });
        this.#sendStatus(this.#publishStreamId, "error", "NetStream.Publish.Rejected", err.message);
        this.#stopPublishing(err.message);
        this.#hangUp(err.message);
        return;
      }
      throw err;
    }
    if (!out) return;
    if (out.type === "config") stream.config(out.track);
    else stream.frame(out.frame);
  }

  #onData(values: AmfValue[]): void {
    let i = 0;
    if (values[0] === "@setDataFrame") i = 1;
    if (values[i] !== "onMetaData" || !this.#publishing) return;
    const meta = values[i + 1];
    if (meta && typeof meta === "object" && !Array.isArray(meta) && !(meta instanceof Date)) {
      this.#publishing.info.metadata = { ...meta };
    }
  }

  #onCommand(msg: RtmpMessage, values: AmfValue[]): void {
    const [name, txnValue] = values;
    if (typeof name !== "string") {
      throw new RtmpProtocolError("Cannot parse command: name is not a string");
    }
    const txn = typeof txnValue === "number" ? txnValue : 0;
    if (this.#phase === "connecting" && name !== "connect") {
      throw new RtmpProtocolError(`Cannot run command before connect: ${name.slice(0, 32)}`);
    }
    switch (name) {
      case "connect":
        return this.#connect(txn, values[2]);
      case "releaseStream":
      case "FCPublish":
        this.#result(txn, null, undefined);
        if (name === "FCPublish") {
          this.#command(0, "onFCPublish", 0, null, {
            code: "NetStream.Publish.Start",
            description: "FCPublish",
          });
        }
        return;
      case "createStream": {
        const id = this.#nextStreamId++;
        if (this.#nextStreamId > 64) {
          throw new RtmpProtocolError("Too many streams on one connection");
        }
        return this.#result(txn, null, id);
      }
      case "publish":
        return this.#publish(msg.streamId, values[3]);
      case "FCUnpublish":
        this.#stopPublishing("unpublished");
        this.#result(txn, null, undefined);
        return;
      case "deleteStream":
      case "closeStream":
        this.#stopPublishing("stream deleted");
        return;
      case "play":
      case "play2":
        this.#sendStatus(
          msg.streamId,
          "error",
          "NetStream.Play.Failed",
          "Playback over RTMP is not supported by Cascade; watch over HLS",
        );
        this.#hangUp("play refused");
        return;
      default:
        // Calls clients make for bandwidth checks and the like: answer so they don't wait.
        if (txn > 0) {
          this.#command(0, "_error", txn, null, {
            level: "error",
            code: "NetConnection.Call.Failed",
            description: `Method not supported: ${name.slice(0, 64)}`,
          });
        }
    }
  }

  #connect(txn: number, cmdObject: AmfValue): void {
    if (this.#phase !== "connecting") {
      throw new RtmpProtocolError("Cannot connect twice on one connection");
    }
    const obj = cmdObject && typeof cmdObject === "object" && !Array.isArray(cmdObject)
      ? cmdObject as Record<string, AmfValue>
      : {};
    // Some clients send "live/" or "live?x=y"; the application is the first path segment.
    const app = typeof obj.app === "string" ? obj.app.split(/[/?]/)[0] : "";
    const objectEncoding = typeof obj.objectEncoding === "number" ? obj.objectEncoding : 0;
    if (app !== this.#o.app) {
      this.#log.info("rtmp.connect_rejected", { reason: "unknown application" });
      this.#command(0, "_error", txn, null, {
        level: "error",
        code: "NetConnection.Connect.Rejected",
        description: `Unknown application; publish to rtmp://host/${this.#o.app}/<stream key>`,
      });
      this.#hangUp("unknown application");
      return;
    }
    this.#phase = "connected";
    this.#sendControl(MessageType.WINDOW_ACK_SIZE, windowAckSizePayload(WINDOW_ACK_SIZE));
    this.#sendControl(
      MessageType.SET_PEER_BANDWIDTH,
      setPeerBandwidthPayload(WINDOW_ACK_SIZE, PeerBandwidthLimit.DYNAMIC),
    );
    this.#sendControl(MessageType.SET_CHUNK_SIZE, setChunkSizePayload(OUT_CHUNK_SIZE));
    this.#writer.setChunkSize(OUT_CHUNK_SIZE);
    this.#command(0, "_result", txn, { fmsVer: "FMS/3,5,7,7009", capabilities: 31, mode: 1 }, {
      level: "status",
      code: "NetConnection.Connect.Success",
      description: "Connection succeeded",
      objectEncoding,
    });
  }

  #publish(streamId: number, keyValue: AmfValue): void {
    if (this.#publishing || this.#publishPending) {
      this.#sendStatus(streamId, "error", "NetStream.Publish.BadName", "Already publishing");
      return;
    }
    if (streamId <= 0 || streamId >= this.#nextStreamId) {
      throw new RtmpProtocolError(`Cannot publish on stream ${streamId}: it was never created`);
    }
    // Some encoders append "?param=…" to the key; only the part before it is the key.
    const key = typeof keyValue === "string" ? keyValue.split("?")[0]! : "";
    this.#publishPending = true;
    this.#o.auth.authorize({
      app: this.#o.app,
      key,
      clientIp: this.#o.clientIp,
      originId: this.#o.originId,
    }).then((decision) => {
      this.#publishPending = false;
      if (this.#phase === "closed") return;
      if (!decision.ok) {
        this.#log.info("rtmp.publish_refused", { reason: decision.reason });
        this.#sendStatus(streamId, "error", "NetStream.Publish.BadName", decision.reason);
        this.#hangUp("publish refused");
        return;
      }
      const name = decision.name;
      try {
        this.#publishing = this.#open(name);
      } catch (err) {
        if (!(err instanceof StreamBusyError)) throw err;
        this.#log.info("rtmp.publish_refused", { stream: name, reason: "already live" });
        this.#sendStatus(streamId, "error", "NetStream.Publish.BadName", "Stream is already live");
        this.#hangUp("stream busy");
        return;
      }
      this.#log = this.#o.log.child({ stream: name });
      this.#reader.setLimits(this.#o.maxMessageSize);
      this.#host.established?.();
      this.#publishStreamId = streamId;
      this.#demuxer = new FlvDemuxer();
      this.lastActivity = performance.now();
      this.#sendControl(
        MessageType.USER_CONTROL,
        userControlPayload(UserControlEvent.STREAM_BEGIN, streamId),
      );
      this.#sendStatus(streamId, "status", "NetStream.Publish.Start", `Publishing ${name}`);
    }).catch((err) => {
      this.#publishPending = false;
      this.#log.error("rtmp.publish_failed", { error: err });
      this.#hangUp("publish failed");
    });
  }

  /** Opens `name` on the hub, which may end this session later to give the name to another. */
  #open(name: string): LiveStream {
    return this.#o.hub.open(name, this.#o.clientIp, {
      evict: (reason) => {
        this.closed(reason);
        this.#hangUp(reason);
      },
    });
  }

  #stopPublishing(reason: string, lost = false): void {
    const stream = this.#publishing;
    if (!stream) return;
    this.#publishing = null;
    this.#o.hub.close(stream, reason, lost);
    if (this.#droppedBeforeStart > 0) {
      this.#log.debug("rtmp.dropped_before_publish", { messages: this.#droppedBeforeStart });
    }
  }

  #hangUp(reason: string): void {
    this.#hangingUp = true;
    this.#host.close(reason);
  }

  #sendStatus(streamId: number, level: string, code: string, description: string): void {
    this.#send(
      CSID_STATUS,
      MessageType.COMMAND_AMF0,
      streamId,
      encodeAmf0("onStatus", 0, null, {
        level,
        code,
        description,
      }),
    );
  }

  #result(txn: number, ...values: AmfValue[]): void {
    this.#command(0, "_result", txn, ...values);
  }

  #command(streamId: number, name: string, txn: number, ...values: AmfValue[]): void {
    this.#send(CSID_COMMAND, MessageType.COMMAND_AMF0, streamId, encodeAmf0(name, txn, ...values));
  }

  #sendControl(typeId: number, payload: Uint8Array): void {
    this.#send(CSID_CONTROL, typeId, 0, payload);
  }

  #send(csid: number, typeId: number, streamId: number, payload: Uint8Array): void {
    this.#host.send(this.#writer.write({ csid, typeId, streamId, timestamp: 0, payload }));
  }
}
