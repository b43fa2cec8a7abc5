import assert from "node:assert/strict";
import { Hono } from "hono";
import { configureLogging } from "@cascade/common/log";
import { MemoryRegistry } from "@cascade/registry/memory";
import type { NodeRecord } from "@cascade/registry/types";
import { streamRecord } from "../lib/registry/testing/records.ts";
import { chooseCoding, fillTemplate, memoryAsset } from "./assets.ts";
import type { DashboardSnapshot } from "./dashboard_feed.ts";
import { BROADCAST_PATH, broadcastRoutes } from "./broadcast_routes.ts";
import { dashboardRoutes, watchRoutes } from "./routes.ts";

configureLogging({ level: "error" });

/** Where the streams' origin is: a closed port, so that scraping its metrics fails at once. */
const ORIGIN_URL = "http://127.0.0.1:9";

function node(id: string, kind: NodeRecord["kind"], load = 0, region = "eu"): NodeRecord {
  return { id, kind, url: `http://127.0.0.1:9/${id}`, region, load, startedAt: Date.now() };
}

/** Reads server-sent events from a response body, one parsed `snapshot` at a time. */
class EventReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  async next(): Promise<DashboardSnapshot | null> {
    while (true) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const data = block.split("\n").find((l) => l.startsWith("data: "));
        if (block.includes("event: snapshot") && data) return JSON.parse(data.slice(6));
        continue;
      }
      const { value, done } = await this.#reader.read();
      if (done) return null;
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  cancel(): Promise<void> {
    return this.#reader.cancel();
  }
}

