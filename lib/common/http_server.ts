/**
 * The one HTTP listener every role serves on: `node:http` under Deno (for large bodies it
 * moved about 3.7× the bytes of `Deno.serve` here, see edge/README.md) guarded so that no
 * client can take the process down. Each connection must fit a `ConnectionBudget` (total,
 * per address, not yet established); a request's head and body must arrive within
 * `requestTimeoutMs` of the connection opening or of the previous response ending, which cuts
 * slow-loris clients; a connection silent for `idleTimeoutMs` is closed; a connection serves
 * at most `maxRequestsPerConnection` requests. Refusals and timeouts are counted and logged at
 * a bounded rate, never per event. `fetchHandler` adapts a fetch-style handler (Hono's
 * `app.fetch`) to the node request; the edge plugs in its own handler for its hot path.
 * An optional `upgrade` hook takes HTTP upgrades (WebSocket): an upgraded socket keeps its
 * place in the budget until it closes, and leaves the request deadline and idle timeout to
 * its new owner, which has its own.
 */
import type { Buffer } from "node:buffer";
import http from "node:http";
import type { Socket } from "node:net";
import { type Duplex, Readable } from "node:stream";
import type { Logger } from "./log.ts";
import {
  type BudgetLimits,
  budgetOf,
  ConnectionBudget,
  openFileLimit,
  RateLimitedLog,
  shareOfDescriptors,
} from "./conn_budget.ts";
import type { HttpLimitsConfig } from "./config.ts";

export interface HttpLimits {
  budget: BudgetLimits;
  /** A request's head and body must arrive within this many ms. */
  requestTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed. */
  idleTimeoutMs: number;
  maxRequestsPerConnection: number;
  /** Bytes of request line and headers; more is answered 431. */
  maxHeaderBytes: number;
}

/** Bytes of request line and headers every listener accepts (more is 431). */
export const MAX_HEADER_BYTES = 16 * 1024;

/** Descriptor limit assumed where `/proc/self/limits` cannot tell. */
const FALLBACK_FILE_LIMIT = 1024;

/**
 * The limits of one listener from the `HTTP_*` variables; an unset connection budget is
 * `share` of the descriptors this process may open (after the reserve).
 */
export function httpLimits(config: HttpLimitsConfig, share: number): HttpLimits {
  const max = config.HTTP_MAX_CONNECTIONS ??
    shareOfDescriptors(openFileLimit() ?? FALLBACK_FILE_LIMIT, share);
  return {
    budget: budgetOf(max, {
      perAddress: config.HTTP_MAX_CONNECTIONS_PER_ADDRESS,
      pending: config.HTTP_MAX_PENDING_CONNECTIONS,
    }),
    requestTimeoutMs: config.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
    idleTimeoutMs: config.HTTP_IDLE_TIMEOUT_SECONDS * 1000,
    maxRequestsPerConnection: config.HTTP_MAX_REQUESTS_PER_CONNECTION,
    maxHeaderBytes: MAX_HEADER_BYTES,
  };
}

export type NodeHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** What an upgrade handler may tell the listener about the connection it took over. */
export interface UpgradedConnection {
  /** The peer proved itself (e.g. an authorized publish): it no longer counts as pending. */
  established(): void;
}

/**
 * Takes over the socket of an HTTP upgrade request (`head`: bytes already read past the
 * request head). The handler owns the socket from then on: it answers, times out and closes.
 */
export type UpgradeHandler = (
  req: http.IncomingMessage,
  socket: Duplex,
  head: Buffer,
  conn: UpgradedConnection,
) => void;

/**
 * An upgrade handler dispatching on the request path; a route ending in `/` takes every path
 * under it (`/internal/` takes `/internal/feed/cam`). Other paths are answered 404.
 */
export function upgradeRoutes(routes: Record<string, UpgradeHandler>): UpgradeHandler {
  const prefixes = Object.keys(routes).filter((p) => p.endsWith("/"));
  return (req, socket, head, conn) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const exact = Object.hasOwn(routes, path) && !path.endsWith("/") ? routes[path] : undefined;
    const prefix = prefixes.find((p) => path.startsWith(p) && path.length > p.length);
    const route = exact ?? (prefix === undefined ? undefined : routes[prefix]);
    if (route) return route(req, socket, head, conn);
    refuseUpgrade(socket, "404 Not Found");
  };
}

