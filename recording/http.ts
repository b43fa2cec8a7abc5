/**
 * Serves finished recordings from `RECORD_DIR` as `GET|HEAD /{name}/{file}.mp4` (mounted
 * by the origin under `/recordings`), with byte ranges so players can seek. Only names that
 * match the stream-name rule and chunk files named by the recorder are served — never a
 * `.part`, a ledger, or anything outside the directory. A finished file never changes, so
 * it is cacheable; it may be deleted by retention later, hence no `immutable`.
 */

import { join } from "node:path";
import { Hono } from "hono";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { HttpError, jsonErrorHandler, jsonNotFound } from "@cascade/common/http_errors";
import { parseRange } from "../origin/src/http.ts";
import { CHUNK_FILE_RE } from "./recorder.ts";

const SLICE_CHUNK = 64 * 1024;

/** A Hono app to mount with `app.route("/recordings", createRecordingsApp({ dir }))`. */
export function createRecordingsApp(deps: { dir: string; corsOrigin?: string }): Hono {
  const app = new Hono();
  const cors = deps.corsOrigin ?? "*";
  app.on(["GET", "HEAD"], "/:name/:file", async (c) => {
    const name = c.req.param("name");
    const file = c.req.param("file");
    if (!STREAM_NAME_RE.test(name) || !CHUNK_FILE_RE.test(file)) {
      throw new HttpError(404, "not_found", "Not found");
    }
    let fh: Deno.FsFile | null = null;
    try {
      fh = await Deno.open(join(deps.dir, name, file), { read: true });
      const st = await fh.stat();
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
      const body = range ? await slice(fh, start, length) : fh.readable;
      fh = null;
      return new Response(body, { status, headers });
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw new HttpError(404, "not_found", "Not found");
      throw err;
    } finally {
      fh?.close();
    }
  });
  app.onError(jsonErrorHandler);
  app.notFound(jsonNotFound);
  return app;
}

/** Streams `length` bytes from `start`, then closes the file. */
async function slice(
  fh: Deno.FsFile,
  start: number,
  length: number,
): Promise<ReadableStream<Uint8Array>> {
  await fh.seek(start, Deno.SeekMode.Start);
  let left = length;
  const close = () => {
    try {
      fh.close();
    } catch { /* closed */ }
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const buf = new Uint8Array(Math.min(SLICE_CHUNK, left));
        const n = await fh.read(buf);
        if (n === null) throw new RangeError(`Cannot stream range: file ended ${left} bytes early`);
        left -= n;
        controller.enqueue(buf.subarray(0, n));
        if (left === 0) {
          close();
          controller.close();
        }
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    cancel: close,
  });
}
