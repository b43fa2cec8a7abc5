/**
 * The API as a pure Hono app: `createApiApp(deps)` mounts one sub-app per resource
 * (`routes/`: streams, their keys and recordings for admins; the hooks; the live directory
 * and playback for anyone) over a `Registry`, with zod validation whose failures become 400s
 * naming the field, a 64 KiB body limit (413), CORS on the public routes, per-route metrics,
 * and one error handler answering `{error: {code, message}}` (503 when the registry is
 * unreachable). It serves its own OpenAPI document at `/api/v1/openapi.json` and a reference
 * page at `/api/v1/docs`. It never listens and reads no environment: `main.ts` and the
 * all-in-one node do that. No request body, query string or token is ever logged.
 */
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { OpenAPIHono } from "@hono/zod-openapi";
import type { ZodError } from "zod";
import { errorBody, HttpError, jsonErrorHandler, jsonNotFound } from "@cascade/common/http_errors";
import type { Logger } from "@cascade/common/log";
import type { MetricsRegistry } from "@cascade/common/metrics";
import { RegistryUnavailableError } from "@cascade/registry/errors";
import type { Registry } from "@cascade/registry/types";
import { authFailures, clientIpResolver } from "./auth.ts";
import type { ApiConfig } from "./config.ts";
import type { ApiContext } from "./context.ts";
import { renderDocsPage } from "./docs_page.ts";
import { PlaybackPlanner } from "./playback.ts";
import { playbackAccess } from "./playback_access.ts";
import { PublishGate } from "./publish.ts";
import { FailureLimiter } from "./rate_limit.ts";
import { adminRoute } from "./routes/admin_access.ts";
import { hooksApp } from "./routes/hooks.ts";
import { liveApp } from "./routes/live.ts";
import { playbackApp } from "./routes/playback.ts";
import { streamKeyApp } from "./routes/stream_key.ts";
import { streamRecordingsApp } from "./routes/stream_recordings.ts";
import { streamsApp } from "./routes/streams.ts";

export interface ApiDeps {
  registry: Registry;
  config: ApiConfig;
  log: Logger;
  metrics: MetricsRegistry;
  /** Clock in epoch milliseconds (default `Date.now`). */
  now?: () => number;
  /** Longest wait for one origin when listing recordings (default 2000 ms). */
  originTimeoutMs?: number;
}

/** Largest request body accepted. */
export const MAX_BODY_BYTES = 64 * 1024;

const VERSION = "1.0.0";

const WHERE: Record<string, string> = {
  json: "body field",
  form: "form field",
  query: "query parameter",
  param: "path parameter",
  header: "header",
};

