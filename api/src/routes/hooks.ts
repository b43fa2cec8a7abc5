/**
 * The publish hooks under `/api/v1/hooks` (docs/architecture.md, "Service hooks"). Cascade
 * origins POST JSON `{app, key, clientIp, originId}` with `Authorization: Bearer HOOK_TOKEN`
 * and get `200 {name}` or `403 {error}`. nginx-rtmp's `on_publish` POSTs its form (`name` is
 * the key, `addr` the publisher) with the token in the query and gets a `302` whose
 * `Location` renames the stream — `{relay}/{name}` makes nginx-rtmp push it to a local HLS
 * application, since a plain rename does not rename nginx-rtmp's HLS output — or a `403`.
 * `on_publish_done` is accepted; its `name` may be a key, so it is not logged.
 */
import type { Context } from "hono";
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { HttpError } from "@cascade/common/http_errors";
import { authFailures, tokenGuard } from "../auth.ts";
import type { ApiContext } from "../context.ts";
import type { PublishVerdict } from "../publish.ts";
import {
  NginxDoneForm,
  NginxPublishForm,
  NginxQuery,
  PublishHookAllowed,
  PublishHookBody,
} from "../schemas.ts";
import { errorResponse, form, json } from "./responses.ts";

const HOOK_ERRORS = {
  400: errorResponse("Invalid body"),
  401: errorResponse("Missing or wrong HOOK_TOKEN"),
  403: errorResponse("Unknown key or disabled stream"),
  429: errorResponse("Too many failed attempts from this address"),
  503: errorResponse("HOOK_TOKEN not set, or the registry is unreachable"),
} as const;

function refusal(verdict: Exclude<PublishVerdict, { ok: true }>): HttpError {
  const headers = verdict.retryAfter === undefined
    ? undefined
    : { "Retry-After": String(verdict.retryAfter) };
  return new HttpError(verdict.status, verdict.code, verdict.message, { headers });
}

function redirect(c: Context, location: string): Response {
  c.header("Cache-Control", "no-store");
  return c.redirect(location, 302);
}

/** The hook routes, to mount at `/api/v1/hooks`. */
export function hooksApp(ctx: ApiContext): OpenAPIHono {
  const failures = authFailures(ctx.metrics);
  const guard = (source: "bearer" | "query") =>
    tokenGuard({
      token: ctx.config.HOOK_TOKEN,
      variable: "HOOK_TOKEN",
      source,
      realm: "hooks",
      limiter: ctx.tokenLimiter,
      clientIp: ctx.clientIp,
      failures,
    });
  const app = new OpenAPIHono();

  app.openapi(
    createRoute({
      method: "post",
      path: "/publish",
      tags: ["hooks"],
      summary: "Authorize a publish (Cascade origins)",
      middleware: guard("bearer"),
      security: [{ hookToken: [] }],
      request: { body: { required: true, content: json(PublishHookBody) } },
      responses: {
        200: { description: "Allowed, under this name", content: json(PublishHookAllowed) },
        ...HOOK_ERRORS,
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const verdict = await ctx.gate.check({
        key: body.key,
        clientIp: body.clientIp,
        originId: body.originId,
        via: "hook",
      });
      if (!verdict.ok) throw refusal(verdict);
      return c.json({ name: verdict.name, record: verdict.record }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/nginx/on_publish",
      tags: ["hooks"],
      summary: "Authorize a publish (nginx-rtmp on_publish)",
      description: "Answers 302 with Location `{relay}/{name}`, or `{name}` without relay.",
      middleware: guard("query"),
      request: {
        query: NginxQuery,
        body: { required: true, content: form(NginxPublishForm) },
      },
      responses: {
        302: {
          description: "Allowed: rename (or relay) to the public name",
          headers: { Location: { schema: { type: "string" } } },
        },
        ...HOOK_ERRORS,
      },
    }),
    async (c) => {
      const { relay } = c.req.valid("query");
      const body = c.req.valid("form");
      const verdict = await ctx.gate.check({
        key: body.name,
        clientIp: body.addr ?? "",
        via: "nginx",
      });
      if (!verdict.ok) throw refusal(verdict);
      const location = relay === undefined
        ? verdict.name
        : `${relay.replace(/\/+$/, "")}/${verdict.name}`;
      return redirect(c, location);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/nginx/on_publish_done",
      tags: ["hooks"],
      summary: "Acknowledge the end of a publish (nginx-rtmp on_publish_done)",
      middleware: guard("query"),
      request: {
        query: NginxQuery,
        body: { required: false, content: form(NginxDoneForm) },
      },
      responses: {
        200: { description: "Acknowledged" },
        401: HOOK_ERRORS[401],
        429: HOOK_ERRORS[429],
        503: HOOK_ERRORS[503],
      },
    }),
    (c) => c.body(null, 200),
  );

  return app;
}
