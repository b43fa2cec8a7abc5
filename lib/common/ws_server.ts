/**
 * A `ws` server for upgrades taken from a guarded listener (`noServer`), loaded on the first
 * upgrade: the package costs a process ~12 MiB of RSS, which an origin that never sees a
 * browser publisher or an internal transcoder socket need not pay. Browser ingest and the
 * origin's internal sockets each keep one.
 */
import { importWhenNeeded } from "./lazy_import.ts";
import type { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

/** The part of a `ws` server the callers use (the package ships no types). */
export interface WsServer {
  handleUpgrade(
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    done: (ws: never) => void,
  ): void;
  close(): void;
}

/** The `ws` module, as `create` gets it. */
export type WsModule = typeof import("ws");

export class LazyWsServer {
  readonly #create: (ws: WsModule) => WsServer;
  #server: Promise<WsServer> | undefined;

  constructor(create: (ws: WsModule) => WsServer) {
    this.#create = create;
  }

  /** The server, loading `ws` and creating it on the first call. */
  get(): Promise<WsServer> {
    return this.#server ??= importWhenNeeded<WsModule>("ws").then((ws) => this.#create(ws));
  }

  /** Closes the server if one was ever made. */
  async close(): Promise<void> {
    (await this.#server?.catch(() => undefined))?.close();
  }
}
