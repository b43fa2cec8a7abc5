/**
 * `LlPackager` on a real `StreamHub`, served by `llHlsRoutes` inside the origin's app: parts
 * appear in `ll.m3u8` as frames arrive, a blocking reload and a request for the hinted part
 * answer as soon as that part exists, a segment is its parts' bytes and lands on disk, a
 * republish continues the media sequence after a discontinuity with a new init segment, and
 * the waiter cap answers 503; rendition reports name the other live rungs of a source.
 * Frames are built here: 30 fps video with a keyframe each second.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MetricsRegistry } from "@cascade/common/metrics";
import type { MediaFrame } from "@cascade/media/frame";
import { type LlPlaylist, parseLlPlaylist } from "@cascade/media/hls/ll_playlist";
import { type LiveStream, StreamHub } from "@cascade/stream/hub";
import { avcTrack } from "../../lib/media/testing/tracks.ts";
import { captureLog } from "../../tests/helpers/log.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { LlPackager } from "./ll_packager.ts";
import { llHlsRoutes } from "./ll_http.ts";
import { createOriginApp } from "./http.ts";

const NAME = "cam";
const FPS = 30;

function videoFrame(index: number): MediaFrame {
  const keyframe = index % FPS === 0;
  const data = new Uint8Array(40).fill(index & 0xff);
  new DataView(data.buffer).setUint32(0, 36); // AVCC length prefix
  const dts = Math.round(index * 1000 / FPS);
  return { kind: "video", codec: "h264", dts, pts: dts, keyframe, data };
}

async function setup(maxWaiters = 100) {
  const root = await Deno.makeTempDir({ prefix: "cascade-ll-" });
  const log = captureLog();
  const hub = new StreamHub(log);
  const packager = new LlPackager(hub, {
    mediaRoot: root,
    segmentSeconds: 1,
    listSize: 6,
    partSeconds: 0.333,
    republishGraceSeconds: 600,
    maxWaiters,
    log,
    metrics: new MetricsRegistry(),
  });
  const app = createOriginApp({
    id: "t",
    mediaRoot: root,
    playlistMaxAgeSeconds: 1,
    metrics: new MetricsRegistry(),
    llHls: llHlsRoutes({ mediaRoot: root, source: (n) => packager.source(n) }),
  });
  let next = 0;
  return {
    root,
    hub,
    app,
    packager,
    log,
    get: async (path: string, init?: RequestInit): Promise<Response> =>
      await app.request(`http://o/live/${NAME}/${path}`, init),
    /** Publishes frames up to (not including) `until`. */
    push(stream: LiveStream, until: number) {
      for (; next < until; next++) stream.frame(videoFrame(next));
    },
    restart() {
      next = 0;
    },
    async playlist(query = ""): Promise<LlPlaylist> {
      const res = await app.request(`http://o/live/${NAME}/ll.m3u8${query}`);
      assert.equal(res.status, 200, await res.clone().text());
      return parseLlPlaylist(await res.text());
    },
    async [Symbol.asyncDispose]() {
      for (const stream of [...hub.streams()]) hub.close(stream, "test over");
      await packager.close();
      await Deno.remove(root, { recursive: true });
    },
  };
}

function open(hub: StreamHub): LiveStream {
  const stream = hub.open(NAME, "127.0.0.1");
  stream.config(avcTrack(30));
  return stream;
}

const lastPart = (p: LlPlaylist) => {
  const s = p.segments.at(-1)!;
  return { sequence: s.sequence, index: s.parts.length - 1 };
};

