/**
 * The API's recordings endpoint, `GET /api/v1/streams/{name}/recordings`, against real
 * origin listeners: each serves `/recordings` from a temporary `RECORD_DIR` with the
 * recording service's own listing and download routes, beside origins that refuse, never
 * answer or answer garbage. Run over `MemoryRegistry` and a real redis-server, like the
 * other endpoint cases (`api/testing/`). The recording service is imported here, in a test,
 * so that nothing under `api/` depends on it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Hono } from "hono";
import { configureLogging } from "@cascade/common/log";
import { box, ftyp, mvhd } from "@cascade/media/mp4/boxes";
import {
  type ApiCase,
  expectError,
  HOOK_TOKEN,
  ORIGIN_TIMEOUT_MS,
  START,
} from "../api/testing/harness.ts";
import { logText } from "../api/testing/log_text.ts";
import { apiSuite, memoryBackend, redisBackend } from "../api/testing/suite.ts";
import { listRecordings } from "../recording/api.ts";
import { createRecordingsApp } from "../recording/http.ts";

configureLogging({ level: "error" });

/** A recording chunk as the recorder names it, with an `mvhd` saying how long it lasts. */
function chunk(seconds: number): Uint8Array {
  const head = mvhd({
    created: new Date(START),
    timescale: 1000,
    duration: seconds * 1000,
    nextTrackId: 2,
  });
  const moov = box("moov", head);
  const out = new Uint8Array(ftyp().length + moov.length);
  out.set(ftyp());
  out.set(moov, ftyp().length);
  return out;
}

interface RecordingsOrigin extends AsyncDisposable {
  url: string;
  dir: string;
}

/**
 * A real origin HTTP listener serving `/recordings` from a temporary `RECORD_DIR` holding
 * `files` (`{name}/{file}` → seconds), with the origin's own listing and download routes.
 */
async function recordingsOrigin(
  files: Record<string, number>,
  listToken?: string,
): Promise<RecordingsOrigin> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-api-rec-" });
  for (const [path, seconds] of Object.entries(files)) {
    await Deno.mkdir(join(dir, path.split("/")[0]!), { recursive: true });
    await Deno.writeFile(join(dir, path), chunk(seconds));
  }
  let url = "";
  const app = new Hono();
  app.route(
    "/recordings",
    createRecordingsApp({
      dir,
      list: (name) => listRecordings(dir, name, { baseUrl: url }),
      listToken,
    }),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    dir,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** An origin whose every answer is `body` with status 200: not a listing. */
function confusedOrigin(body: string): AsyncDisposable & { url: string } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body, { headers: { "Content-Type": "application/json" } }),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** An address that accepts connections and never answers, like a wedged origin. */
function silentOrigin(): AsyncDisposable & { url: string } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* closed */ }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) conn.close();
      await accepting;
    },
  };
}

