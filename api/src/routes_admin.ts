/**
 * The admin routes (`Authorization: Bearer API_ADMIN_TOKEN`): create streams with a fresh
 * key, list and inspect them, rotate the key, enable/disable, delete, and list a stream's
 * recordings across the origins (`recordings.ts`). A key appears only in
 * the create and rotate answers (marked `no-store`); the registry keeps its SHA-256.
 * Disabling or deleting a stream publishes `stream.kick`, which the origin serving it obeys.
 */
import type { Context } from "hono";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { HttpError } from "@cascade/common/http_errors";
import type { NodeRecord, StreamConfig, StreamRecord } from "@cascade/registry/types";
import { tokenGuard } from "./auth.ts";
import { type ApiContext, playbackEndpoint } from "./context.ts";
import { collectRecordings } from "./recordings.ts";
import {
  CreateStreamBody,
  ErrorBody,
  NameParams,
  RecordingList,
  Stream,
  StreamKeyGrant,
  StreamList,
  UpdateStreamBody,
} from "./schemas.ts";
import { generateStreamKey, hashStreamKey } from "./stream_keys.ts";

const json = <T>(schema: T) => ({ "application/json": { schema } });
const error = (description: string) => ({ description, content: json(ErrorBody) });

const AUTH_ERRORS = {
  401: error("Missing or wrong admin token"),
  429: error("Too many failed attempts from this address"),
  503: error("API_ADMIN_TOKEN not set, or the registry is unreachable"),
} as const;

const NO_STORE = { "Cache-Control": "no-store" };

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function notFound(name: string): HttpError {
  return new HttpError(404, "not_found", `Unknown stream: ${name}`);
}

