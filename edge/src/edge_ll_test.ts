/**
 * LL-HLS through the edge, over real sockets: the edge on `node:http` in front of a
 * synthetic LL-HLS origin (`LlOrigin`, a `Deno.serve` that holds blocking reloads and the
 * hinted part as the contract says). What the issue asks of the edge: identical blocking
 * reloads and hinted-part requests of many viewers cost one origin request, whatever their
 * playback tokens; what the edge has is answered at once; the origin's "not yet" answers
 * reach every waiting viewer and are never remembered; a viewer who leaves cancels nothing.
 */
import assert from "node:assert/strict";
import { quietLog } from "../../lib/common/testing/log.ts";
import { signPlaybackToken } from "@cascade/common/playback_token";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { waitFor } from "../../tests/helpers/wait.ts";
import { FakeOrigin } from "../testing/fake_origin.ts";
import { LlOrigin, type LlOriginOptions } from "../testing/ll_origin.ts";
import { CountingRegistry, streamRecord } from "../testing/registry.ts";
import { Edge, type EdgeOptions } from "./edge.ts";
import { LL_START_FRESH_MS } from "./freshness.ts";
import { type EdgeServer, serveEdgeNode } from "./node_server.ts";

const KEY = "k".repeat(32);
const VIEWERS = 50;

interface Setup extends AsyncDisposable {
  origin: LlOrigin;
  registry: CountingRegistry;
  edge: Edge;
  server: EdgeServer;
  clock: { now: number };
  /** GET `path` from the edge (`signal` to leave early). */
  get(path: string, signal?: AbortSignal): Promise<Response>;
  /** `cascade_edge_origin_requests_total{kind}`. */
  originRequests(kind: string): Promise<number>;
  /** Resolves once `n` requests wait in the edge and the origin has `path`'s request. */
  waiting(n: number, path: string): Promise<void>;
}

async function setup(
  opts: Partial<EdgeOptions> = {},
  originOpts: LlOriginOptions = {},
): Promise<Setup> {
  const origin = new LlOrigin(originOpts);
  const registry = new CountingRegistry({ log: quietLog });
  const claimed = await registry.claimStream(
    streamRecord("cam", origin.url, { targetDuration: origin.targetDuration }),
    60_000,
  );
  assert.ok(claimed.ok);
  const clock = { now: Date.now() };
  const edge = new Edge({
    registry,
    cacheBytes: 64 * 1024 * 1024,
    log: quietLog,
    now: () => clock.now,
    // Shorter than any hold: blocking requests must get a deadline of their own.
    playlistTimeoutMs: 200,
    segmentTimeoutMs: 1000,
    ...opts,
  });
  await edge.start();
  const server = await serveEdgeNode({ edge, hostname: "127.0.0.1", port: 0, log: quietLog });
  const url = `http://127.0.0.1:${server.port}`;
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: VIEWERS * 2 });
  return {
    origin,
    registry,
    edge,
    server,
    clock,
    get: (path, signal) => fetch(`${url}${path}`, { client, signal }),
    async originRequests(kind) {
      const text = await (await fetch(`${url}/metrics`, { client })).text();
      const m = new RegExp(`^cascade_edge_origin_requests_total\\{kind="${kind}"\\} (\\d+)$`, "m")
        .exec(text);
      return m === null ? 0 : Number(m[1]);
    },
    async waiting(n, path) {
      await waitFor(`${n} requests waiting in the edge`, () => edge.active === n);
      await waitFor(`the origin to hold ${path}`, () => origin.count(path) > 0);
    },
    async [Symbol.asyncDispose]() {
      await origin.close();
      await server.close(1000);
      await edge.close();
      await registry.close();
      client.close();
    },
  };
}

interface Answer {
  status: number;
  xCache: string | null;
  cacheControl: string | null;
  contentType: string | null;
  body: string;
}

async function answer(res: Response): Promise<Answer> {
  return {
    status: res.status,
    xCache: res.headers.get("x-cache"),
    cacheControl: res.headers.get("cache-control"),
    contentType: res.headers.get("content-type"),
    body: await res.text(),
  };
}

