/**
 * The public live directory, `GET /api/v1/live`: every stream live now with its origin,
 * start time, playback endpoint and an HLS URL chosen for this viewer (see `playback.ts`
 * for the viewer's region). Never cached: the URLs carry fresh tokens.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { type ApiContext, playbackEndpoint } from "../context.ts";
import { LiveList, PlaybackHeaders, PlaybackQuery } from "../schemas.ts";
import { viewerRegion } from "./playback.ts";
import { errorResponse, json, NO_STORE } from "./responses.ts";

/** The live directory, to mount at `/api/v1/live`. */
export function liveApp(ctx: ApiContext): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(
    createRoute({
      method: "get",
      path: "/",
      tags: ["public"],
      summary: "Live streams",
      description: "Each with its origin, start time, playback endpoint and an HLS URL.",
      request: { query: PlaybackQuery, headers: PlaybackHeaders },
      responses: {
        200: { description: "Streams live now, by name", content: json(LiveList) },
        400: errorResponse("Invalid region"),
        503: errorResponse("Registry unreachable"),
      },
    }),
    async (c) => {
      const region = viewerRegion(
        ctx,
        c,
        c.req.valid("query").region,
        c.req.valid("header")["x-viewer-region"],
      );
      const [live, edges] = await Promise.all([
        ctx.registry.listStreams(),
        ctx.registry.listNodes("edge"),
      ]);
      live.sort((a, b) => a.name < b.name ? -1 : 1);
      const streams = await Promise.all(live.map(async (stream) => ({
        name: stream.name,
        originId: stream.originId,
        startedAt: new Date(stream.startedAt).toISOString(),
        playbackUrl: playbackEndpoint(ctx, c, stream.name),
        hls: (await ctx.planner.plan(stream, edges, region)).hls,
      })));
      return c.json({ streams }, 200, NO_STORE);
    },
  );
  return app;
}
