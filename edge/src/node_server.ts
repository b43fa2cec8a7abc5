/**
 * The edge on the guarded `node:http` listener every role uses (`lib/common/http_server.ts`:
 * connection budgets, request deadlines, idle timeouts). Cached segments are large bodies
 * already in memory, and for those `node:http` under Deno moved about twice the bytes of
 * `Deno.serve` on this machine (see `edge/bench/edge_bench.ts` and edge/README.md, "Choices,
 * measured"); `/live/` requests go straight to `Edge.handle` and its reply is written as is.
 *
 * Paths the edge does not own go to an optional fetch-style `fallback`, so the all-in-one
 * node can put its API and pages behind the same port. `close()` drains: it stops accepting,
 * lets the responses in progress finish (bounded by a deadline), then drops idle
 * keep-alive connections.
 */
import { Buffer } from "node:buffer";
import type { Logger } from "@cascade/common/log";
import { log as rootLog } from "@cascade/common/log";
import {
  fetchHandler,
  type HttpLimits,
  MAX_HEADER_BYTES,
  type NodeHandler,
  serveHttp,
  type UpgradeHandler,
} from "@cascade/common/http_server";
import { budgetOf } from "@cascade/common/conn_budget";
import { createEdgeOpsApp, type EdgeId } from "./app.ts";
import type { Edge } from "./edge.ts";
import { splitTarget } from "./paths.ts";

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
  /** Takes HTTP upgrades (the all-in-one's browser ingest); without it they are refused. */
  upgrade?: UpgradeHandler;
  /** Connection budget and timeouts (default: `DEFAULT_EDGE_LIMITS`). */
  limits?: HttpLimits;
  log?: Logger;
}

/** Limits for callers that configure none (tests, benchmarks): generous, never unbounded. */
export const DEFAULT_EDGE_LIMITS: HttpLimits = {
  budget: budgetOf(4096),
  requestTimeoutMs: 10_000,
  idleTimeoutMs: 60_000,
  maxRequestsPerConnection: 1000,
  maxHeaderBytes: MAX_HEADER_BYTES,
};

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
  const log = opts.log ?? rootLog;
  // The same ops app as every role, reached through the fetch adapter.
  const ops = (opts.healthAndMetrics ?? true)
    ? fetchHandler(createEdgeOpsApp(edge, opts.id ?? "edge").fetch, log)
    : null;
  const other = fallback === undefined ? null : fetchHandler(fallback, log);
  /** Who answers `path` instead of the edge: the ops app, the fallback, or nobody. */
  const delegateFor = (path: string): NodeHandler | null => {
    if (ops !== null && (path === "/healthz" || path === "/metrics")) return ops;
    return path.startsWith("/live/") ? null : other;
  };

  const server = await serveHttp({
    hostname,
    port: opts.port,
    limits: opts.limits ?? DEFAULT_EDGE_LIMITS,
    log,
    upgrade: opts.upgrade,
    handler: (req, res) => {
      const target = req.url ?? "/";
      const delegate = delegateFor(splitTarget(target).path);
      if (delegate !== null) return delegate(req, res);
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
    },
  });
  return {
    hostname,
    port: server.port,
    get inFlight() {
      return server.inFlight;
    },
    close(graceMs = 5000) {
      edge.drain();
      return server.close(graceMs);
    },
  };
}