/** How many of `items` give each value of `pick`. */
function tally<T>(items: T[], pick: (item: T) => string | number | null) {
  const counts = new Map<string | number | null, number>();
  for (const item of items) counts.set(pick(item), (counts.get(pick(item)) ?? 0) + 1);
  return Object.fromEntries(counts);
}

Deno.test("50 identical blocking reloads cost one origin request, held until the part exists", async () => {
  await using s = await setup();
  const { msn, part } = s.origin.next;
  const path = `/live/cam/ll.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`;
  const pending = Array.from({ length: VIEWERS }, () => s.get(path).then(answer));
  await s.waiting(VIEWERS, path);
  assert.equal(s.origin.count(path), 1);

  s.origin.addPart();
  const answers = await Promise.all(pending);
  assert.deepEqual(tally(answers, (a) => a.status), { 200: VIEWERS });
  assert.deepEqual(tally(answers, (a) => a.xCache), { MISS: 1, COALESCED: VIEWERS - 1 });
  assert.equal(new Set(answers.map((a) => a.body)).size, 1);
  const playlist = answers[0]!.body;
  assert.equal(playlist, s.origin.playlist());
  assert.match(playlist, new RegExp(`URI="${s.origin.partName(msn, part)}"`));
  assert.equal(answers[0]!.cacheControl, "public, max-age=60");
  assert.equal(answers[0]!.contentType, "application/vnd.apple.mpegurl");
  assert.equal(parsePlaylist(playlist).targetDuration, 1);
  assert.equal(s.origin.count(path), 1);
  assert.equal(await s.originRequests("blocking_playlist"), 1);
});

Deno.test("a blocking answer is a HIT with its Age until its max-age, even after stream.update", async () => {
  // A long target: without stream.update, the copy without directives would stay fresh.
  await using s = await setup({ playlistFreshMs: 60_000 }, { targetDuration: 60 });
  const { msn } = s.origin.next;
  s.origin.addPart();
  const path = `/live/cam/ll.m3u8?_HLS_msn=${msn}&_HLS_part=0`;
  const first = await answer(await s.get(path));
  assert.equal(first.xCache, "MISS");
  assert.equal((await answer(await s.get("/live/cam/ll.m3u8"))).xCache, "MISS");
  s.origin.addPart();
  s.clock.now += 20_500;
  // The origin wrote a newer playlist: the copy without directives is stale now.
  await s.registry.claimStream(
    streamRecord("cam", s.origin.url, { targetDuration: 60, updatedAt: 9_000 }),
    60_000,
  );
  await waitFor("stream.update to reach the edge", async () => {
    const a = await answer(await s.get("/live/cam/ll.m3u8"));
    return a.body === s.origin.playlist();
  });
  const hit = await s.get(`${path}&token=ignored`);
  assert.equal(hit.headers.get("x-cache"), "HIT");
  assert.equal(hit.headers.get("age"), "20");
  assert.equal(await hit.text(), first.body);
  assert.equal(s.origin.count(path), 1);

  s.clock.now += 40_000;
  const expired = await answer(await s.get(path));
  assert.equal(expired.xCache, "MISS");
  assert.notEqual(expired.body, first.body);
  assert.equal(s.origin.count(path), 2);
});

Deno.test("blocking reloads with different playback tokens share one origin request", async () => {
  await using s = await setup({ signingKey: KEY });
  const expires = Math.floor(Date.now() / 1000) + 600;
  const tokens = await Promise.all(
    Array.from({ length: VIEWERS }, (_, i) => signPlaybackToken(KEY, "cam", expires + i)),
  );
  assert.equal(new Set(tokens).size, VIEWERS);
  const { msn, part } = s.origin.next;
  const directives = `_HLS_msn=${msn}&_HLS_part=${part}`;
  // hls.js puts the directives after the token; other players may not.
  const pending = tokens.map((token, i) =>
    s.get(
      i % 2 === 0
        ? `/live/cam/ll.m3u8?token=${token}&${directives}`
        : `/live/cam/ll.m3u8?${directives}&token=${token}`,
    ).then(answer)
  );
  await s.waiting(VIEWERS, `/live/cam/ll.m3u8?${directives}`);
  s.origin.addPart();
  const answers = await Promise.all(pending);
  assert.deepEqual(tally(answers, (a) => a.status), { 200: VIEWERS });
  assert.equal(s.origin.count(`/live/cam/ll.m3u8?${directives}`), 1);
  assert.equal(s.origin.requests.length, 1);
  answers.forEach((a, i) => {
    assert.match(a.body, new RegExp(`URI="${s.origin.partName(msn, part)}\\?token=${tokens[i]}"`));
  });

  const refused = await s.get(`/live/cam/ll.m3u8?${directives}&token=forged`);
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  assert.equal(s.origin.requests.length, 1);
});

