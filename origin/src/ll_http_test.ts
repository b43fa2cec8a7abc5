/**
 * `llHlsRoutes` against a stand-in stream whose target duration is a few milliseconds, so the
 * three-target-duration limits of blocking requests run out at once: a reload that waits too
 * long is a 503, a hinted part that never comes a 404, a stream that goes away a 404, and
 * segments that left memory come from disk.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Hono } from "hono";
import { jsonErrorHandler } from "@cascade/common/http_errors";
import type { LlPosition } from "@cascade/media/hls/ll_blocking";
import { llHlsRoutes, type LlSource, type WaitOutcome } from "./ll_http.ts";

const encoder = new TextEncoder();

class FakeSource implements LlSource {
  partTarget = 0.333;
  /** 3 × 0.01 s: waits end after 30 ms. */
  targetDuration = 0.01;
  hint: string | undefined = "k1_p10.2.m4s";
  outcome: WaitOutcome | undefined;
  files = new Map<string, Uint8Array<ArrayBuffer>>();
  position(): LlPosition {
    return { sequence: 10, part: 2, ended: false, partsOf: () => 6 };
  }
  /** One object per playlist, as the packager keeps it until the next part. */
  readonly #full = encoder.encode("#EXTM3U\n");
  playlist(delta: boolean) {
    return delta ? encoder.encode("#EXTM3U\n#delta\n") : this.#full;
  }
  file(name: string) {
    return this.files.get(name);
  }
  wait(deadline: number, signal: AbortSignal): Promise<WaitOutcome> {
    if (this.outcome) return Promise.resolve(this.outcome);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve("aborted");
      });
    });
  }
}

async function setup() {
  const root = await Deno.makeTempDir({ prefix: "cascade-llhttp-" });
  const source = new FakeSource();
  const reports = [{ uri: "../cam_240p/ll.m3u8", lastMsn: 10, lastPart: 4 }];
  const app = new Hono();
  app.use(
    "/live/*",
    llHlsRoutes({
      mediaRoot: root,
      source: (n) => n === "cam" ? source : undefined,
      renditionReports: (n) => n === "cam" ? reports : [],
      masterPlaylist: (n) => n === "cam" ? "#EXTM3U\n#master\n" : undefined,
    }),
  );
  app.get("/live/*", (c) => c.text("next handler"));
  app.onError(jsonErrorHandler);
  return {
    root,
    source,
    reports,
    get: async (path: string, method = "GET") =>
      await app.request(`http://o/live/${path}`, { method }),
    async [Symbol.asyncDispose]() {
      await Deno.remove(root, { recursive: true });
    },
  };
}

Deno.test("llHlsRoutes: a reload still waiting after three target durations is a 503", async () => {
  await using t = await setup();
  const res = await t.get("cam/ll.m3u8?_HLS_msn=10&_HLS_part=2");
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.equal((await res.json()).error.code, "unavailable");
});

Deno.test("llHlsRoutes: a stream that goes away while waited on is a 404; an unknown one at once", async () => {
  await using t = await setup();
  t.source.outcome = "gone";
  assert.equal((await t.get("cam/ll.m3u8?_HLS_msn=11")).status, 404);
  assert.equal((await t.get("cam/k1_p10.2.m4s")).status, 404);
  assert.equal((await t.get("nope/ll.m3u8")).status, 404);
  assert.equal((await t.get("nope/k1_p1.0.m4s")).status, 404);
});

Deno.test("llHlsRoutes: the hinted part waits, then 404 when it never comes; others 404 at once", async () => {
  await using t = await setup();
  assert.equal((await t.get("cam/k1_p10.2.m4s")).status, 404);
  assert.equal((await t.get("cam/k1_p10.3.m4s")).status, 404);
  t.source.files.set("k1_p10.1.m4s", new Uint8Array([1, 2, 3]));
  const part = await t.get("cam/k1_p10.1.m4s");
  assert.equal(part.status, 200);
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), new Uint8Array([1, 2, 3]));
  const head = await t.get("cam/k1_p10.1.m4s", "HEAD");
  assert.equal(head.headers.get("content-length"), "3");
});

Deno.test("llHlsRoutes: answered directives are cacheable for 60 s, a delta update on _HLS_skip", async () => {
  await using t = await setup();
  const res = await t.get("cam/ll.m3u8?_HLS_msn=10&_HLS_part=1&_HLS_skip=YES&token=x");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "public, max-age=60");
  assert.equal(
    await res.text(),
    '#EXTM3U\n#delta\n#EXT-X-RENDITION-REPORT:URI="../cam_240p/ll.m3u8",LAST-MSN=10,LAST-PART=4\n',
  );
  const plain = await t.get("cam/ll.m3u8");
  assert.equal(plain.headers.get("cache-control"), "public, max-age=1");
});

Deno.test("llHlsRoutes: segments and init segments that left memory come from disk", async () => {
  await using t = await setup();
  await Deno.mkdir(join(t.root, "cam"));
  await Deno.writeFile(join(t.root, "cam", "k1_s3.m4s"), new Uint8Array(7));
  const res = await t.get("cam/k1_s3.m4s");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "video/mp4");
  assert.equal((await res.arrayBuffer()).byteLength, 7);
  assert.equal((await t.get("cam/k1_s4.m4s")).status, 404);
  assert.equal((await t.get("cam/k1_init.mp4")).status, 404);
  assert.equal(await (await t.get("cam/index.m3u8")).text(), "next handler");
  assert.equal((await t.get("bad%20name/ll.m3u8")).status, 400);
});

Deno.test("llHlsRoutes: ll.m3u8 ends in its siblings' rendition reports while live, not once ended", async () => {
  await using t = await setup();
  const report = '#EXT-X-RENDITION-REPORT:URI="../cam_240p/ll.m3u8",LAST-MSN=10,LAST-PART=4\n';
  const live = await t.get("cam/ll.m3u8");
  const text = await live.text();
  assert.equal(text, "#EXTM3U\n" + report);
  assert.equal(live.headers.get("content-length"), String(encoder.encode(text).byteLength));
  t.reports[0]!.lastPart = 5;
  assert.equal(
    await (await t.get("cam/ll.m3u8")).text(),
    "#EXTM3U\n" + report.replace("LAST-PART=4", "LAST-PART=5"),
    "the same playlist with a sibling's newer part",
  );
  t.source.position = () => ({ sequence: 10, part: 2, ended: true, partsOf: () => 6 });
  assert.equal(await (await t.get("cam/ll.m3u8")).text(), "#EXTM3U\n");
});

Deno.test("llHlsRoutes: ll_master.m3u8 is the deps' multivariant playlist, else a 404", async () => {
  await using t = await setup();
  const res = await t.get("cam/ll_master.m3u8");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/vnd.apple.mpegurl");
  assert.equal(res.headers.get("cache-control"), "public, max-age=1");
  assert.equal(await res.text(), "#EXTM3U\n#master\n");
  const other = await t.get("dog/ll_master.m3u8");
  assert.equal(other.status, 404);
  await other.body?.cancel();
});
