/**
 * The edge as a Hono app, for `Deno.serve`, for tests (`app.request()`) and for the
 * all-in-one node, which mounts these routes beside the API on one port. Every route hands
 * the request to `Edge.handle`; nothing here decides anything. `createEdge` builds the
 * `Edge` from its dependencies; callers `start()` it before serving and `close()` it after.
 */
import { Hono } from "hono";
import { jsonErrorHandler, jsonNotFound } from "@cascade/common/http_errors";
import { createOpsApp } from "@cascade/common/ops";
import { Edge, type EdgeOptions } from "./edge.ts";
import type { EdgeReply, EdgeRequest } from "./request.ts";

/** The node id `/healthz` reports: fixed, or read once the server knows its port. */
export type EdgeId = string | (() => string);

export interface EdgeAppOptions {
  /** Serve `/healthz` and `/metrics` too (default true; the all-in-one node has its own). */
  healthAndMetrics?: boolean;
  /** Node id for `/healthz` (default `edge`). */
  id?: EdgeId;
}

/** Builds an edge from its dependencies (registry, cache budget, metrics, …). */
export function createEdge(opts: EdgeOptions): Edge {
  return new Edge(opts);
}

/** The Hono app serving `/live/{name}/{file}` (and `/healthz`, `/metrics`) from `edge`. */
export function createEdgeApp(edge: Edge, opts: EdgeAppOptions = {}): Hono {
  const app = new Hono();
  const handler = (c: { req: { raw: Request } }) => handleFetch(edge, c.req.raw);
  if (opts.healthAndMetrics ?? true) app.route("/", createEdgeOpsApp(edge, opts.id ?? "edge"));
  app.all("/live/*", handler);
  app.notFound(jsonNotFound);
  app.onError(jsonErrorHandler);
  return app;
}

/** `/healthz` (503 once draining) and `/metrics` of `edge`, as every role serves them. */
export function createEdgeOpsApp(edge: Edge, id: EdgeId): Hono {
  return createOpsApp({
    role: "edge",
    id,
    metrics: edge.metrics,
    status: () => edge.draining ? "draining" : "ok",
  });
}

/** Answers a fetch `Request` with the edge: the `Deno.serve` handler without Hono. */
export async function handleFetch(edge: Edge, request: Request): Promise<Response> {
  return toResponse(await edge.handle(fromRequest(request)));
}

/** The request target (path and query as sent) of an absolute request URL. */
function targetOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  return start < 0 ? "/" : url.slice(start);
}

function fromRequest(request: Request): EdgeRequest {
  const target = targetOf(request.url);
  // Deno.serve enforces no header limit of ours, so the edge checks the size itself.
  let headBytes = request.method.length + target.length + 12;
  request.headers.forEach((value, name) => {
    headBytes += name.length + value.length + 4;
  });
  return {
    method: request.method,
    target,
    header: (name) => request.headers.get(name),
    headBytes,
  };
}

function toResponse(reply: EdgeReply): Response {
  return new Response(reply.body, { status: reply.status, headers: reply.headers });
}