Deno.test("a hinted part asked for by 50 viewers before it exists costs one origin request", async () => {
  await using s = await setup();
  await s.get("/live/cam/ll.m3u8").then((res) => res.text());
  const { msn, part } = s.origin.next;
  const file = s.origin.partName(msn, part);
  const pending = Array.from({ length: VIEWERS }, async () => {
    const res = await s.get(`/live/cam/${file}`);
    return { res, bytes: new Uint8Array(await res.arrayBuffer()) };
  });
  await s.waiting(VIEWERS, `/live/cam/${file}`);
  assert.equal(s.origin.count(`/live/cam/${file}`), 1);

  s.origin.addPart();
  const got = await Promise.all(pending);
  const expected = s.origin.part(msn, part);
  for (const { res, bytes } of got) {
    assert.equal(res.status, 200);
    assert.deepEqual(bytes, expected);
    assert.equal(res.headers.get("content-type"), "video/mp4");
    assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
  }
  assert.deepEqual(tally(got, ({ res }) => res.headers.get("x-cache")), {
    MISS: 1,
    COALESCED: VIEWERS - 1,
  });
  assert.equal(s.origin.count(`/live/cam/${file}`), 1);
  assert.equal(await s.originRequests("part"), 1);
});

Deno.test("a part, segment or init section the edge has is a HIT without asking the origin", async () => {
  await using s = await setup();
  s.origin.addPart();
  for (let i = 0; i < s.origin.partsPerSegment; i++) s.origin.addPart();
  const files = [
    `${s.origin.prefix}_init.mp4`,
    s.origin.partName(10, 0),
    `${s.origin.prefix}_s10.m4s`,
  ];
  for (const file of files) {
    const first = await s.get(`/live/cam/${file}`);
    assert.equal(first.status, 200, file);
    assert.equal(first.headers.get("x-cache"), "MISS");
    const body = await first.arrayBuffer();
    s.clock.now += 3_600_000;
    const again = await s.get(`/live/cam/${file}`);
    assert.equal(again.headers.get("x-cache"), "HIT", file);
    assert.equal(again.headers.get("age"), "3600");
    assert.equal(again.headers.get("content-type"), "video/mp4");
    assert.deepEqual(await again.arrayBuffer(), body);
    assert.equal(s.origin.count(`/live/cam/${file}`), 1, file);
  }
  assert.equal(await s.originRequests("init"), 1);
  assert.equal(await s.originRequests("part"), 1);
  assert.equal(await s.originRequests("segment"), 1);
});

