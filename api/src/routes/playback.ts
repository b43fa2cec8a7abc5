/**
 * Playback under `/api/v1/streams`: `GET /{name}/playback` answers where this viewer should
 * play a live stream. Open to anyone while playback is not signed; with a signing key, only
 * to the operator's backend (`../playback_access.ts`), which may choose the token's lifetime
 * with `?ttl=`. The viewer's region comes from `?region=`, else `X-Viewer-Region`, else the
 * client address through `REGION_CIDRS`, else `DEFAULT_REGION`; `../playback.ts` turns it
 * into an edge. Answers carry fresh tokens and per-client choices, so they are never cached.
 */
import type { Context } from "hono";
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { HttpError } from "@cascade/common/http_errors";
import { isRendition, renditionName, renditionsFit, RUNGS } from "@cascade/common/renditions";
import type { ApiContext } from "../context.ts";
import { signedLinkRequired } from "../playback_access.ts";
import { NameParams, Playback, PlaybackHeaders, playbackQuery } from "../schemas.ts";
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

/** True when a rendition of `name` (`{name}_{rung}`) is live: the master playlist lists it. */
async function hasLiveRendition(ctx: ApiContext, name: string): Promise<boolean> {
  if (isRendition(name)) return false;
  const records = await Promise.all(
    RUNGS.filter((r) => renditionsFit(name, [r])).map((r) =>
      ctx.registry.getStream(renditionName(name, r))
    ),
  );
  return records.some((r) => r !== null);
}

/** Who may call the playback routes, for their OpenAPI entries: anyone unless signed. */
export const PLAYBACK_SECURITY: Record<string, string[]>[] = [
  {},
  { playbackToken: [] },
  { adminToken: [] },
];

/** The playback route, to mount at `/api/v1/streams`. */
export function playbackApp(ctx: ApiContext): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(
    createRoute({
      method: "get",
      path: "/{name}/playback",
      tags: ["public"],
      summary: "Playback URL of a live stream for this viewer",
      description: "The edge is chosen by region, load and rendezvous hashing of the name. " +
        "Open to anyone unless playback is signed (PLAYBACK_SIGNING_KEY): then only a caller " +
        "with a bearer PLAYBACK_API_TOKEN or API_ADMIN_TOKEN (the operator's backend) gets an " +
        "answer, with HLS URLs whose `?token=` plays this stream only, until `expiresAt`. " +
        "`llhls` is the Low-Latency HLS playlist (`ll.m3u8`, fMP4 parts, blocking reload) on " +
        "the same edge with the same token, for players that support it (hls.js with " +
        "`lowLatencyMode`, Safari); null when the stream's origin serves none. `master` is " +
        "the multivariant playlist (`master.m3u8`: the source and its renditions) on the same " +
        "edge with the same token when the stream has live renditions (TRANSCODE_PROFILE), " +
        "else null; `llmaster` its Low-Latency twin (`ll_master.m3u8`: each rung's `ll.m3u8`), " +
        "when the stream also offers LL-HLS, else null.",
      security: PLAYBACK_SECURITY,
      request: {
        params: NameParams,
        query: playbackQuery(ctx.config.PLAYBACK_TOKEN_MAX_TTL_SECONDS),
        headers: PlaybackHeaders,
      },
      responses: {
        200: { description: "Where to play", content: json(Playback) },
        400: errorResponse("Invalid name, region or ttl"),
        401: errorResponse("Playback is signed and no token, or a wrong one, was presented"),
        404: errorResponse("Not live"),
        429: errorResponse("Too many wrong tokens from this address"),
        503: errorResponse("Registry unreachable, or no token configured to sign for"),
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const query = c.req.valid("query");
      const access = await ctx.playbackAccess(c);
      if (access === "anonymous") throw signedLinkRequired();
      const region = viewerRegion(ctx, c, query.region, c.req.valid("header")["x-viewer-region"]);
      const [stream, edges, renditions] = await Promise.all([
        ctx.registry.getStream(name),
        ctx.registry.listNodes("edge"),
        hasLiveRendition(ctx, name),
      ]);
      if (stream === null) throw new HttpError(404, "not_live", `Stream is not live: ${name}`);
      const plan = await ctx.planner.plan(stream, edges, region, query.ttl, renditions);
      return c.json(
        {
          name,
          live: true,
          region: region ?? null,
          hls: plan.hls,
          llhls: plan.llhls,
          master: plan.master,
          llmaster: plan.llmaster,
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
