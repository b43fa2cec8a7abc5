/**
 * A browser publisher without the browser: a Deno `WebSocket` speaking the browser ingest
 * protocol (docs/architecture.md, "Browser ingest") — the publish message, track configs,
 * binary frame messages, stop — and keeping what the server answers, so tests can publish
 * real encoded frames (e.g. `clipFrames`) and assert on the replies and the close code.
 */
import type { AacConfig, AvcConfig, MediaFrame } from "@cascade/media/frame";
import { waitFor } from "./wait.ts";

export type ServerMessage = { type: string; [field: string]: unknown };

export function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** One binary frame message: track, flags, float64 µs timestamp, then the chunk. */
export function frameMessage(
  kind: "video" | "audio",
  keyframe: boolean,
  timestampUs: number,
  data: Uint8Array,
): Uint8Array {
  const out = new Uint8Array(10 + data.length);
  out[0] = kind === "video" ? 1 : 2;
  out[1] = keyframe ? 1 : 0;
  new DataView(out.buffer).setFloat64(2, timestampUs);
  out.set(data, 10);
  return out;
}

export function videoConfig(avc: AvcConfig): Record<string, unknown> {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return {
    type: "video-config",
    codec: `avc1.${hex(avc.profile)}${hex(avc.compatibility)}${hex(avc.level)}`,
    description: base64(avc.record),
  };
}

export function aacConfig(aac: AacConfig): Record<string, unknown> {
  return {
    type: "audio-config",
    codec: `mp4a.40.${aac.objectType}`,
    sampleRate: aac.sampleRate,
    channels: aac.channelConfig,
    description: base64(aac.record),
  };
}

export class WsPublisher implements AsyncDisposable {
  readonly socket: WebSocket;
  readonly messages: ServerMessage[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.onmessage = (e) => this.messages.push(JSON.parse(e.data as string));
    this.closed = new Promise((resolve) => {
      socket.onclose = (e) => resolve({ code: e.code, reason: e.reason });
    });
  }

  /** Opens a socket to `url` (`ws://host:port/ingest/ws`). */
  static async connect(url: string): Promise<WsPublisher> {
    const socket = new WebSocket(url);
    const publisher = new WsPublisher(socket);
    await new Promise<void>((resolve, reject) => {
      socket.onopen = () => resolve();
      socket.onerror = () => reject(new Error(`Cannot open ${url}`));
    });
    return publisher;
  }

  /** Connects and publishes with `key`; resolves once the server says `publishing`. */
  static async publish(url: string, key: string): Promise<WsPublisher> {
    const p = await WsPublisher.connect(url);
    p.send({ type: "publish", key });
    const reply = await p.next((m) => m.type === "publishing" || m.type === "error");
    if (reply.type !== "publishing") throw new Error(`Publish refused: ${JSON.stringify(reply)}`);
    return p;
  }

  get open(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  send(message: Record<string, unknown> | string): void {
    this.socket.send(typeof message === "string" ? message : JSON.stringify(message));
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.send(bytes);
  }

  /** Sends a hub frame (ms timeline) as a frame message with `offsetUs` added. */
  sendFrame(frame: MediaFrame, offsetUs = 0): void {
    this.sendBytes(
      frameMessage(frame.kind, frame.keyframe, frame.dts * 1000 + offsetUs, frame.data),
    );
  }

  /** The first message (received or to come) matching `match`. */
  async next(match: (m: ServerMessage) => boolean, timeoutMs = 10_000): Promise<ServerMessage> {
    return await waitFor("a matching server message", () => this.messages.find(match), {
      timeoutMs,
      intervalMs: 20,
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.closed;
  }
}