Deno.test("LL parts and segments leave the cache once ll.m3u8 no longer lists them (plus a grace)", async () => {
  await using s = await setup();
  for (let i = 0; i < 6 * s.origin.partsPerSegment; i++) s.origin.addPart();
  const files = [s.origin.partName(10, 0), `${s.origin.prefix}_s10.m4s`, s.origin.partName(15, 0)];
  for (const file of files) await (await s.get(`/live/cam/${file}`)).arrayBuffer();
  await (await s.get(`/live/cam/${s.origin.prefix}_init.mp4`)).arrayBuffer();
  const held = () =>
    [...s.edge.cache.keys()].map((k) => k.slice(k.lastIndexOf("/") + 1)).filter((f) =>
      f.startsWith(s.origin.prefix)
    ).sort();
  assert.equal(held().length, 4);

  // The playlist's window moves to start at 14: below 14 - 3 the files go.
  for (let i = 0; i < 4 * s.origin.partsPerSegment; i++) s.origin.addPart();
  assert.match(await (await s.get("/live/cam/ll.m3u8")).text(), /#EXT-X-MEDIA-SEQUENCE:14\n/);
  assert.deepEqual(held(), [`${s.origin.prefix}_init.mp4`, s.origin.partName(15, 0)]);
});

Deno.test("an origin 503 after the hold reaches every waiting viewer, no-store, and is not cached", async () => {
  await using s = await setup({}, { holdMs: 300 });
  const { msn } = s.origin.next;
  const path = `/live/cam/ll.m3u8?_HLS_msn=${msn}&_HLS_part=1`;
  const answers = await Promise.all(
    Array.from({ length: 10 }, () => s.get(path).then(answer)),
  );
  assert.deepEqual(tally(answers, (a) => a.status), { 503: 10 });
  assert.deepEqual(tally(answers, (a) => a.cacheControl), { "no-store": 10 });
  assert.equal(JSON.parse(answers[0]!.body).error.code, "not_ready");
  assert.equal(s.origin.count(path), 1);

  const retry = s.get(path).then(answer);
  await waitFor("the retry to reach the origin", () => s.origin.count(path) === 2);
  s.origin.addPart();
  s.origin.addPart();
  const ok = await retry;
  assert.equal(ok.status, 200);
  assert.equal(ok.xCache, "MISS");
});

Deno.test("a hinted part the origin gives up on is a 404 that does not stick", async () => {
  await using s = await setup({}, { holdMs: 300 });
  const { msn, part } = s.origin.next;
  const path = `/live/cam/${s.origin.partName(msn, part)}`;
  const missing = await answer(await s.get(path));
  assert.equal(missing.status, 404);
  assert.equal(missing.cacheControl, "no-store");
  s.origin.addPart();
  const found = await s.get(path);
  assert.equal(found.status, 200);
  assert.equal(found.headers.get("x-cache"), "MISS");
  await found.body?.cancel();
  assert.equal(s.origin.count(path), 2);
});

Deno.test("viewers who leave while a blocking reload is held cancel nothing for the others", async () => {
  await using s = await setup();
  const { msn, part } = s.origin.next;
  const path = `/live/cam/ll.m3u8?_HLS_msn=${msn}&_HLS_part=${part}`;
  const controllers = Array.from({ length: 10 }, () => new AbortController());
  const pending = controllers.map((c) => s.get(path, c.signal).then(answer));
  await s.waiting(10, path);
  // The first viewer started the origin request; it and four others leave.
  for (const c of controllers.slice(0, 5)) c.abort();
  const left = await Promise.allSettled(pending.slice(0, 5));
  assert.ok(left.every((r) => r.status === "rejected"));

  s.origin.addPart();
  const stayed = await Promise.all(pending.slice(5));
  assert.deepEqual(tally(stayed, (a) => a.status), { 200: 5 });
  assert.equal(s.origin.count(path), 1);
  assert.equal(s.origin.aborted, 0);

  // The origin does notice a client that leaves during a hold.
  const direct = new AbortController();
  const next = s.origin.next;
  const gone = fetch(
    `${s.origin.url}/live/cam/ll.m3u8?_HLS_msn=${next.msn}&_HLS_part=${next.part}`,
    {
      signal: direct.signal,
    },
  );
  await waitFor("the direct request to be held", () => s.origin.requests.length === 2);
  direct.abort();
  await assert.rejects(gone);
  await waitFor("the origin to see the client leave", () => s.origin.aborted === 1);
});

Deno.test("rendition reports reach signed viewers with the token on their URI", async () => {
  await using s = await setup({ signingKey: KEY }, { renditionReports: ["../cam_240p/ll.m3u8"] });
  s.origin.addPart();
  const token = await signPlaybackToken(KEY, "cam", Math.floor(Date.now() / 1000) + 600);
  const got = await answer(await s.get(`/live/cam/ll.m3u8?token=${token}`));
  assert.equal(got.status, 200);
  assert.match(
    got.body,
    new RegExp(
      `#EXT-X-RENDITION-REPORT:URI="../cam_240p/ll.m3u8\\?token=${token}",LAST-MSN=10,LAST-PART=0\n`,
    ),
  );
});

Deno.test("ll.m3u8 without directives, where players start, is fresh for less than a part only", async () => {
  await using s = await setup({ playlistFreshMs: 60_000 }, { targetDuration: 4 });
  const first = await answer(await s.get("/live/cam/ll.m3u8"));
  assert.equal(first.xCache, "MISS");
  assert.equal(first.cacheControl, "public, max-age=1");
  s.clock.now += LL_START_FRESH_MS - 1;
  assert.equal((await answer(await s.get("/live/cam/ll.m3u8"))).xCache, "HIT");
  s.clock.now += 1;
  s.origin.addPart();
  const refreshed = await answer(await s.get("/live/cam/ll.m3u8"));
  assert.equal(refreshed.xCache, "MISS");
  assert.equal(refreshed.body, s.origin.playlist());
});

Deno.test("malformed directives are a 400 without an origin request; the origin's 400 passes through", async () => {
  await using s = await setup();
  const bad = await answer(await s.get("/live/cam/ll.m3u8?_HLS_part=1"));
  assert.equal(bad.status, 400);
  assert.equal(bad.cacheControl, "no-store");
  assert.equal(JSON.parse(bad.body).error.code, "invalid_directive");
  assert.equal(s.origin.requests.length, 0);

  const far = `/live/cam/ll.m3u8?_HLS_msn=${s.origin.next.msn + 3}`;
  const refused = await answer(await s.get(far));
  assert.equal(refused.status, 400);
  assert.equal(refused.cacheControl, "no-store");
  assert.equal((await answer(await s.get(far))).status, 400);
  assert.equal(s.origin.count(`${far}&_HLS_part=0`), 2);
});

Deno.test("an unpublish during the hold is a 404 for the waiting viewers", async () => {
  await using s = await setup();
  const msn = s.origin.next.msn + 1;
  const path = `/live/cam/ll.m3u8?_HLS_msn=${msn}&_HLS_part=0`;
  // Safari leaves `_HLS_part=0` out; it shares the origin request of those who send it.
  const pending = Array.from(
    { length: 6 },
    (_, i) => s.get(i % 2 === 0 ? path : `/live/cam/ll.m3u8?_HLS_msn=${msn}`).then(answer),
  );
  await s.waiting(6, path);
  s.origin.unpublish();
  const answers = await Promise.all(pending);
  assert.deepEqual(tally(answers, (a) => a.status), { 404: 6 });
  assert.deepEqual(tally(answers, (a) => a.cacheControl), { "no-store": 6 });
  assert.equal(s.origin.count(path), 1);
  assert.equal(s.origin.requests.length, 1);
});

Deno.test("an LL part that is not whole MP4 boxes is a 502 and never cached", async () => {
  await using origin = FakeOrigin.start();
  const registry = new CountingRegistry({ log: quietLog });
  const edge = new Edge({ registry, cacheBytes: 1 << 20, log: quietLog });
  try {
    await edge.start();
    assert.ok((await registry.claimStream(streamRecord("cam", origin.url), 60_000)).ok);
    const whole = new LlOrigin().part(10, 0);
    origin.files.set("/live/cam/k1_p10.0.m4s", { body: whole.subarray(0, whole.byteLength - 1) });
    origin.files.set("/live/cam/k1_init.mp4", { body: whole });
    const handle = (file: string) =>
      edge.handle({ method: "GET", target: `/live/cam/${file}`, header: () => null });
    assert.equal((await handle("k1_p10.0.m4s")).status, 502);
    assert.equal((await handle("k1_init.mp4")).status, 502);
    const asked = origin.count("/live/cam/k1_p10.0.m4s");
    origin.files.set("/live/cam/k1_p10.0.m4s", { body: whole });
    const fixed = await handle("k1_p10.0.m4s");
    assert.equal(fixed.status, 200);
    assert.equal(fixed.headers["X-Cache"], "MISS");
    assert.equal(origin.count("/live/cam/k1_p10.0.m4s"), asked + 1);
  } finally {
    await edge.close();
    await registry.close();
  }
});
