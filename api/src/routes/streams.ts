/**
 * Streams as an admin resource under `/api/v1/streams`: create one with a fresh key, list
 * and inspect them, enable/disable or change recording, delete. Disabling or deleting a
 * stream publishes `stream.kick`, which the origin serving it obeys. The key itself is the
 * `stream_key.ts` resource; a stream's view never carries it.
 */
import type { Context } from "hono";
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { HttpError } from "@cascade/common/http_errors";
import type { StreamConfig, StreamRecord } from "@cascade/registry/types";
import { type ApiContext, playbackEndpoint } from "../context.ts";
import { encoderView } from "../encoder_view.ts";
import { standbyByName } from "@cascade/registry/standby";
import {
  CreateStreamBody,
  NameParams,
  Stream,
  StreamKeyGrant,
  StreamList,
  UpdateStreamBody,
} from "../schemas.ts";
import { generateStreamKey, hashStreamKey } from "../stream_keys.ts";
import {
  type AdminRoute,
  AUTH_ERRORS,
  existingStream,
  STREAM_ERRORS,
  unknownStream,
} from "./admin_access.ts";
import { errorResponse, json, NO_STORE } from "./responses.ts";
import { keyGrant } from "./stream_key.ts";

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * A stream as the admin routes show it: its settings, whether it is live where, and while
 * live what its origin measured of the encoder.
 */
function streamView(
  ctx: ApiContext,
  c: Context,
  cfg: StreamConfig,
  live: StreamRecord | null,
  standby: Map<string, string[]>,
) {
  return {
    name: cfg.name,
    createdAt: iso(cfg.createdAt),
    disabled: cfg.disabled,
    record: cfg.record,
    transcode: cfg.transcode ?? null,
    live: live !== null,
    originId: live?.originId ?? null,
    startedAt: live === null ? null : iso(live.startedAt),
    playbackUrl: playbackEndpoint(ctx, c, cfg.name),
    standby: live === null ? [] : standby.get(cfg.name) ?? [],
    ...encoderView(live),
  };
}

async function kick(ctx: ApiContext, name: string): Promise<void> {
  await ctx.registry.kickStream(name);
  ctx.log.info("stream.kick_sent", { stream: name });
}

/** The stream routes, to mount at `/api/v1/streams`. */
export function streamsApp(ctx: ApiContext, admin: AdminRoute): OpenAPIHono {
  const { registry, log } = ctx;
  const app = new OpenAPIHono();

  app.openapi(
    createRoute({
      ...admin,
      method: "post",
      path: "/",
      summary: "Create a stream and its key",
      description: "The key is in this answer only; store it now.",
      request: { body: { required: true, content: json(CreateStreamBody) } },
      responses: {
        201: { description: "Created", content: json(StreamKeyGrant) },
        400: errorResponse("Invalid body"),
        409: errorResponse("A stream of that name exists"),
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
        ...(body.transcode !== undefined ? { transcode: body.transcode } : {}),
      }, { onlyIfAbsent: true });
      if (result === "exists") {
        throw new HttpError(409, "conflict", `Stream already exists: ${body.name}`);
      }
      if (result === "key-in-use") throw new Error("Generated stream key collided");
      log.info("stream.created", { stream: body.name, record: body.record });
      return c.json(keyGrant(ctx, c, body.name, key, origins), 201, {
        ...NO_STORE,
        Location: `/api/v1/streams/${body.name}`,
      });
    },
  );

  app.openapi(
    createRoute({
      ...admin,
      method: "get",
      path: "/",
      summary: "List streams",
      responses: {
        200: { description: "Every stream", content: json(StreamList) },
        ...AUTH_ERRORS,
      },
    }),
    async (c) => {
      const [configs, live, origins] = await Promise.all([
        registry.listStreamConfigs(),
        registry.listStreams(),
        registry.listNodes("origin"),
      ]);
      const byName = new Map(live.map((s) => [s.name, s]));
      const standby = standbyByName(origins);
      const streams = configs
        .sort((a, b) => a.name < b.name ? -1 : 1)
        .map((cfg) => streamView(ctx, c, cfg, byName.get(cfg.name) ?? null, standby));
      return c.json({ streams }, 200);
    },
  );

  app.openapi(
    createRoute({
      ...admin,
      method: "get",
      path: "/{name}",
      summary: "Show a stream",
      request: { params: NameParams },
      responses: {
        200: { description: "The stream", content: json(Stream) },
        ...STREAM_ERRORS,
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const [cfg, live, origins] = await Promise.all([
        existingStream(ctx, name),
        registry.getStream(name),
        registry.listNodes("origin"),
      ]);
      return c.json(streamView(ctx, c, cfg, live, standbyByName(origins)), 200);
    },
  );

  app.openapi(
    createRoute({
      ...admin,
      method: "patch",
      path: "/{name}",
      summary: "Enable, disable or change recording or transcoding",
      description: "Disabling kicks a live publisher; its key is refused until enabled again.",
      request: {
        params: NameParams,
        body: { required: true, content: json(UpdateStreamBody) },
      },
      responses: {
        200: { description: "The stream", content: json(Stream) },
        ...STREAM_ERRORS,
        400: errorResponse("Invalid name or body"),
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const changes = c.req.valid("json");
      const cfg = await existingStream(ctx, name);
      const { transcode: _, ...rest } = cfg;
      const transcode = changes.transcode === undefined ? cfg.transcode : changes.transcode;
      const next: StreamConfig = {
        ...rest,
        disabled: changes.disabled ?? cfg.disabled,
        record: changes.record ?? cfg.record,
        ...(transcode !== null && transcode !== undefined ? { transcode } : {}),
      };
      await registry.putStreamConfig(next);
      log.info("stream.updated", { stream: name, disabled: next.disabled, record: next.record });
      // Kick whenever disabled is asked for: a publish allowed just before this change
      // may not be visible as live yet, and a kick of a stream that is not live is harmless.
      if (changes.disabled === true) await kick(ctx, name);
      const [live, origins] = await Promise.all([
        registry.getStream(name),
        registry.listNodes("origin"),
      ]);
      return c.json(streamView(ctx, c, next, live, standbyByName(origins)), 200);
    },
  );

  app.openapi(
    createRoute({
      ...admin,
      method: "delete",
      path: "/{name}",
      summary: "Delete a stream and its key",
      description: "A live publisher is kicked.",
      request: { params: NameParams },
      responses: {
        204: { description: "Deleted" },
        ...STREAM_ERRORS,
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      if (!(await registry.deleteStreamConfig(name))) throw unknownStream(name);
      log.info("stream.deleted", { stream: name });
      await kick(ctx, name);
      return c.body(null, 204);
    },
  );

  return app;
}
