/**
 * The one HTTP listener every role serves on: HTTP/1.1 of the project's own (`http1.ts`) on
 * `Deno.listen`, guarded so that no client can take the process down. It replaced
 * `node:http`, whose Node layer cost each role ~4 MiB resident from its first request, and it
 * writes bodies already in memory (the edge's cached segments) straight to the socket. Each
 * connection must fit a `ConnectionBudget` (total, per address, not yet established); a
 * request's head and body must arrive within `requestTimeoutMs` of the connection opening or
 * of the previous response ending, which cuts slow-loris clients; a response write that makes
 * no progress for `idleTimeoutMs` closes the connection; a connection serves at most
 * `maxRequestsPerConnection` requests. Refusals and timeouts are counted and logged at a
 * bounded rate, never per event.
 *
 * Handlers get the request head and answer with a `Response` or a `RawReply` (status,
 * headers, whole body); `fetchHandler` adapts a fetch-style handler (Hono's `app.fetch`). An
 * optional `upgrade` hook takes HTTP upgrades (WebSocket) as a `node:stream` socket, made
 * when the first upgrade comes (`conn_socket.ts`), so that a role that never sees one never
 * loads Node's streams: the upgraded socket keeps its place in the budget until it closes,
 * and leaves the deadlines to its new owner, which has its own.
 */
import type { Buffer } from "node:buffer";
import type { Duplex } from "node:stream";
import type { Logger } from "./log.ts";
import {
  AcceptBackoff,
  type BudgetLimits,
  budgetOf,
  ConnectionBudget,
  openFileLimit,
  RateLimitedLog,
  shareOfDescriptors,
} from "./conn_budget.ts";
import type { HttpLimitsConfig } from "./config.ts";
import {
  BadRequest,
  bodyFraming,
  ConnReader,
  errorReply,
  headerOf,
  requestBody,
  type RequestHead,
} from "./http1.ts";
import { type Reply, writeAll, writeReply } from "./http_reply.ts";

export type { RawReply } from "./http_reply.ts";
export type { RequestHead } from "./http1.ts";

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

/** One request as a handler sees it. */
export interface ServerRequest {
  readonly head: RequestHead;
  readonly remoteAddr: Deno.NetAddr;
  /** The body, when the request has one (`Content-Length` or chunked). */
  readonly body: ReadableStream<Uint8Array<ArrayBuffer>> | null;
  /** Aborted when the client goes away before its response is written. */
  readonly signal: AbortSignal;
}

export type HttpHandler = (req: ServerRequest) => Reply | Promise<Reply>;

/** The request of an HTTP upgrade, shaped as `ws` reads it. */
export interface UpgradeRequest {
  readonly method: string;
  readonly url: string;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  readonly socket: { readonly remoteAddress: string; readonly remotePort: number };
}

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
  req: UpgradeRequest,
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
    const path = req.url.split("?")[0]!;
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
  handler: HttpHandler;
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

/** A connection being served: closable, and idle between requests. */
interface Served {
  busy: boolean;
  close(): void;
}