Deno.test("LlPackager serves ll.m3u8, its init, parts and segments with the contract's headers", async () => {
  await using t = await setup();
  assert.equal((await t.get("ll.m3u8")).status, 404, "nothing before the first part");
  const stream = open(t.hub);
  t.push(stream, 75); // 2.5 s: two complete 1 s segments, then a first 0.3 s part
  const p = await waitFor("a third segment's parts", async () => {
    const res = await t.get("ll.m3u8");
    if (res.status !== 200) return undefined;
    assert.equal(res.headers.get("content-type"), "application/vnd.apple.mpegurl");
    assert.equal(res.headers.get("cache-control"), "public, max-age=1");
    const pl = parseLlPlaylist(await res.text());
    return pl.segments.length === 3 && pl.segments[2]!.parts.length === 1 ? pl : undefined;
  });
  const [first, second] = p.segments as [LlPlaylist["segments"][0], LlPlaylist["segments"][0]];
  assert.equal(first.duration, 1);
  assert.deepEqual(first.parts.map((x) => x.duration), [0.3, 0.3, 0.3, 0.1]);
  assert.ok(first.parts[0]!.independent && !first.parts[1]!.independent);
  assert.match(p.preloadHint!, /^[0-9a-z]+_p\d+\.\d+\.m4s$/);

  const init = await t.get(first.mapUri);
  assert.equal(init.status, 200);
  assert.equal(init.headers.get("content-type"), "video/mp4");
  assert.equal(init.headers.get("cache-control"), "public, max-age=31536000, immutable");
  const parts = await Promise.all(
    second.parts.map(async (x) => new Uint8Array(await (await t.get(x.uri)).arrayBuffer())),
  );
  const segment = new Uint8Array(await (await t.get(second.uri!)).arrayBuffer());
  assert.deepEqual(segment, new Uint8Array(parts.flatMap((x) => [...x])), "a segment is its parts");
  const onDisk = await waitFor(
    "the segment on disk",
    () => Deno.readFile(join(t.root, NAME, second.uri!)).catch(() => undefined),
  );
  assert.deepEqual(onDisk, segment);
  assert.equal((await t.get(`${first.mapUri.split("_")[0]}_p1.0.m4s`)).status, 404);
  stream.frame(videoFrame(75));
  t.hub.close(stream, "publisher stopped");
  const ended = await waitFor("ENDLIST", async () => {
    const pl = await t.playlist();
    return pl.ended ? pl : undefined;
  });
  assert.equal(ended.preloadHint, undefined);
  assert.equal(ended.segments.at(-1)!.duration !== undefined, true);
});

Deno.test("LlPackager: a blocking reload and the hinted part answer when the next part appears", async () => {
  await using t = await setup();
  const stream = open(t.hub);
  t.push(stream, 40);
  const p = await waitFor("a playlist", async () => {
    const res = await t.get("ll.m3u8");
    return res.status === 200 ? parseLlPlaylist(await res.text()) : undefined;
  });
  const { sequence, index } = lastPart(p);
  const hint = p.preloadHint!;
  assert.equal(
    hint,
    p.segments.at(-1)!.mapUri.replace("init.mp4", `p${sequence}.${index + 1}.m4s`),
  );
  let answered = false;
  const reload = t.get(`ll.m3u8?_HLS_msn=${sequence}&_HLS_part=${index + 1}`).then((r) => {
    answered = true;
    return r;
  });
  const part = t.get(hint);
  const other = await t.get(hint.replace(/\.(\d+)\.m4s$/, (_, i) => `.${Number(i) + 1}.m4s`));
  assert.equal(other.status, 404, "a part after the hinted one is a 404 at once");
  await waitFor("both requests waiting", () => t.packager.waiting === 2);
  assert.equal(answered, false, "the reload waits for its part");
  t.push(stream, 60);
  const res = await reload;
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "public, max-age=60");
  const after = parseLlPlaylist(await res.text());
  assert.ok(after.segments.some((s) => s.sequence === sequence && s.parts.length > index + 1));
  const partRes = await part;
  assert.equal(partRes.status, 200);
  assert.ok((await partRes.arrayBuffer()).byteLength > 100);
  for (const q of ["?_HLS_part=1", "?_HLS_msn=x", `?_HLS_msn=${sequence + 9}`]) {
    const bad = await t.get(`ll.m3u8${q}`);
    assert.equal(bad.status, 400, q);
    assert.equal(bad.headers.get("cache-control"), "no-store");
  }
});