/** Builds the admin routes on `app`. */
export function registerAdminRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  const { registry, log } = ctx;
  const guard = tokenGuard({
    token: ctx.config.API_ADMIN_TOKEN,
    variable: "API_ADMIN_TOKEN",
    source: "bearer",
    realm: "admin",
    limiter: ctx.tokenLimiter,
    clientIp: ctx.clientIp,
    failures: ctx.metrics.counter(
      "cascade_api_auth_failures_total",
      "Requests refused for a missing or wrong token, by realm",
      ["realm"],
    ),
  });
  const common = {
    middleware: guard,
    security: [{ adminToken: [] as string[] }],
    tags: ["admin"],
  };

  const view = (c: Context, cfg: StreamConfig, live: StreamRecord | null) => ({
    name: cfg.name,
    createdAt: iso(cfg.createdAt),
    disabled: cfg.disabled,
    record: cfg.record,
    live: live !== null,
    originId: live?.originId ?? null,
    startedAt: live === null ? null : iso(live.startedAt),
    playbackUrl: playbackEndpoint(ctx, c, cfg.name),
  });

  const grant = (c: Context, name: string, key: string, origins: NodeRecord[]) => {
    const bases = [...ctx.config.RTMP_INGEST_URLS];
    for (const origin of [...origins].sort((a, b) => a.id < b.id ? -1 : 1)) {
      if (origin.rtmpUrl) bases.push(origin.rtmpUrl.replace(/\/+$/, ""));
    }
    return {
      name,
      streamKey: key,
      ingestUrls: [...new Set(bases)].map((base) => `${base}/${key}`),
      playbackUrl: playbackEndpoint(ctx, c, name),
    };
  };

  const existing = async (name: string): Promise<StreamConfig> => {
    const cfg = await registry.getStreamConfig(name);
    if (cfg === null) throw notFound(name);
    return cfg;
  };

  app.openapi(
    createRoute({
      ...common,
      method: "post",
      path: "/api/v1/streams",
      summary: "Create a stream and its key",
      description: "The key is in this answer only; store it now.",
      request: { body: { required: true, content: json(CreateStreamBody) } },
      responses: {
        201: { description: "Created", content: json(StreamKeyGrant) },
        400: error("Invalid body"),
        409: error("A stream of that name exists"),
        ...AUTH_ERRORS,
      },
    }),
    async (c) => {
      const body = c.req.valid("json");
      // Ask for the origins first: if the registry is down, no key is made and lost.
      const origins = await registry.listNodes("origin");
      const key = generateStreamKey();
      const result = await registry.putStreamConfig({
        name: body.name,
        keyHash: await hashStreamKey(key),
        createdAt: ctx.now(),
        disabled: false,
        record: body.record,
      }, { onlyIfAbsent: true });
      if (result === "exists") {
        throw new HttpError(409, "conflict", `Stream already exists: ${body.name}`);
      }
      if (result === "key-in-use") throw new Error("Generated stream key collided");
      log.info("stream.created", { stream: body.name, record: body.record });
      return c.json(grant(c, body.name, key, origins), 201, {
        ...NO_STORE,
        Location: `/api/v1/streams/${body.name}`,
      });
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: "get",
      path: "/api/v1/streams",
      summary: "List streams",
      responses: {
        200: { description: "Every stream", content: json(StreamList) },
        ...AUTH_ERRORS,
      },
    }),
    async (c) => {
      const [configs, live] = await Promise.all([
        registry.listStreamConfigs(),
        registry.listStreams(),
      ]);
      const byName = new Map(live.map((s) => [s.name, s]));
      const streams = configs
        .sort((a, b) => a.name < b.name ? -1 : 1)
        .map((cfg) => view(c, cfg, byName.get(cfg.name) ?? null));
      return c.json({ streams }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: "get",
      path: "/api/v1/streams/{name}",
      summary: "Show a stream",
      request: { params: NameParams },
      responses: {
        200: { description: "The stream", content: json(Stream) },
        400: error("Invalid name"),
        404: error("Unknown stream"),
        ...AUTH_ERRORS,
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const [cfg, live] = await Promise.all([existing(name), registry.getStream(name)]);
      return c.json(view(c, cfg, live), 200);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: "get",
      path: "/api/v1/streams/{name}/recordings",
      summary: "List a stream's recordings",
      description: "Asks every live origin at once. Origins that do not answer in time are " +
        "named in `unreachable`, and the list is then `partial`.",
      request: { params: NameParams },
      responses: {
        200: { description: "Recorded chunks, oldest first", content: json(RecordingList) },
        400: error("Invalid name"),
        404: error("Unknown stream"),
        ...AUTH_ERRORS,
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const [, origins] = await Promise.all([existing(name), registry.listNodes("origin")]);
      const { recordings, unreachable } = await collectRecordings(origins, name, {
        token: ctx.config.HOOK_TOKEN,
        timeoutMs: ctx.originTimeoutMs,
        log,
      });
      const partial = unreachable.length > 0;
      return c.json({ name, recordings, partial, unreachable }, 200, NO_STORE);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: "post",
      path: "/api/v1/streams/{name}/rotate-key",
      summary: "Replace the stream key",
      description: "The old key is refused from the next publish on; a live publisher continues.",
      request: { params: NameParams },
      responses: {
        200: { description: "The new key", content: json(StreamKeyGrant) },
        400: error("Invalid name"),
        404: error("Unknown stream"),
        ...AUTH_ERRORS,
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const [cfg, origins] = await Promise.all([existing(name), registry.listNodes("origin")]);
      const key = generateStreamKey();
      const result = await registry.putStreamConfig({ ...cfg, keyHash: await hashStreamKey(key) });
      if (result === "key-in-use") throw new Error("Generated stream key collided");
      log.info("stream.key_rotated", { stream: name });
      return c.json(grant(c, name, key, origins), 200, NO_STORE);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: "patch",
      path: "/api/v1/streams/{name}",
      summary: "Enable, disable or change recording",
      description: "Disabling kicks a live publisher; its key is refused until enabled again.",
      request: {
        params: NameParams,
        body: { required: true, content: json(UpdateStreamBody) },
      },
      responses: {
        200: { description: "The stream", content: json(Stream) },
        400: error("Invalid name or body"),
        404: error("Unknown stream"),
        ...AUTH_ERRORS,
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const changes = c.req.valid("json");
      const cfg = await existing(name);
      const next: StreamConfig = {
        ...cfg,
        disabled: changes.disabled ?? cfg.disabled,
        record: changes.record ?? cfg.record,
      };
      await registry.putStreamConfig(next);
      log.info("stream.updated", { stream: name, disabled: next.disabled, record: next.record });
      // Kick whenever disabled is asked for: a publish allowed just before this change
      // may not be visible as live yet, and a kick of a stream that is not live is harmless.
      if (changes.disabled === true) await kick(ctx, name);
      return c.json(view(c, next, await registry.getStream(name)), 200);
    },
  );

  app.openapi(
    createRoute({
      ...common,
      method: "delete",
      path: "/api/v1/streams/{name}",
      summary: "Delete a stream and its key",
      description: "A live publisher is kicked.",
      request: { params: NameParams },
      responses: {
        204: { description: "Deleted" },
        400: error("Invalid name"),
        404: error("Unknown stream"),
        ...AUTH_ERRORS,
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      if (!(await registry.deleteStreamConfig(name))) throw notFound(name);
      log.info("stream.deleted", { stream: name });
      await kick(ctx, name);
      return c.body(null, 204);
    },
  );
}

async function kick(ctx: ApiContext, name: string): Promise<void> {
  await ctx.registry.kickStream(name);
  ctx.log.info("stream.kick_sent", { stream: name });
}
