/**
 * A stream's recordings as an admin resource: `GET /api/v1/streams/{name}/recordings` lists
 * the chunks every live origin holds (`../recordings.ts` asks them), naming the origins that
 * did not answer.
 */
import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { ApiContext } from "../context.ts";
import { collectRecordings } from "../recordings.ts";
import { NameParams, RecordingList } from "../schemas.ts";
import { type AdminRoute, existingStream, STREAM_ERRORS } from "./admin_access.ts";
import { json, NO_STORE } from "./responses.ts";

/** The recordings route, to mount at `/api/v1/streams`. */
export function streamRecordingsApp(ctx: ApiContext, admin: AdminRoute): OpenAPIHono {
  const app = new OpenAPIHono();
  app.openapi(
    createRoute({
      ...admin,
      method: "get",
      path: "/{name}/recordings",
      summary: "List a stream's recordings",
      description: "Asks every live origin at once. Origins that do not answer in time are " +
        "named in `unreachable`, and the list is then `partial`.",
      request: { params: NameParams },
      responses: {
        200: { description: "Recorded chunks, oldest first", content: json(RecordingList) },
        ...STREAM_ERRORS,
      },
    }),
    async (c) => {
      const { name } = c.req.valid("param");
      const [, origins] = await Promise.all([
        existingStream(ctx, name),
        ctx.registry.listNodes("origin"),
      ]);
      const { recordings, unreachable } = await collectRecordings(origins, name, {
        token: ctx.config.HOOK_TOKEN,
        trustedOrigins: ctx.config.API_TRUSTED_ORIGINS,
        timeoutMs: ctx.originTimeoutMs,
        log: ctx.log,
      });
      const partial = unreachable.length > 0;
      return c.json({ name, recordings, partial, unreachable }, 200, NO_STORE);
    },
  );
  return app;
}