/** Starts a guarded HTTP/1.1 server; resolves once it listens. */
export function serveHttp(opts: HttpServerOptions): Promise<HttpServer> {
  const { limits, log } = opts;
  const budget = new ConnectionBudget(limits.budget);
  const refusedLog = new RateLimitedLog();
  const timeoutLog = new RateLimitedLog();
  const acceptErrorLog = new RateLimitedLog();
  const connections = new Set<Served>();
  const upgraded = new Set<Duplex>();
  let inFlight = 0;
  let idle: (() => void) | null = null;
  let closing = false;

  const listener = Deno.listen({ hostname: opts.hostname, port: opts.port, transport: "tcp" });
  const port = listener.addr.port;

  const serveOne = async (conn: Deno.TcpConn, address: string) => {
    const result = budget.admit(address);
    if (!result.ok) {
      closeQuietly(conn);
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
    const { admission } = result;
    const served: Served = { busy: false, close: () => closeQuietly(conn) };
    connections.add(served);
    let handedOver = false;
    try {
      handedOver = await serveConnection(conn, {
        limits,
        handler: opts.handler,
        upgrade: opts.upgrade,
        log,
        served,
        established: admission.established,
        closing: () => closing,
        onTimeout: () => {
          const n = timeoutLog.hit();
          if (n > 0) {
            log.info("http.request_timeout", { timeoutMs: limits.requestTimeoutMs, count: n });
          }
        },
        onUpgrade: (socket) => {
          upgraded.add(socket);
          socket.once("close", () => {
            upgraded.delete(socket);
            admission.release();
          });
        },
        begin: () => inFlight++,
        end: () => {
          inFlight--;
          if (inFlight === 0) idle?.();
        },
      });
    } catch (err) {
      if (!(err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted)) {
        log.debug("http.connection_failed", { error: err });
      }
    } finally {
      connections.delete(served);
      if (!handedOver) {
        closeQuietly(conn);
        admission.release();
      }
    }
  };

  const accepting = (async () => {
    const backoff = new AcceptBackoff();
    while (!closing) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
        backoff.reset();
      } catch (err) {
        if (closing) return;
        const n = acceptErrorLog.hit();
        if (n > 0) log.error("http.accept_failed", { error: err, count: n });
        await new Promise((resolve) => setTimeout(resolve, backoff.delay()));
        continue;
      }
      serveOne(conn, conn.remoteAddr.hostname);
    }
  })();

  log.info("http.listening", {
    url: `http://${opts.hostname}:${port}`,
    ...limits.budget,
    fileLimit: openFileLimit(),
  });
  let closingDone: Promise<void> | null = null;
  return Promise.resolve({
    hostname: opts.hostname,
    port,
    budget,
    get inFlight() {
      return inFlight;
    },
    close(graceMs = 5000) {
      closingDone ??= (async () => {
        closing = true;
        closeQuietly(listener);
        await accepting;
        for (const c of connections) if (!c.busy) c.close();
        if (inFlight > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([
            new Promise<void>((resolve) => (idle = resolve)),
            new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
          ]);
          clearTimeout(timer);
        }
        for (const c of connections) c.close();
        for (const socket of upgraded) socket.destroy();
        await waitUntil(() => connections.size === 0 && upgraded.size === 0, 1000);
      })();
      return closingDone;
    },
  });
}

interface ConnectionContext {
  limits: HttpLimits;
  handler: HttpHandler;
  upgrade: UpgradeHandler | undefined;
  log: Logger;
  served: Served;
  established(): void;
  closing(): boolean;
  onTimeout(): void;
  onUpgrade(socket: Duplex): void;
  begin(): void;
  end(): void;
}

/**
 * Serves requests on `conn` until either side ends it. Resolves true when the connection was
 * handed to the upgrade handler (which closes it), false when it is done with.
 */
async function serveConnection(conn: Deno.TcpConn, ctx: ConnectionContext): Promise<boolean> {
  const { limits } = ctx;
  conn.setNoDelay(true);
  const reader = new ConnReader(conn);
  const remoteAddr = conn.remoteAddr;
  const keepAliveSeconds = Math.floor(limits.idleTimeoutMs / 1000);
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const armDeadline = () => {
    clearTimeout(deadline);
    deadline = setTimeout(() => {
      ctx.onTimeout();
      closeQuietly(conn);
    }, limits.requestTimeoutMs);
  };
  armDeadline();
  let requests = 0;
  // A read in progress while a handler runs: it sees the client leave (or pipeline).
  let watch: Promise<boolean> | null = null;
  try {
    while (!ctx.closing()) {
      if (watch !== null) {
        await watch;
        watch = null;
      }
      let head: RequestHead | null;
      let framing: ReturnType<typeof bodyFraming>;
      try {
        head = await reader.readHead(limits.maxHeaderBytes);
        if (head === null) return false;
        framing = bodyFraming(head);
      } catch (err) {
        if (!(err instanceof BadRequest)) throw err;
        await writeAll(conn, errorReply(err.status), limits.idleTimeoutMs).catch(() => {});
        return false;
      }
      if (isUpgrade(head)) {
        // An upgraded connection is established by its new owner, once its peer proves itself.
        clearTimeout(deadline);
        return await handOver(conn, head, reader, ctx);
      }
      ctx.established();
      requests++;
      const keepAlive = !ctx.closing() && requests < limits.maxRequestsPerConnection &&
        wantsKeepAlive(head);
      const abort = new AbortController();
      const startWatch = () => {
        clearTimeout(deadline);
        // Bytes of a pipelined request already here: the next head is read from them.
        if (reader.buffered > 0) return;
        watch = reader.fill(limits.maxHeaderBytes + 4).then((more) => {
          if (!more) abort.abort();
          return more;
        }, () => {
          abort.abort();
          return false;
        });
      };
      let body: ReturnType<typeof requestBody> | null = null;
      let bodyRead = false;
      if (framing === null) startWatch();
      else {
        const expectsContinue = headerOf(head, "expect")?.toLowerCase() === "100-continue";
        body = requestBody(reader, framing, async () => {
          if (expectsContinue) await writeAll(conn, CONTINUE, limits.idleTimeoutMs);
        });
        body.done.then((complete) => {
          bodyRead = complete;
          if (complete) startWatch();
        });
      }
      ctx.served.busy = true;
      ctx.begin();
      let reusable: boolean;
      try {
        const reply = await answer(ctx, {
          head,
          remoteAddr,
          body: body?.stream ?? null,
          signal: abort.signal,
        });
        reusable = await writeReply(conn, head, reply, {
          keepAliveSeconds: keepAlive ? keepAliveSeconds : null,
          stallMs: limits.idleTimeoutMs,
          signal: abort.signal,
        });
      } finally {
        ctx.end();
        ctx.served.busy = false;
      }
      // A body the handler left unread cannot be skipped safely: the connection ends.
      if (!keepAlive || !reusable || (body !== null && !bodyRead)) {
        await body?.stream.cancel().catch(() => {});
        return false;
      }
      armDeadline();
    }
    return false;
  } finally {
    clearTimeout(deadline);
  }
}

