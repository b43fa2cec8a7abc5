/**
 * A stream's key as an admin resource: `POST /api/v1/streams/{name}/rotate-key` replaces it,
 * and `keyGrant` shapes the one answer a key ever appears in (here and at creation, both
 * marked `no-store`); the registry keeps only its SHA-256. The ingest URLs list
 * `RTMP_INGEST_URLS` first, then every origin's own RTMP URL.
 */
import type { Context } from "hono";
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { NodeRecord } from "@cascade/registry/types";
import { type ApiContext, playbackEndpoint } from "../context.ts";
import { NameParams, StreamKeyGrant } from "../schemas.ts";
import { generateStreamKey, hashStreamKey } from "../stream_keys.ts";
import { type AdminRoute, existingStream, STREAM_ERRORS } from "./admin_access.ts";
import { json, NO_STORE } from "./responses.ts";

/** The answer that hands `key` out, with where to publish it and where it plays. */
export function keyGrant(
  ctx: ApiContext,
  c: Context,
  name: string,
  key: string,
  origins: NodeRecord[],
) {
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
}

/** The key routes, to mount at `/api/v1/streams`. */
export function streamKeyApp(ctx: ApiContext, admin: AdminRoute): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(
    createRoute({
      ...admin,
      method: "post",
      path: "/{name}/rotate-key",
      summary: "Replace the stream key",
      description: "The old key is refused from the next publish on; a live publisher continues.",
      request: { params: NameParams },
      responses: {
        200: { description: "The new key", content: json(StreamKeyGrant) },
        ...STREAM_ERRORS,
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const [cfg, origins] = await Promise.all([
        existingStream(ctx, name),
        ctx.registry.listNodes("origin"),
      ]);
      const key = generateStreamKey();
      const result = await ctx.registry.putStreamConfig({
        ...cfg,
        keyHash: await hashStreamKey(key),
      });
      if (result === "key-in-use") throw new Error("Generated stream key collided");
      ctx.log.info("stream.key_rotated", { stream: name });
      return c.json(keyGrant(ctx, c, name, key, origins), 200, NO_STORE);
    },
  );
  return app;
}