/** An origin whose listing is empty and that keeps the `Authorization` header of each request. */
function spyOrigin(): AsyncDisposable & { url: string; presented: (string | null)[] } {
  const presented: (string | null)[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    presented.push(req.headers.get("authorization"));
    return Response.json({ name: "cam1", recordings: [] });
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    presented,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

const recordingCases: ApiCase[] = [
  ["GET /streams/{name}/recordings presents HOOK_TOKEN only to API_TRUSTED_ORIGINS", async (h) => {
    await using trusted = spyOrigin();
    await using other = spyOrigin();
    await h.node("origin", "trusted", { url: `${trusted.url}/` });
    await h.node("origin", "other", { url: other.url });
    await h.create("cam1");
    // Unset: every registered origin gets the token, and the API said so once at start.
    assert.equal(h.log.events("api.hook_token_to_every_origin").length, 1);
    assert.equal((await h.call("/api/v1/streams/cam1/recordings")).status, 200);
    assert.deepEqual([trusted.presented, other.presented], [
      [`Bearer ${HOOK_TOKEN}`],
      [`Bearer ${HOOK_TOKEN}`],
    ]);

    h.configure({ API_TRUSTED_ORIGINS: `${trusted.url}/` });
    assert.equal(h.log.events("api.hook_token_to_every_origin").length, 1);
    const res = await h.call("/api/v1/streams/cam1/recordings");
    assert.equal(res.status, 200);
    // The other origin is still asked, without the token (its listing here is open).
    assert.deepEqual((await res.json()).unreachable, []);
    assert.deepEqual(trusted.presented.slice(1), [`Bearer ${HOOK_TOKEN}`]);
    assert.deepEqual(other.presented.slice(1), [null]);
  }],

  ["GET /streams/{name}/recordings merges every origin's chunks with download URLs", async (h) => {
    const a1 = "2026-01-15T08-00-00.000Z-1.mp4";
    const a2 = "2026-01-15T08-00-00.000Z-2.mp4";
    const b1 = "2026-01-15T09-30-00.000Z-1.mp4";
    await using o1 = await recordingsOrigin({
      [`cam1/${a2}`]: 4.5,
      [`cam1/${b1}`]: 7,
      [`cam2/${a1}`]: 1,
    });
    // The second origin guards its listing with HOOK_TOKEN, which the API presents.
    await using o2 = await recordingsOrigin({ [`cam1/${a1}`]: 15 }, HOOK_TOKEN);
    await h.node("origin", "o1", { url: o1.url });
    await h.node("origin", "o2", { url: `${o2.url}/` });
    await h.node("edge", "e1", { url: "http://127.0.0.1:1" });
    await h.create("cam1");
    await h.create("cam3");

    const res = await h.call("/api/v1/streams/cam1/recordings");
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assert.equal(body.name, "cam1");
    assert.equal(body.partial, false);
    assert.deepEqual(body.unreachable, []);
    const size = chunk(1).length;
    assert.deepEqual(
      body.recordings.map((r: Record<string, unknown>) => [r.file, r.originId, r.durationSeconds]),
      [[a1, "o2", 15], [a2, "o1", 4.5], [b1, "o1", 7]],
    );
    for (const r of body.recordings) {
      assert.equal(r.size, size);
      assert.equal(r.archived, false);
      assert.equal(r.startedAt, new Date(START).toISOString());
      const origin = r.originId === "o1" ? o1 : o2;
      assert.equal(r.url, `${origin.url}/recordings/cam1/${r.file}`);
    }
    const download = await fetch(body.recordings[0].url);
    assert.equal(download.status, 200);
    assert.deepEqual(
      new Uint8Array(await download.arrayBuffer()),
      await Deno.readFile(join(o2.dir, "cam1", a1)),
    );

    // A known stream with nothing recorded lists nothing.
    const empty = await (await h.call("/api/v1/streams/cam3/recordings")).json();
    assert.deepEqual(empty, { name: "cam3", recordings: [], partial: false, unreachable: [] });
    await expectError(await h.call("/api/v1/streams/nope/recordings"), 404, "not_found");
    await expectError(await h.call("/api/v1/streams/Bad!/recordings"), 400, "invalid_request");
    await expectError(await h.call("/api/v1/streams/cam1/recordings", { token: null }), 401);
  }],

  [
    "GET /streams/{name}/recordings skips origins that fail and says the list is partial",
    async (h) => {
      const file = "2026-01-15T08-00-00.000Z-1.mp4";
      await using good = await recordingsOrigin({ [`cam1/${file}`]: 3 });
      await using guarded = await recordingsOrigin(
        { [`cam1/${file}`]: 3 },
        "another-hook-token-0123",
      );
      await using silent = silentOrigin();
      const closed = silentOrigin();
      const closedUrl = closed.url;
      await closed[Symbol.asyncDispose]();
      await using garbage = confusedOrigin(JSON.stringify({ recordings: [{ file: 5 }] }));
      await h.node("origin", "good", { url: good.url });
      await h.node("origin", "guarded", { url: guarded.url });
      await h.node("origin", "silent", { url: silent.url });
      await h.node("origin", "refused", { url: closedUrl });
      await h.node("origin", "garbage", { url: garbage.url });
      await h.create("cam1");

      const started = performance.now();
      const res = await h.call("/api/v1/streams/cam1/recordings");
      const took = performance.now() - started;
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.partial, true);
      assert.deepEqual(body.unreachable, ["garbage", "guarded", "refused", "silent"]);
      assert.deepEqual(body.recordings.map((r: { originId: string }) => r.originId), ["good"]);
      assert.ok(took < ORIGIN_TIMEOUT_MS + 1500, `took ${took.toFixed(0)} ms`);
      assert.equal(h.log.events("recordings.origin_failed").length, 4);
      assert.ok(!logText(h.log).includes(HOOK_TOKEN));
    },
  ],
];

apiSuite(
  "GET /api/v1/streams/{name}/recordings over MemoryRegistry",
  memoryBackend,
  recordingCases,
);
apiSuite("GET /api/v1/streams/{name}/recordings over RedisRegistry", redisBackend, recordingCases);