Deno.test("watchRoutes() serves the watch page with relative URLs, no secrets and a CSP", async () => {
  const app = watchRoutes();
  const res = await app.request("/watch/cam_1");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.match(res.headers.get("content-security-policy") ?? "", /media-src 'self' blob:/);
  const html = await res.text();
  assert.match(html, /data-stream="cam_1"/);
  assert.match(html, /<script src="\/vendor\/hls\.min\.js\?v=[\d.]+" defer>/);
  assert.match(html, /src="\/assets\/watch\.js\?v=[\w-]+"/);
  assert.doesNotMatch(html, /\{\{|https?:\/\//);
});

Deno.test(
  "watchRoutes() serves the player as two versioned modules that pick ll.m3u8 or index.m3u8",
  async () => {
    const app = watchRoutes();
    const html = await (await app.request("/watch/cam_1")).text();
    const main = /src="(\/assets\/watch\.js\?v=[\w-]+)"/.exec(html)?.[1];
    const preload = /href="(\/assets\/watch_source\.js\?v=[\w-]+)"/.exec(html)?.[1];
    assert.ok(main && preload, html);
    const js = await (await app.request(main)).text();
    const imported = /from "\.\/(watch_source\.js\?v=[\w-]+)"/.exec(js)?.[1];
    assert.equal(`/assets/${imported}`, preload, "the page preloads the version imported");
    const res = await app.request(preload);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(res.headers.get("cache-control") ?? "", /immutable/);
    const source = await res.text();
    assert.match(source, /export async function offersLowLatency/);
    // Root-relative playlists only, so the page plays from whichever edge served it.
    assert.match(source, /`\$\{base\}ll\.m3u8`/);
    assert.match(source, /`\$\{base\}index\.m3u8`/);
    assert.match(source, /const base = `\/live\/\$\{encodeURIComponent\(name\)\}\/`/);
    assert.match(js, /lowLatencyMode: true/);
    for (const text of [js, source]) {
      assert.doesNotMatch(text, /https?:\/\//, "no absolute URL");
      assert.ok(text.split("\n").length < 500, "each watch module stays under 500 lines");
    }
  },
);

Deno.test("watchRoutes() answers 404 for a name that is not a stream name", async () => {
  const app = watchRoutes();
  for (const path of ["/watch/Bad", "/watch/a%3Cb", "/watch/-x"]) {
    const res = await app.request(path);
    assert.equal(res.status, 404, path);
    assert.equal((await res.json()).error.code, "not_found");
  }
});

Deno.test("watchRoutes() serves hls.js from memory, compressed when asked, with validators", async () => {
  const app = watchRoutes();
  const plain = await app.request("/vendor/hls.min.js");
  assert.equal(plain.status, 200);
  assert.equal(plain.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.match(plain.headers.get("cache-control") ?? "", /max-age=31536000, immutable/);
  const body = await plain.text();
  assert.ok(body.length > 100_000, "the whole hls.js build");
  assert.match(body, /Hls/);

  const br = await app.request("/vendor/hls.min.js", {
    headers: { "Accept-Encoding": "gzip, deflate, br" },
  });
  assert.equal(br.headers.get("content-encoding"), "br");
  assert.equal(br.headers.get("vary"), "Accept-Encoding");
  const compressed = new Uint8Array(await br.arrayBuffer());
  assert.ok(compressed.length < body.length / 2);

  const etag = plain.headers.get("etag")!;
  const again = await app.request("/vendor/hls.min.js", { headers: { "If-None-Match": etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
});

Deno.test("chooseCoding() prefers br, honours q=0, and skips small assets", async () => {
  const big = await memoryAsset(new TextEncoder().encode("x".repeat(5000)), "text/plain");
  assert.equal(chooseCoding("gzip, br", big), "br");
  assert.equal(chooseCoding("gzip, br;q=0", big), "gzip");
  assert.equal(chooseCoding("*", big), "br");
  assert.equal(chooseCoding("identity", big), null);
  assert.equal(chooseCoding(null, big), null);
  const small = await memoryAsset(new TextEncoder().encode("tiny"), "text/plain");
  assert.equal(chooseCoding("br", small), null);
});

Deno.test("fillTemplate() escapes values and refuses unknown placeholders", () => {
  assert.equal(fillTemplate("<b>{{ a }}</b>{{b}}", { a: "<i>", b: "&" }), "<b>&lt;i&gt;</b>&amp;");
  assert.throws(() => fillTemplate("{{missing}}", {}), RangeError);
  assert.throws(() => fillTemplate("{{ not closed", {}), SyntaxError);
});

Deno.test("dashboardRoutes() serves a page that holds no token and cannot be framed", async () => {
  const registry = new MemoryRegistry();
  try {
    const app = dashboardRoutes({ registry, probeNodes: false });
    const res = await app.request("/");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
    const html = await res.text();
    assert.match(html, /<input\s+id="token-input"\s+type="password"/);
    assert.doesNotMatch(html, /sk_|Bearer /);
    const js = await (await app.request("/assets/dashboard.js")).text();
    assert.match(js, /sessionStorage/);
    assert.doesNotMatch(js, /sk_[A-Za-z0-9_-]{10}/);
  } finally {
    await registry.close();
  }
});

Deno.test("dashboardRoutes() serves its two modules, the import carrying the imported version", async () => {
  const registry = new MemoryRegistry();
  try {
    const app = dashboardRoutes({ registry, probeNodes: false });
    const html = await (await app.request("/")).text();
    const main = /src="(\/assets\/dashboard\.js\?v=[\w-]+)"/.exec(html)?.[1];
    const preload = /href="(\/assets\/dashboard_live\.js\?v=[\w-]+)"/.exec(html)?.[1];
    assert.ok(main && preload, html);
    const js = await (await app.request(main)).text();
    const imported = /from "\.\/(dashboard_live\.js\?v=[\w-]+)"/.exec(js)?.[1];
    assert.equal(`/assets/${imported}`, preload, "the page preloads the version imported");
    const live = await app.request(preload);
    assert.equal(live.status, 200);
    assert.match(live.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(live.headers.get("cache-control") ?? "", /immutable/);
    const liveJs = await live.text();
    assert.match(liveJs, /export function startLiveView/);
    for (const source of [js, liveJs]) {
      assert.ok(source.split("\n").length < 500, "each dashboard module stays under 500 lines");
    }
  } finally {
    await registry.close();
  }
});

Deno.test("GET /api/v1/dashboard lists live streams with origin, edges and viewer estimates", async () => {
  const registry = new MemoryRegistry();
  try {
    await registry.announceNode({ ...node("origin-a", "origin", 1), rtmpUrl: "rtmp://o/live" });
    await registry.announceNode(node("edge-1", "edge", 12));
    await registry.claimStream(
      streamRecord("alpha", "origin-a", {
        originUrl: ORIGIN_URL,
        bandwidth: 800_000,
        codecs: "avc1.64001f",
      }),
      10_000,
    );
    const app = dashboardRoutes({
      registry,
      probeNodes: false,
      streamStats: (name) => name === "alpha" ? { width: 640, height: 360 } : undefined,
    });
    const res = await app.request("/api/v1/dashboard");
    assert.equal(res.headers.get("cache-control"), "no-store");
    const snap: DashboardSnapshot = await res.json();
    assert.equal(snap.registry, "ok");
    assert.equal(snap.streams.length, 1);
    const alpha = snap.streams[0]!;
    assert.equal(alpha.name, "alpha");
    assert.equal(alpha.originId, "origin-a");
    assert.equal(alpha.originRegion, "eu");
    assert.deepEqual(alpha.edges, [{ id: "edge-1", region: "eu" }]);
    assert.equal(alpha.bitrate, 800_000);
    assert.equal(alpha.codecs, "avc1.64001f");
    assert.equal(alpha.width, 640);
    assert.equal(alpha.viewers, 12);
    assert.equal(alpha.watchUrl, "http://127.0.0.1:9/edge-1/watch/alpha");
    assert.deepEqual(snap.nodes.map((n) => [n.kind, n.id, n.health]), [
      ["origin", "origin-a", "unknown"],
      ["edge", "edge-1", "unknown"],
    ]);
    assert.equal(snap.nodes[0]!.rtmpUrl, "rtmp://o/live");
  } finally {
    await registry.close();
  }
});

Deno.test("GET /api/v1/dashboard/events pushes a snapshot per stream up and down, and ends on abort", async () => {
  const registry = new MemoryRegistry();
  const stop = new AbortController();
  try {
    const app = new Hono();
    // A refresh period longer than any test: a snapshot can only come from a registry event.
    const refreshMs = 3_600_000;
    app.route(
      "/",
      dashboardRoutes({ registry, probeNodes: false, refreshMs, signal: stop.signal }),
    );
    const res = await app.request("/api/v1/dashboard/events");
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
    assert.match(res.headers.get("cache-control") ?? "", /no-transform/);
    const events = new EventReader(res.body!);
    assert.deepEqual((await events.next())?.streams, []);

    await registry.claimStream(
      streamRecord("alpha", "origin-a", { originUrl: ORIGIN_URL }),
      10_000,
    );
    const up = await events.next();
    assert.deepEqual(up?.streams.map((s) => s.name), ["alpha"]);

    await registry.releaseStream("alpha", "origin-a");
    assert.deepEqual((await events.next())?.streams, []);

    stop.abort();
    assert.equal(await events.next(), null);
  } finally {
    stop.abort();
    await registry.close();
  }
});

Deno.test("GET /api/v1/dashboard/events refuses listeners beyond the limit", async () => {
  const registry = new MemoryRegistry();
  const stop = new AbortController();
  try {
    const app = dashboardRoutes({
      registry,
      probeNodes: false,
      maxListeners: 1,
      signal: stop.signal,
    });
    const first = await app.request("/api/v1/dashboard/events");
    const events = new EventReader(first.body!);
    await events.next();
    const second = await app.request("/api/v1/dashboard/events");
    assert.equal(second.status, 503);
    assert.equal(second.headers.get("retry-after"), "10");
    await second.body?.cancel();
    await events.cancel();
    // The cancelled page left: there is room again.
    const third = await app.request("/api/v1/dashboard/events");
    assert.equal(third.status, 200);
    await third.body?.cancel();
  } finally {
    stop.abort();
    await registry.close();
  }
});

/** The broadcast page mounted as origins and the all-in-one node mount it. */
function broadcastApp(): Hono {
  return new Hono().route(BROADCAST_PATH, broadcastRoutes());
}

Deno.test("broadcastRoutes() serves /broadcast with a CSP, no inline script and no secret", async () => {
  const app = broadcastApp();
  const res = await app.request("/broadcast");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  assert.equal(res.headers.get("permissions-policy"), "camera=(self), microphone=(self)");
  const csp = res.headers.get("content-security-policy") ?? "";
  for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'"]) {
    assert.ok(csp.includes(directive), `${directive} in ${csp}`);
  }
  assert.match(csp, /frame-ancestors 'none'/, "a page taking a key is never framed");
  assert.match(csp, /form-action 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  const html = await res.text();
  // Every script is a file of this origin; none is inline.
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0]![1]!, /type="module" src="\/broadcast\/assets\/broadcast\.js\?v=[\w-]+"/);
  assert.equal(scripts[0]![2], "");
  assert.doesNotMatch(html, /\son[a-z]+=/i, "no inline event handler");
  assert.doesNotMatch(html, /\{\{|https?:\/\//);
  // The key field has no name and the form no action: nothing typed can land in a URL.
  const keyField = /<input id="key"[^>]*>/.exec(html)?.[0] ?? "";
  assert.match(keyField, /type="password"/);
  assert.doesNotMatch(keyField, /\bname=|\bvalue=/);
  assert.doesNotMatch(html, /<form[^>]*\baction=/);
  for (
    const id of ["golive", "stop", "state", "message", "bitrate", "camera", "microphone", "preview"]
  ) {
    assert.match(html, new RegExp(`id="${id}"`), `#${id}`);
  }
  assert.match(html, /id="golive"[^>]*>Go live</);
});

Deno.test("broadcastRoutes() serves its two modules versioned and immutable, holding no key or token", async () => {
  const app = broadcastApp();
  const html = await (await app.request("/broadcast")).text();
  const main = /src="(\/broadcast\/assets\/broadcast\.js\?v=[\w-]+)"/.exec(html)?.[1];
  const preload = /href="(\/broadcast\/assets\/broadcast_encoder\.js\?v=[\w-]+)"/.exec(html)?.[1];
  const style = /href="(\/broadcast\/assets\/style\.css\?v=[\w-]+)"/.exec(html)?.[1];
  assert.ok(main && preload && style, html);
  const js = await (await app.request(main)).text();
  const imported = /from "\.\/(broadcast_encoder\.js\?v=[\w-]+)"/.exec(js)?.[1];
  assert.equal(`/broadcast/assets/${imported}`, preload, "the page preloads the version imported");
  for (const path of [main, preload, style]) {
    const res = await app.request(path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("cache-control") ?? "", /immutable/);
  }
  const encoderJs = await (await app.request(preload)).text();
  // The socket is same-origin and the key travels in its first message only.
  assert.match(js, /new URL\("\/ingest\/ws", location\.href\)/);
  assert.match(js, /JSON\.stringify\(\{ type: "publish", key \}\)/);
  assert.match(encoderJs, /avc: \{ format: "avc" \}/);
  assert.match(encoderJs, /latencyMode: "realtime"/);
  for (const text of [js, encoderJs]) {
    assert.doesNotMatch(text, /https?:\/\//, "no absolute URL");
    assert.doesNotMatch(text, /localStorage|sessionStorage|document\.cookie|console\./);
    assert.doesNotMatch(text, /test_key|Bearer|[?&](key|token)=/i);
    assert.ok(text.split("\n").length < 500, "each broadcast module stays under 500 lines");
  }
});
