/**
 * The operations endpoints every role serves the same way: `GET /healthz` answers one JSON
 * shape (`Health`) with 200 while the node takes work and 503 once it is draining or
 * unhealthy, so load balancers, `tools/healthcheck.ts` and the dashboard read every role
 * alike; `GET /metrics` is the node's registry in Prometheus text. `createOpsApp` returns a
 * Hono app that each composition root mounts beside its own routes.
 */
import { Hono } from "hono";
import { HttpError, jsonErrorHandler, jsonNotFound } from "./http_errors.ts";
import { type MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";

/** `ok` takes work; `draining` finishes what it has (shutdown); `unhealthy` cannot serve. */
export type HealthStatus = "ok" | "draining" | "unhealthy";

/** The body of `GET /healthz`, the same for every role. */
export interface Health {
  status: HealthStatus;
  /** `origin`, `edge`, `api` or `all-in-one`. */
  role: string;
  /** The node id this process announces in the registry. */
  id: string;
  uptimeSeconds: number;
}

export interface OpsOptions {
  role: string;
  /** The node id, or a function when it is known only once the server listens. */
  id: string | (() => string);
  metrics: MetricsRegistry;
  /** The node's state for `/healthz`; always `ok` when omitted. */
  status?: () => HealthStatus;
  /** Epoch ms the node started at (default: when the app is created). */
  startedAt?: number;
  /** Clock in epoch ms (tests). */
  now?: () => number;
}

const OPS_METHODS = "GET, HEAD";

/** `/healthz` and `/metrics` for one node; see the module comment. */
export function createOpsApp(opts: OpsOptions): Hono {
  const now = opts.now ?? Date.now;
  const startedAt = opts.startedAt ?? now();
  const configured = opts.id;
  const id = typeof configured === "string" ? () => configured : configured;
  const status = opts.status ?? (() => "ok" as const);
  const app = new Hono();

  app.get("/healthz", (c) => {
    const health: Health = {
      status: status(),
      role: opts.role,
      id: id(),
      uptimeSeconds: Math.max(0, Math.floor((now() - startedAt) / 1000)),
    };
    return c.json(health, health.status === "ok" ? 200 : 503, { "Cache-Control": "no-cache" });
  });

  app.get("/metrics", (c) =>
    c.body(opts.metrics.render(), 200, {
      "Content-Type": PROMETHEUS_CONTENT_TYPE,
      "Cache-Control": "no-cache",
    }));

  app.all("/healthz", methodNotAllowed);
  app.all("/metrics", methodNotAllowed);
  app.onError(jsonErrorHandler);
  app.notFound(jsonNotFound);
  return app;
}

function methodNotAllowed(): never {
  throw new HttpError(405, "method_not_allowed", `Method not allowed: use ${OPS_METHODS}`, {
    headers: { Allow: OPS_METHODS },
  });
}
