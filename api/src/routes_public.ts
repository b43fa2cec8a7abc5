/**
 * The public routes: the live directory and per-viewer playback URLs. The viewer's region
 * comes from `?region=`, else `X-Viewer-Region`, else the client address through
 * `REGION_CIDRS`, else `DEFAULT_REGION`; `playback.ts` turns it into an edge. Answers carry
 * fresh tokens and per-client choices, so they are never cached.
 */
import type { Context } from "hono";
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import { HttpError } from "@cascade/common/http_errors";
import { type ApiContext, playbackEndpoint } from "./context.ts";
import {
  ErrorBody,
  LiveList,
  NameParams,
  Playback,
  PlaybackHeaders,
  PlaybackQuery,
} from "./schemas.ts";

const json = <T>(schema: T) => ({ "application/json": { schema } });
const error = (description: string) => ({ description, content: json(ErrorBody) });
const NO_STORE = { "Cache-Control": "no-store" };

/** Builds the public routes on `app`. */
export function registerPublicRoutes(app: OpenAPIHono, ctx: ApiContext): void {
  const { registry, config } = ctx;

  const viewerRegion = (
    c: Context,
    query: string | undefined,
    header: string | undefined,
  ): string | undefined => {
    if (query !== undefined) return query;
    if (header !== undefined) return header;
    const ip = ctx.clientIp(c);
    return (ip === "" ? undefined : config.REGION_CIDRS.lookup(ip)) ?? config.DEFAULT_REGION;
  };

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/live",
      tags: ["public"],
      summary: "Live streams",
      description: "Each with its origin, start time, playback endpoint and an HLS URL.",
      request: { query: PlaybackQuery, headers: PlaybackHeaders },
      responses: {
        200: { description: "Streams live now, by name", content: json(LiveList) },
        400: error("Invalid region"),
        503: error("Registry unreachable"),
      },
    }),
    async (c) => {
      const region = viewerRegion(
        c,
        c.req.valid("query").region,
        c.req.valid("header")["x-viewer-region"],
      );
      const [live, edges] = await Promise.all([
        registry.listStreams(),
        registry.listNodes("edge"),
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

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/streams/{name}/playback",
      tags: ["public"],
      summary: "Playback URL of a live stream for this viewer",
      description: "The edge is chosen by region, load and rendezvous hashing of the name.",
      request: { params: NameParams, query: PlaybackQuery, headers: PlaybackHeaders },
      responses: {
        200: { description: "Where to play", content: json(Playback) },
        400: error("Invalid name or region"),
        404: error("Not live"),
        503: error("Registry unreachable"),
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const region = viewerRegion(
        c,
        c.req.valid("query").region,
        c.req.valid("header")["x-viewer-region"],
      );
      const [stream, edges] = await Promise.all([
        registry.getStream(name),
        registry.listNodes("edge"),
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
}