/** One line naming the first invalid field, without echoing any submitted value. */
export function validationMessage(error: ZodError, target: string): string {
  const issue = error.issues[0];
  if (issue === undefined) return "Invalid request";
  if (issue.code === "unrecognized_keys") {
    return `Unknown ${WHERE[target] ?? target}: ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
  }
  const path = issue.path.map(String).join(".");
  const missing = issue.code === "invalid_type" && /received undefined$/.test(issue.message);
  const problem = missing ? "required" : issue.message;
  if (path === "") return `Invalid ${target === "json" ? "body" : target}: ${problem}`;
  return `Invalid ${WHERE[target] ?? target} "${path}": ${problem}`;
}

function validationHook(
  result: { success: boolean; error?: ZodError; target: string },
): void {
  if (!result.success && result.error !== undefined) {
    throw new HttpError(400, "invalid_request", validationMessage(result.error, result.target));
  }
}

/** Counts answers by route pattern and status, and times them; logs each at debug. */
function requestMetrics(log: Logger, metrics: MetricsRegistry): MiddlewareHandler {
  const requests = metrics.counter(
    "cascade_api_requests_total",
    "API answers, by route and status",
    ["route", "status"],
  );
  const seconds = metrics.histogram(
    "cascade_api_request_duration_seconds",
    "Time to answer API requests",
  );
  return async (c, next) => {
    const started = performance.now();
    await next();
    const elapsed = (performance.now() - started) / 1000;
    seconds.observe(elapsed);
    requests.labels(c.req.routePath, String(c.res.status)).inc();
    log.debug("http.request", {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round(elapsed * 1000),
    });
  };
}

/** Builds the API; see the module comment. */
export function createApiApp(deps: ApiDeps): OpenAPIHono {
  const { config, metrics } = deps;
  const log = deps.log.child({ role: "api" });
  const now = deps.now ?? Date.now;
  if (config.HOOK_TOKEN !== undefined && config.API_TRUSTED_ORIGINS === undefined) {
    log.warn("api.hook_token_to_every_origin", {
      hint: "set API_TRUSTED_ORIGINS to the origins' URL prefixes (docs/security.md)",
    });
  }
  const clientIp = clientIpResolver(config.TRUST_PROXY);
  const tokenLimiter = new FailureLimiter({
    limit: config.AUTH_FAILURE_LIMIT,
    windowMs: config.AUTH_FAILURE_WINDOW_SECONDS * 1000,
    now,
  });
  const ctx: ApiContext = {
    registry: deps.registry,
    config,
    log,
    metrics,
    now,
    clientIp,
    tokenLimiter,
    gate: new PublishGate({
      registry: deps.registry,
      log,
      metrics,
      limiter: new FailureLimiter({
        limit: config.AUTH_FAILURE_LIMIT,
        windowMs: config.AUTH_FAILURE_WINDOW_SECONDS * 1000,
        now,
      }),
    }),
    planner: new PlaybackPlanner({
      signingKey: config.PLAYBACK_SIGNING_KEY,
      tokenTtlSeconds: config.PLAYBACK_TOKEN_TTL_SECONDS,
      loadThreshold: config.EDGE_LOAD_THRESHOLD,
      now,
    }),
    playbackAccess: playbackAccess({
      signingKey: config.PLAYBACK_SIGNING_KEY,
      playbackToken: config.PLAYBACK_API_TOKEN,
      adminToken: config.API_ADMIN_TOKEN,
      limiter: tokenLimiter,
      clientIp,
      failures: authFailures(metrics),
    }),
    originTimeoutMs: deps.originTimeoutMs ?? 2000,
    baseUrl: (c: Context) => config.API_PUBLIC_URL ?? new URL(c.req.url).origin,
  };

  const app = new OpenAPIHono({ defaultHook: validationHook });
  app.onError((err, c) => {
    if (err instanceof RegistryUnavailableError) {
      log.warn("registry.unavailable", { method: c.req.method, path: c.req.path, error: err });
      return c.json(errorBody("unavailable", "Registry unavailable, try again shortly"), 503, {
        "Retry-After": "1",
      });
    }
    return jsonErrorHandler(err, c);
  });
  app.notFound(jsonNotFound);

  app.use("/api/v1/*", requestMetrics(log, metrics));
  app.use(
    "/api/v1/*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new HttpError(413, "payload_too_large", `Body larger than ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );
  if (config.CORS_ORIGIN !== "") {
    const publicCors = cors({
      origin: config.CORS_ORIGIN,
      allowMethods: ["GET", "OPTIONS"],
      allowHeaders: ["X-Viewer-Region"],
      maxAge: 600,
    });
    for (const path of ["/api/v1/live", "/api/v1/streams/:name/playback", "/api/v1/openapi.json"]) {
      app.use(path, publicCors);
    }
  }

  app.openAPIRegistry.registerComponent("securitySchemes", "adminToken", {
    type: "http",
    scheme: "bearer",
    description: "API_ADMIN_TOKEN as a bearer token",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "playbackToken", {
    type: "http",
    scheme: "bearer",
    description: "PLAYBACK_API_TOKEN as a bearer token: may only fetch signed playback URLs. " +
      "Needed by the playback routes when PLAYBACK_SIGNING_KEY is set (API_ADMIN_TOKEN works too)",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "hookToken", {
    type: "http",
    scheme: "bearer",
    description: "HOOK_TOKEN as a bearer token (nginx-rtmp hooks: the token query parameter)",
  });
  // One sub-app per resource; several share the `/api/v1/streams` prefix.
  const admin = adminRoute(ctx);
  app.route("/api/v1/streams", streamsApp(ctx, admin));
  app.route("/api/v1/streams", streamRecordingsApp(ctx, admin));
  app.route("/api/v1/streams", streamKeyApp(ctx, admin));
  app.route("/api/v1/hooks", hooksApp(ctx));
  app.route("/api/v1/live", liveApp(ctx));
  app.route("/api/v1/streams", playbackApp(ctx));

  let document: Record<string, unknown> | undefined;
  let page: string | undefined;
  const openApiDocument = () =>
    document ??= app.getOpenAPIDocument({
      openapi: "3.0.3",
      info: {
        title: "Cascade API",
        version: VERSION,
        description:
          "Stream keys, publish authorization, live directory, playback URLs and recordings.",
      },
    }) as unknown as Record<string, unknown>;
  app.get("/api/v1/openapi.json", (c) => c.json(openApiDocument()));
  app.get("/api/v1/docs", (c) => {
    page ??= renderDocsPage(openApiDocument());
    return c.html(page, 200, {
      "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    });
  });
  return app;
}