const CONTINUE = new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n");

async function answer(ctx: ConnectionContext, req: ServerRequest): Promise<Reply> {
  try {
    return await ctx.handler(req);
  } catch (err) {
    ctx.log.error("http.handler_failed", { error: err, path: req.head.target.split("?")[0] });
    return { status: 500, headers: { "content-type": "application/json" }, body: null };
  }
}

function isUpgrade(head: RequestHead): boolean {
  return headerOf(head, "upgrade") !== undefined &&
    /(^|,)\s*upgrade\s*(,|$)/i.test(headerOf(head, "connection") ?? "");
}

function wantsKeepAlive(head: RequestHead): boolean {
  const connection = headerOf(head, "connection")?.toLowerCase() ?? "";
  if (/(^|,)\s*close\s*(,|$)/.test(connection)) return false;
  return head.version === "HTTP/1.1" || /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
}

/** Gives the connection to the upgrade handler as a `node:stream` socket. */
async function handOver(
  conn: Deno.TcpConn,
  head: RequestHead,
  reader: ConnReader,
  ctx: ConnectionContext,
): Promise<boolean> {
  if (ctx.upgrade === undefined) {
    await writeAll(conn, errorReply(404), ctx.limits.idleTimeoutMs).catch(() => {});
    return false;
  }
  const { connSocket } = await import("./conn_socket.ts");
  const { socket, head: rest } = await connSocket(conn, reader.takeAll());
  ctx.onUpgrade(socket);
  const headers: Record<string, string> = {};
  for (const [name] of head.headers) headers[name] ??= headerOf(head, name)!;
  const req: UpgradeRequest = {
    method: head.method,
    url: head.target,
    headers,
    socket: { remoteAddress: conn.remoteAddr.hostname, remotePort: conn.remoteAddr.port },
  };
  ctx.upgrade(req, socket, rest, { established: ctx.established });
  return true;
}

function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}

async function waitUntil(done: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!done() && performance.now() < end) await new Promise((r) => setTimeout(r, 10));
}

/** A fetch-style handler (`app.fetch` of Hono) as a server handler. */
export function fetchHandler(
  fetch: (request: Request) => Response | Promise<Response>,
  log: Logger,
): HttpHandler {
  return async (req) => {
    let request: Request;
    try {
      request = toRequest(req);
    } catch (err) {
      log.info("http.bad_request", { error: err });
      return { status: 400, headers: {}, body: null };
    }
    return await fetch(request);
  };
}

function toRequest(req: ServerRequest): Request {
  const { head } = req;
  const headers = new Headers();
  for (const [name, value] of head.headers) headers.append(name, value);
  const target = head.target;
  const url = target.startsWith("/")
    ? `http://${headerOf(head, "host") ?? "localhost"}${target}`
    : target === "*"
    ? `http://${headerOf(head, "host") ?? "localhost"}/`
    : target;
  const hasBody = req.body !== null && head.method !== "GET" && head.method !== "HEAD";
  return new Request(url, {
    method: head.method,
    headers,
    body: hasBody ? req.body : null,
    signal: req.signal,
    // @ts-ignore: `duplex` is required by fetch for streamed request bodies.
    duplex: "half",
  });
}