Deno.test("LlPackager: a republish continues the sequence after a discontinuity with a new MAP", async () => {
  await using t = await setup();
  const first = open(t.hub);
  t.push(first, 61);
  t.hub.close(first, "connection lost", true);
  const paused = await waitFor("the open segment listed", async () => {
    const pl = await t.playlist();
    return pl.segments.length === 3 && pl.segments[2]!.duration !== undefined ? pl : undefined;
  });
  assert.equal(paused.ended, false, "a vanished publisher leaves the playlist open");
  const second = open(t.hub);
  t.restart();
  t.push(second, 45);
  const p = await waitFor("the republished segments", async () => {
    const pl = await t.playlist();
    return pl.segments.length >= 4 ? pl : undefined;
  });
  const resumed = p.segments[3]!;
  assert.equal(resumed.sequence, paused.segments[2]!.sequence + 1);
  assert.ok(resumed.discontinuity);
  assert.notEqual(resumed.mapUri, paused.segments[0]!.mapUri);
  assert.equal((await t.get(resumed.mapUri)).status, 200);
  assert.equal((await t.get(paused.segments[0]!.mapUri)).status, 200);
});

Deno.test("LlPackager: beyond HLS_LL_MAX_WAITERS a blocking request is a 503 at once", async () => {
  await using t = await setup(2);
  const stream = open(t.hub);
  t.push(stream, 20);
  const p = await waitFor("a playlist", async () => {
    const res = await t.get("ll.m3u8");
    return res.status === 200 ? parseLlPlaylist(await res.text()) : undefined;
  });
  const { sequence, index } = lastPart(p);
  const next = `ll.m3u8?_HLS_msn=${sequence}&_HLS_part=${index + 1}`;
  const waiting = [t.get(next), t.get(next)];
  await waitFor("two requests waiting", () => t.packager.waiting === 2);
  const refused = await t.get(next);
  assert.equal(refused.status, 503);
  assert.equal(t.log.events("ll.waiters_full").length, 1);
  t.push(stream, 40);
  for (const w of await Promise.all(waiting)) assert.equal(w.status, 200);
});

Deno.test("LlPackager.renditionReports() names each other live rung of the source at its newest part", async () => {
  await using t = await setup();
  const source = open(t.hub);
  const rendition = t.hub.open(`${NAME}_240p`, "127.0.0.1");
  rendition.config(avcTrack(30));
  const other = t.hub.open("dog", "127.0.0.1");
  other.config(avcTrack(30));
  for (let i = 0; i < 45; i++) {
    source.frame(videoFrame(i));
    other.frame(videoFrame(i));
    if (i < 40) rendition.frame(videoFrame(i));
  }
  // The frames reach the packager asynchronously: compare once its playlist stops moving.
  await waitFor("the source's report of the rendition to be its newest part", async () => {
    const res = await t.app.request(`http://o/live/${NAME}_240p/ll.m3u8`);
    if (res.status !== 200) return undefined;
    const newest = lastPart(parseLlPlaylist(await res.text()));
    const reports = t.packager.renditionReports(NAME);
    return reports.length === 1 && reports[0]!.uri === `../${NAME}_240p/ll.m3u8` &&
        reports[0]!.lastMsn === newest.sequence && reports[0]!.lastPart === newest.index
      ? true
      : undefined;
  });
  assert.deepEqual(
    t.packager.renditionReports(`${NAME}_240p`).map((r) => r.uri),
    [`../${NAME}/ll.m3u8`],
  );
  assert.deepEqual(t.packager.renditionReports("dog"), []);
  t.hub.close(rendition, "publisher stopped");
  await waitFor(
    "no report of an ended rendition",
    () => t.packager.renditionReports(NAME).length === 0,
  );
});
