/**
 * Public playback under `/api/v1/streams`: `GET /{name}/playback` answers where this viewer
 * should play a live stream. The viewer's region comes from `?region=`, else
 * `X-Viewer-Region`, else the client address through `REGION_CIDRS`, else `DEFAULT_REGION`;
 * `../playback.ts` turns it into an edge. Answers carry fresh tokens and per-client choices,
 * so they are never cached.
 */
import type { Context } from "hono";
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { HttpError } from "@cascade/common/http_errors";
import type { ApiContext } from "../context.ts";
import { NameParams, Playback, PlaybackHeaders, PlaybackQuery } from "../schemas.ts";
import { errorResponse, json, NO_STORE } from "./responses.ts";

/** The region a viewer is taken to be in; see the module comment. */
export function viewerRegion(
  ctx: ApiContext,
  c: Context,
  query: string | undefined,
  header: string | undefined,
): string | undefined {
  if (query !== undefined) return query;
  if (header !== undefined) return header;
  const ip = ctx.clientIp(c);
  return (ip === "" ? undefined : ctx.config.REGION_CIDRS.lookup(ip)) ??
    ctx.config.DEFAULT_REGION;
}

/** The playback route, to mount at `/api/v1/streams`. */
export function playbackApp(ctx: ApiContext): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(
    createRoute({
      method: "get",
      path: "/{name}/playback",
      tags: ["public"],
      summary: "Playback URL of a live stream for this viewer",
      description: "The edge is chosen by region, load and rendezvous hashing of the name.",
      request: { params: NameParams, query: PlaybackQuery, headers: PlaybackHeaders },
      responses: {
        200: { description: "Where to play", content: json(Playback) },
        400: errorResponse("Invalid name or region"),
        404: errorResponse("Not live"),
        503: errorResponse("Registry unreachable"),
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const region = viewerRegion(
        ctx,
        c,
        c.req.valid("query").region,
        c.req.valid("header")["x-viewer-region"],
      );
      const [stream, edges] = await Promise.all([
        ctx.registry.getStream(name),
        ctx.registry.listNodes("edge"),
      ]);
      if (stream === null) throw new HttpError(404, "not_live", `Stream is not live: ${name}`);
      const plan = await ctx.planner.plan(stream, edges, region);
      return c.json(
        {
          name,
          live: true,
          region: region ?? null,
          hls: plan.hls,
          edges: plan.edges,
          expiresAt: plan.expiresAt === null ? null : new Date(plan.expiresAt).toISOString(),
        },
        200,
        NO_STORE,
      );
    },
  );
  return app;
}