/** Answers an upgrade request with `status` (e.g. "404 Not Found") and closes the socket. */
export function refuseUpgrade(socket: Duplex, status: string): void {
  const reply = `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
  socket.end(reply, () => socket.destroy());
}

export interface HttpServerOptions {
  hostname: string;
  /** 0 picks a free port. */
  port: number;
  handler: NodeHandler;
  /** Takes HTTP upgrades; without it they are refused. */
  upgrade?: UpgradeHandler;
  limits: HttpLimits;
  log: Logger;
}

export interface HttpServer {
  readonly hostname: string;
  readonly port: number;
  /** Responses being written now. */
  readonly inFlight: number;
  readonly budget: ConnectionBudget;
  /** Stops accepting, waits up to `graceMs` for responses in progress, then closes all. */
  close(graceMs?: number): Promise<void>;
}

interface ConnectionState {
  release(): void;
  established(): void;
  timer: ReturnType<typeof setTimeout> | undefined;
  requests: number;
}

/** Starts a guarded `node:http` server; resolves once it listens. */
export async function serveHttp(opts: HttpServerOptions): Promise<HttpServer> {
  const { limits, log } = opts;
  const budget = new ConnectionBudget(limits.budget);
  const states = new WeakMap<Socket, ConnectionState>();
  const refusedLog = new RateLimitedLog();
  const timeoutLog = new RateLimitedLog();
  let inFlight = 0;
  let idle: (() => void) | null = null;

  const armRequestDeadline = (socket: Socket, state: ConnectionState) => {
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      const n = timeoutLog.hit();
      if (n > 0) log.info("http.request_timeout", { timeoutMs: limits.requestTimeoutMs, count: n });
      socket.destroy();
    }, limits.requestTimeoutMs);
  };

  const server = http.createServer({ maxHeaderSize: limits.maxHeaderBytes }, (req, res) => {
    const state = states.get(req.socket);
    if (state) {
      state.established();
      state.requests++;
      if (state.requests >= limits.maxRequestsPerConnection) res.shouldKeepAlive = false;
      // The head is in; the body must follow within the same deadline.
      if (req.complete) clearTimeout(state.timer);
      else req.once("end", () => clearTimeout(state.timer));
    }
    inFlight++;
    res.once("close", () => {
      inFlight--;
      if (state && !req.socket.destroyed) armRequestDeadline(req.socket, state);
      if (inFlight === 0) idle?.();
    });
    opts.handler(req, res);
  });
  // node closes a kept-alive connection after 5 s without a request unless told otherwise, and
  // a client reusing it at that moment gets a reset (`fetch failed`): idle means idleTimeoutMs.
  server.keepAliveTimeout = limits.idleTimeoutMs;
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const result = budget.admit(address);
    if (!result.ok) {
      socket.destroy();
      const n = refusedLog.hit();
      if (n > 0) {
        log.warn("http.connection_refused", {
          reason: result.reason,
          count: n,
          ...budget.limits,
          open: budget.total,
        });
      }
      return;
    }
    const state: ConnectionState = {
      release: result.admission.release,
      established: result.admission.established,
      timer: undefined,
      requests: 0,
    };
    states.set(socket, state);
    armRequestDeadline(socket, state);
    socket.setTimeout(limits.idleTimeoutMs, () => socket.destroy());
    socket.once("close", () => {
      clearTimeout(state.timer);
      state.release();
    });
  });
  const upgraded = new Set<Duplex>();
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!opts.upgrade) return refuseUpgrade(socket, "404 Not Found");
    const state = states.get(req.socket);
    // The new owner has its own deadlines; the budget place is released on close as before.
    clearTimeout(state?.timer);
    req.socket.setTimeout(0);
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
    opts.upgrade(req, socket, head, { established: () => state?.established() });
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return void socket.destroy();
    const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
    const status = tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request";
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });
  server.on("error", (err) => log.error("http.server_error", { error: err }));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;
  log.info("http.listening", {
    url: `http://${opts.hostname}:${port}`,
    ...limits.budget,
    fileLimit: openFileLimit(),
  });
  let closing: Promise<void> | null = null;
  return {
    hostname: opts.hostname,
    port,
    budget,
    get inFlight() {
      return inFlight;
    },
    close(graceMs = 5000) {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            new Promise<void>((resolve) => (idle = resolve)),
            new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
          ]);
          clearTimeout(timer);
        }
        server.closeAllConnections();
        for (const socket of upgraded) socket.destroy();
        await closed;
      })();
      return closing;
    },
  };
}

/** A fetch-style handler (`app.fetch` of Hono) as a `node:http` handler. */
export function fetchHandler(
  fetch: (request: Request) => Response | Promise<Response>,
  log: Logger,
): NodeHandler {
  return (req, res) => {
    forward(req, res, fetch).catch((err) => {
      log.error("http.handler_failed", { error: err });
      if (!res.headersSent) res.writeHead(500, { "Content-Type": "application/json" });
      res.end();
    });
  };
}

async function forward(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  handler: (request: Request) => Response | Promise<Response>,
): Promise<void> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const host = req.headers.host ?? "localhost";
  const abort = new AbortController();
  res.once("close", () => abort.abort());
  const request = new Request(`http://${host}${req.url ?? "/"}`, {
    method,
    headers,
    body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : null,
    signal: abort.signal,
    // @ts-ignore: `duplex` is required by fetch for streamed request bodies.
    duplex: "half",
  });
  const response = await handler(request);
  const out: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") out[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) out["set-cookie"] = cookies;
  res.writeHead(response.status, out);
  if (response.body === null || method === "HEAD") {
    await response.body?.cancel();
    res.end();
    return;
  }
  try {
    for await (const chunk of response.body) {
      if (res.destroyed) break;
      if (!res.write(chunk)) await writable(res);
    }
  } finally {
    res.end();
  }
}

/** Resolves when `res` can take more data or has gone away. */
function writable(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}
