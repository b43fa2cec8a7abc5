/**
 * The edge on `node:http`, the server used for viewers by default. Cached segments are
 * large bodies already in memory, and for those `node:http` under Deno moved about twice
 * the bytes of `Deno.serve` on this machine (see `edge/bench/edge_bench.ts` and
 * edge/README.md, "Choices, measured"); the request logic is the same `Edge.handle` either way.
 *
 * Paths the edge does not own go to an optional fetch-style `fallback`, so the all-in-one
 * node can put its API and pages behind the same port. `close()` drains: it stops accepting,
 * lets the responses in progress finish (bounded by a deadline), then drops idle
 * keep-alive connections.
 */
import http from "node:http";
import { Buffer } from "node:buffer";
import { Readable } from "node:stream";
import type { Logger } from "@cascade/common/log";
import { createEdgeOpsApp, type EdgeId } from "./app.ts";
import type { Edge } from "./edge.ts";
import { splitTarget } from "./paths.ts";
import { MAX_HEAD_BYTES } from "./request.ts";

export interface NodeEdgeServerOptions {
  edge: Edge;
  hostname?: string;
  /** 0 picks a free port. */
  port: number;
  /** Answers requests outside `/live/` (and `/healthz`, `/metrics` unless served here). */
  fallback?: (request: Request) => Response | Promise<Response>;
  /** Serve `/healthz` and `/metrics` (default true; false hands them to `fallback`). */
  healthAndMetrics?: boolean;
  /** Node id for `/healthz` (default `edge`). */
  id?: EdgeId;
  log?: Logger;
}

export interface EdgeServer {
  readonly hostname: string;
  readonly port: number;
  /** Responses being written now. */
  readonly inFlight: number;
  /** Stops accepting, waits up to `graceMs` for responses in progress, then closes all. */
  close(graceMs?: number): Promise<void>;
}

/** Starts a `node:http` server for `edge`; resolves once it listens. */
export async function serveEdgeNode(opts: NodeEdgeServerOptions): Promise<EdgeServer> {
  const { edge, fallback } = opts;
  const hostname = opts.hostname ?? "0.0.0.0";
  // The same ops app as every role, reached through the fetch adapter below (`forward`).
  const ops = (opts.healthAndMetrics ?? true) ? createEdgeOpsApp(edge, opts.id ?? "edge") : null;
  /** Who answers `path` instead of the edge: the ops app, the fallback, or nobody. */
  const delegateFor = (path: string) => {
    if (ops !== null && (path === "/healthz" || path === "/metrics")) return ops.fetch;
    return path.startsWith("/live/") ? undefined : fallback;
  };
  let inFlight = 0;
  let idle: (() => void) | null = null;

  const server = http.createServer({ maxHeaderSize: MAX_HEAD_BYTES }, (req, res) => {
    inFlight++;
    res.once("close", () => {
      inFlight--;
      if (inFlight === 0) idle?.();
    });
    const target = req.url ?? "/";
    const delegate = delegateFor(splitTarget(target).path);
    if (delegate !== undefined) {
      forward(req, res, hostname, delegate).catch((err) => {
        opts.log?.error("edge.fallback_failed", { error: err });
        if (!res.headersSent) res.writeHead(500, { "Content-Type": "application/json" });
        res.end();
      });
      return;
    }
    edge.handle({
      method: req.method ?? "GET",
      target,
      header: (name) => {
        const value = req.headers[name];
        return Array.isArray(value) ? value.join(", ") : value;
      },
    }).then((reply) => {
      res.writeHead(reply.status, reply.headers);
      const body = reply.body;
      res.end(
        body === null ? undefined : Buffer.from(body.buffer, body.byteOffset, body.byteLength),
      );
    });
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return;
    const tooLarge = err.code === "HPE_HEADER_OVERFLOW";
    const status = tooLarge ? "431 Request Header Fields Too Large" : "400 Bad Request";
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;
  let closing: Promise<void> | null = null;

  return {
    hostname,
    port,
    get inFlight() {
      return inFlight;
    },
    close(graceMs = 5000) {
      closing ??= (async () => {
        edge.drain();
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
        await closed;
      })();
      return closing;
    },
  };
}

/** Hands a request to a fetch-style handler and writes its response back. */
async function forward(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  hostname: string,
  handler: (request: Request) => Response | Promise<Response>,
): Promise<void> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const host = req.headers.host ?? hostname;
  const request = new Request(`http://${host}${req.url ?? "/"}`, {
    method,
    headers,
    body: hasBody ? Readable.toWeb(req) as ReadableStream<Uint8Array> : null,
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
  for await (const chunk of response.body) {
    if (!res.write(chunk)) await writable(res);
    if (res.destroyed) break;
  }
  res.end();
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
