/**
 * The public live directory, `GET /api/v1/live`: every stream live now with its origin,
 * start time, playback endpoint and HLS URLs chosen for this viewer (see `playback.ts`
 * for the viewer's region): `hls`, and `llhls` when the stream offers Low-Latency HLS. With
 * signed playback, only a caller allowed to be given signed URLs (`../playback_access.ts`)
 * gets them; anyone else gets `hls: null` and `llhls: null`, so the directory never hands
 * out a token. Each stream also carries what its origin measured of
 * the encoder, with warnings for settings to fix (`../encoder_view.ts`), and the origins
 * standing by to take it over (`standby`). Never cached: the
 * URLs carry fresh tokens.
 */
import { isRendition, renditionsBySource } from "@cascade/common/renditions";
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { type ApiContext, playbackEndpoint } from "../context.ts";
import { encoderView } from "../encoder_view.ts";
import { standbyByName } from "@cascade/registry/standby";
import { LiveList, PlaybackHeaders, playbackQuery } from "../schemas.ts";
import { PLAYBACK_SECURITY, viewerRegion } from "./playback.ts";
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
      description: "Each with its origin, start time, playback endpoint, an HLS URL (and a " +
        "Low-Latency HLS one, `llhls`, when its origin serves it), its live renditions " +
        "(`renditions`, rung names) with the multivariant playlists `master` and `llmaster` " +
        "that list them (renditions are not listed as streams of their own), the encoder's figures as " +
        "measured by the origin and warnings about its settings. When playback is signed " +
        "(PLAYBACK_SIGNING_KEY), `hls` and `llhls` are null for callers without a bearer " +
        "PLAYBACK_API_TOKEN or API_ADMIN_TOKEN: the list then carries no token.",
      security: PLAYBACK_SECURITY,
      request: {
        query: playbackQuery(ctx.config.PLAYBACK_TOKEN_MAX_TTL_SECONDS),
        headers: PlaybackHeaders,
      },
      responses: {
        200: { description: "Streams live now, by name", content: json(LiveList) },
        400: errorResponse("Invalid region or ttl"),
        401: errorResponse("A wrong token was presented"),
        429: errorResponse("Too many wrong tokens from this address"),
        503: errorResponse("Registry unreachable"),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const access = await ctx.playbackAccess(c);
      const region = viewerRegion(ctx, c, query.region, c.req.valid("header")["x-viewer-region"]);
      const [live, edges, origins] = await Promise.all([
        ctx.registry.listStreams(),
        ctx.registry.listNodes("edge"),
        ctx.registry.listNodes("origin"),
      ]);
      const standby = standbyByName(origins);
      // Renditions are listed on their source's entry, not as streams of their own.
      const rungs = renditionsBySource(live.map((s) => s.name));
      const sources = live.filter((s) => !isRendition(s.name));
      sources.sort((a, b) => a.name < b.name ? -1 : 1);
      const streams = await Promise.all(sources.map(async (stream) => {
        const renditions = rungs.get(stream.name) ?? [];
        const plan = access === "anonymous"
          ? null
          : await ctx.planner.plan(stream, edges, region, query.ttl, renditions.length > 0);
        return {
          name: stream.name,
          originId: stream.originId,
          startedAt: new Date(stream.startedAt).toISOString(),
          playbackUrl: playbackEndpoint(ctx, c, stream.name),
          hls: plan?.hls ?? null,
          llhls: plan?.llhls ?? null,
          master: plan?.master ?? null,
          llmaster: plan?.llmaster ?? null,
          renditions,
          standby: standby.get(stream.name) ?? [],
          ...encoderView(stream),
        };
      }));
      return c.json({ streams }, 200, NO_STORE);
    },
  );
  return app;
}
