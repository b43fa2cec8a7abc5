/**
 * Serves finished recordings from `RECORD_DIR` as `GET|HEAD /{name}/{file}.mp4` (mounted
 * by the origin under `/recordings`), with byte ranges so players can seek. Only names that
 * match the stream-name rule and chunk files named by the recorder are served — never a
 * `.part`, a ledger, a symlink (`openRegularFile`), or anything outside the directory. A
 * finished file never changes, so it is cacheable; it may be deleted by retention later,
 * hence no `immutable`.
 *
 * `GET /{name}/` lists a stream's recordings as JSON `{name, recordings}` (see `api.ts`) with
 * absolute download URLs, for the API's `GET /api/v1/streams/{name}/recordings`, which asks
 * every origin because it cannot see their disks. With a `listToken` (the origin's
 * `HOOK_TOKEN`, shared with the API) the listing needs `Authorization: Bearer {token}`.
 */

import { join } from "node:path";
import { type Context, Hono } from "hono";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { HttpError, jsonErrorHandler, jsonNotFound } from "@cascade/common/http_errors";
import { safeEqual } from "@cascade/common/secrets";
import { fileSlice, notFoundError, openRegularFile, parseRange } from "@cascade/common/http_paths";
import type { Recording } from "./api.ts";
import { CHUNK_FILE_RE } from "./recorder.ts";

const BEARER_RE = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

export interface RecordingsAppDeps {
  dir: string;
  corsOrigin?: string;
  /** The recordings of a stream, for `GET /{name}/`; omitted → no listing route. */
  list?: (name: string) => Promise<Recording[]>;
  /** Bearer token the listing requires; unset → the listing is open. */
  listToken?: string;
}

/** A Hono app to mount with `app.route("/recordings", createRecordingsApp({ dir }))`. */
export function createRecordingsApp(deps: RecordingsAppDeps): Hono {
  const app = new Hono();
  const cors = deps.corsOrigin ?? "*";
  const list = deps.list;
  if (list !== undefined) {
    const listing = async (c: Context) => {
      await checkToken(c, deps.listToken);
      const name = c.req.param("name") ?? "";
      if (!STREAM_NAME_RE.test(name)) throw notFoundError();
      return c.json({ name, recordings: await list(name) }, 200, { "Cache-Control": "no-store" });
    };
    app.get("/:name/", listing);
    app.get("/:name", listing);
  }
  app.on(["GET", "HEAD"], "/:name/:file", async (c) => {
    const name = c.req.param("name");
    const file = c.req.param("file");
    if (!STREAM_NAME_RE.test(name) || !CHUNK_FILE_RE.test(file)) {
      throw notFoundError();
    }
    let fh: Deno.FsFile | null = null;
    try {
      let st: Deno.FileInfo;
      ({ file: fh, info: st } = await openRegularFile(join(deps.dir, name, file)));
      const size = st.size;
      const headers: Record<string, string> = {
        "Content-Type": "video/mp4",
        "Cache-Control": "public, max-age=3600",
        "Accept-Ranges": "bytes",
        "ETag": `"${(st.mtime?.getTime() ?? 0).toString(16)}-${size.toString(16)}"`,
      };
      if (cors !== "") headers["Access-Control-Allow-Origin"] = cors;
      const rangeHeader = c.req.header("Range");
      const range = rangeHeader === undefined ? null : parseRange(rangeHeader, size);
      if (range === "unsatisfiable") {
        throw new HttpError(
          416,
          "range_not_satisfiable",
          `Range not satisfiable: size is ${size}`,
          {
            headers: { "Content-Range": `bytes */${size}` },
          },
        );
      }
      const start = range?.start ?? 0;
      const length = range ? range.end - range.start + 1 : size;
      headers["Content-Length"] = String(length);
      if (range) headers["Content-Range"] = `bytes ${range.start}-${range.end}/${size}`;
      const status = range ? 206 : 200;
      if (c.req.method === "HEAD") return new Response(null, { status, headers });
      const body = range ? await fileSlice(fh, start, length) : fh.readable;
      fh = null;
      return new Response(body, { status, headers });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw notFoundError();
      throw err;
    } finally {
      fh?.close();
    }
  });
  app.onError(jsonErrorHandler);
  app.notFound(jsonNotFound);
  return app;
}

async function checkToken(c: Context, token: string | undefined): Promise<void> {
  if (token === undefined) return;
  const presented = BEARER_RE.exec(c.req.header("Authorization") ?? "")?.[1];
  if (presented === undefined || !(await safeEqual(presented, token))) {
    throw new HttpError(401, "unauthorized", "Listing recordings needs the hook token", {
      headers: { "WWW-Authenticate": 'Bearer realm="recordings"' },
    });
  }
}
