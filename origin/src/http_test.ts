import assert from "node:assert/strict";
import { join } from "node:path";
import { MetricsRegistry } from "@cascade/common/metrics";
import { createOriginApp, type OriginHttpDeps } from "./http.ts";

const SECRET = "TOP-SECRET-do-not-serve-7f3a";
const PLAYLIST = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.000,\n100.ts\n";
const SEGMENT = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 0xff);

interface Fixture extends AsyncDisposable {
  base: string;
  mediaRoot: string;
}

/**
 * A temp tree with the media root inside it and secrets beside it, placed where a path
 * escaping the root would land if any traversal worked.
 */
async function fixture(): Promise<Fixture> {
  const base = await Deno.makeTempDir({ prefix: "cascade_origin_http_" });
  const mediaRoot = join(base, "media");
  await Deno.mkdir(join(mediaRoot, "cam1"), { recursive: true });
  await Deno.mkdir(join(mediaRoot, "cam1", "7.ts"));
  await Deno.mkdir(join(base, "etc"));
  await Deno.writeTextFile(join(mediaRoot, "cam1", "index.m3u8"), PLAYLIST);
  await Deno.writeTextFile(join(mediaRoot, "cam1", "vod.m3u8"), PLAYLIST + "#EXT-X-ENDLIST\n");
  await Deno.writeFile(join(mediaRoot, "cam1", "100.ts"), SEGMENT);
  await Deno.writeFile(join(mediaRoot, "cam1", "0.ts"), new Uint8Array());
  for (const f of ["secret.txt", "passwd", "passwd.ts", "index.m3u8", "etc/passwd"]) {
    await Deno.writeTextFile(join(base, f), SECRET);
  }
  await Deno.writeTextFile(join(mediaRoot, "passwd.ts"), SECRET);
  await Deno.writeTextFile(join(mediaRoot, "index.m3u8"), SECRET);
  return {
    base,
    mediaRoot,
    [Symbol.asyncDispose]: () => Deno.remove(base, { recursive: true }),
  };
}

function makeApp(mediaRoot: string, extra: Partial<OriginHttpDeps> = {}) {
  const metrics = new MetricsRegistry();
  const app = createOriginApp({
    id: "origin-a",
    mediaRoot,
    playlistMaxAgeSeconds: 1,
    metrics,
    ...extra,
  });
  return { app, metrics };
}

async function bytes(res: Response): Promise<Uint8Array> {
  return new Uint8Array(await res.arrayBuffer());
}

Deno.test("createOriginApp() serves a playlist with its type, max-age and CORS", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  const res = await app.request("/live/cam1/index.m3u8");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/vnd.apple.mpegurl");
  assert.equal(res.headers.get("cache-control"), "public, max-age=1");
  assert.equal(res.headers.get("content-length"), String(PLAYLIST.length));
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.equal(
    res.headers.get("access-control-expose-headers"),
    "Content-Length, Content-Range, Age",
  );
  assert.equal(await res.text(), PLAYLIST);
});

Deno.test("createOriginApp() serves other playlist names and sends no-cache for max-age 0", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot, { playlistMaxAgeSeconds: 0, corsOrigin: "https://a.test" });
  const res = await app.request("/live/cam1/vod.m3u8");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.equal(res.headers.get("access-control-allow-origin"), "https://a.test");
  assert.match(await res.text(), /#EXT-X-ENDLIST/);
});

Deno.test("createOriginApp() serves a segment as immutable video/mp2t with exact bytes", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  const res = await app.request("/live/cam1/100.ts");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "video/mp2t");
  assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(res.headers.get("accept-ranges"), "bytes");
  assert.equal(res.headers.get("content-length"), "1000");
  assert.ok(res.headers.get("etag"));
  assert.ok(res.headers.get("last-modified"));
  assert.deepEqual(await bytes(res), SEGMENT);
});

Deno.test("createOriginApp() answers HEAD with headers and Content-Length but no body", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  for (
    const [path, length] of [["/live/cam1/100.ts", 1000], [
      "/live/cam1/index.m3u8",
      PLAYLIST.length,
    ]] as const
  ) {
    const res = await app.request(path, { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-length"), String(length));
    assert.equal(res.body, null);
  }
});

Deno.test("createOriginApp() answers byte ranges with 206 and the exact slice", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  const cases: [string, number, number][] = [
    ["bytes=10-19", 10, 19],
    ["bytes=990-", 990, 999],
    ["bytes=-5", 995, 999],
    ["bytes=0-", 0, 999],
    ["bytes=500-99999", 500, 999],
    ["bytes=-5000", 0, 999],
    ["bytes=999-999", 999, 999],
  ];
  for (const [range, start, end] of cases) {
    const res = await app.request("/live/cam1/100.ts", { headers: { Range: range } });
    assert.equal(res.status, 206, range);
    assert.equal(res.headers.get("content-range"), `bytes ${start}-${end}/1000`, range);
    assert.equal(res.headers.get("content-length"), String(end - start + 1), range);
    assert.equal(res.headers.get("content-type"), "video/mp2t");
    assert.deepEqual(await bytes(res), SEGMENT.slice(start, end + 1), range);
  }
});

Deno.test("createOriginApp() streams a range larger than one read chunk", async () => {
  await using fx = await fixture();
  const big = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 31) & 0xff);
  await Deno.writeFile(join(fx.mediaRoot, "cam1", "101.ts"), big);
  const { app } = makeApp(fx.mediaRoot);
  const res = await app.request("/live/cam1/101.ts", { headers: { Range: "bytes=1000-250000" } });
  assert.equal(res.status, 206);
  assert.deepEqual(await bytes(res), big.slice(1000, 250001));
});

Deno.test("createOriginApp() answers unsatisfiable ranges with 416 and Content-Range */size", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  for (const range of ["bytes=1000-", "bytes=5000-6000", "bytes=-0", "bytes=20-10"]) {
    const res = await app.request("/live/cam1/100.ts", { headers: { Range: range } });
    assert.equal(res.status, 416, range);
    assert.equal(res.headers.get("content-range"), "bytes */1000", range);
    assert.deepEqual(await res.json(), {
      error: { code: "range_not_satisfiable", message: "Range not satisfiable: size is 1000" },
    });
  }
  const empty = await app.request("/live/cam1/0.ts", { headers: { Range: "bytes=0-" } });
  assert.equal(empty.status, 416);
  await empty.body?.cancel();
});

Deno.test("createOriginApp() ignores malformed, multiple and playlist ranges with a 200", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  for (const range of ["bytes=0-1,5-6", "items=0-5", "bytes=x-y", "bytes=-"]) {
    const res = await app.request("/live/cam1/100.ts", { headers: { Range: range } });
    assert.equal(res.status, 200, range);
    assert.equal((await bytes(res)).length, 1000);
  }
  const pl = await app.request("/live/cam1/index.m3u8", { headers: { Range: "bytes=0-3" } });
  assert.equal(pl.status, 200);
  assert.equal(await pl.text(), PLAYLIST);
});

Deno.test("createOriginApp() answers If-None-Match with 304 and honours If-Range", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  const first = await app.request("/live/cam1/100.ts", { method: "HEAD" });
  const etag = first.headers.get("etag")!;
  const cached = await app.request("/live/cam1/100.ts", { headers: { "If-None-Match": etag } });
  assert.equal(cached.status, 304);
  assert.equal(cached.body, null);
  const stale = await app.request("/live/cam1/100.ts", {
    headers: { Range: "bytes=0-9", "If-Range": '"other"' },
  });
  assert.equal(stale.status, 200);
  await stale.body?.cancel();
  const fresh = await app.request("/live/cam1/100.ts", {
    headers: { Range: "bytes=0-9", "If-Range": etag },
  });
  assert.equal(fresh.status, 206);
  assert.deepEqual(await bytes(fresh), SEGMENT.slice(0, 10));
});

Deno.test("createOriginApp() answers CORS preflight", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  const res = await app.request("/live/cam1/100.ts", {
    method: "OPTIONS",
    headers: {
      Origin: "https://player.test",
      "Access-Control-Request-Method": "GET",
      "Access-Control-Request-Headers": "range",
    },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.equal(res.headers.get("access-control-allow-methods"), "GET, HEAD, OPTIONS");
  assert.equal(res.headers.get("access-control-allow-headers"), "range");
  assert.ok(Number(res.headers.get("access-control-max-age")) > 0);

  const odd = await app.request("/live/cam1/100.ts", {
    method: "OPTIONS",
    headers: {
      "Access-Control-Request-Method": "GET",
      "Access-Control-Request-Headers": "a\u0001b",
    },
  });
  assert.equal(odd.headers.get("access-control-allow-headers"), "Range, If-None-Match");
});

Deno.test("createOriginApp() sends no CORS headers when corsOrigin is empty", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot, { corsOrigin: "" });
  const res = await app.request("/live/cam1/index.m3u8");
  assert.equal(res.headers.get("access-control-allow-origin"), null);
  await res.body?.cancel();
});

Deno.test("createOriginApp() answers 404 JSON for missing files, streams and routes", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  for (
    const path of [
      "/live/cam1/999.ts",
      "/live/nostream/index.m3u8",
      "/live/cam1/7.ts",
      "/live/cam1/notes.txt",
      "/live/cam1/Index.m3u8",
      "/live/cam1/123456789012345678901.ts",
      "/live/cam1",
      "/live/cam1/",
      "/live/cam1/100.ts/x",
      "/nowhere",
    ]
  ) {
    for (const method of ["GET", "HEAD"]) {
      const res = await app.request(path, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(res.headers.get("cache-control"), "no-cache");
      if (method === "GET") {
        const body = await res.json();
        assert.equal(body.error.code, "not_found", path);
        assert.equal(typeof body.error.message, "string");
      }
    }
  }
});

Deno.test("createOriginApp() answers 400 JSON for a malformed stream name", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  for (const name of ["CAM1", "-cam", "_cam", "a".repeat(65), "cam%20one", "cam.1"]) {
    const res = await app.request(`/live/${name}/index.m3u8`);
    assert.equal(res.status, 400, name);
    const body = await res.json();
    assert.ok(["invalid_stream_name", "invalid_path"].includes(body.error.code), name);
  }
});

Deno.test("createOriginApp() answers 405 for other methods on media paths", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  const res = await app.request("/live/cam1/100.ts", { method: "DELETE" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET, HEAD, OPTIONS");
  assert.equal((await res.json()).error.code, "method_not_allowed");
  assert.ok(await Deno.stat(join(fx.mediaRoot, "cam1", "100.ts")));
});

/** Traversal attempts; each must be refused before or without reading outside the root. */
const ATTACKS = [
  "/live/..%2F..%2Fetc/passwd",
  "/live/..%2Fetc/passwd",
  "/live/cam1/..%2F..%2Fetc%2Fpasswd",
  "/live/..%2F..%2Fetc%2Fpasswd/index.m3u8",
  "/live/%2e%2e/index.m3u8",
  "/live/%2E%2E/%2E%2E/passwd.ts",
  "/live/%252e%252e%252f/index.m3u8",
  "/live/cam1/%252e%252e%252fpasswd.ts",
  "/live/..%252f..%252fpasswd.ts",
  "/live/a/..%2f..%2fpasswd.ts",
  "/live/a/..%2f..%2f..%2fsecret.txt",
  "/live/cam1/%2e%2e%2f%2e%2e%2findex.m3u8",
  "/live/cam1/..%2findex.m3u8",
  "/live/a/..%5c..%5cpasswd.ts",
  "/live/..\\..\\passwd.ts",
  "/live/cam1/..\\..\\index.m3u8",
  "/live/cam1/%00.ts",
  "/live/cam1/100.ts%00",
  "/live/cam1%00/100.ts",
  "/live/cam1/0.ts%00.m3u8",
  "/live/cam1/../../passwd.ts",
  "/live/cam1/../../../secret.txt",
  "/live/..%c0%af../passwd.ts",
  "/live/cam1/%",
  "/live/cam1/%zz.ts",
  "/live/%2fetc/passwd",
  "/live/cam1/%2fetc%2fpasswd",
  "/live/cam1//..//..//passwd.ts",
  "/live/cam1/....//passwd.ts",
  "/live/cam1/index.m3u8/..%2f..%2f..%2fsecret.txt",
];

Deno.test("createOriginApp() refuses path traversal with 400/404 JSON and never leaks a secret", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  for (const path of ATTACKS) {
    for (const method of ["GET", "HEAD"]) {
      const res = await app.request(path, { method });
      assert.ok([400, 404].includes(res.status), `${method} ${path} -> ${res.status}`);
      assert.notEqual(res.headers.get("content-length"), String(SECRET.length), path);
      if (method === "GET") {
        const text = await res.text();
        assert.ok(!text.includes(SECRET), `${path} leaked the secret`);
        const body = JSON.parse(text);
        assert.ok(typeof body.error?.code === "string" && typeof body.error?.message === "string");
      }
    }
  }
});

Deno.test("createOriginApp() serves /healthz from the healthy callback", async () => {
  let ok = true;
  const { app } = makeApp("/nonexistent", { healthy: () => ok });
  const up = await app.request("/healthz");
  assert.equal(up.status, 200);
  const body = await up.json();
  assert.deepEqual({ ...body, uptimeSeconds: 0 }, {
    status: "ok",
    role: "origin",
    id: "origin-a",
    uptimeSeconds: 0,
  });
  assert.equal(typeof body.uptimeSeconds, "number");
  ok = false;
  const down = await app.request("/healthz");
  assert.equal(down.status, 503);
  assert.equal((await down.json()).status, "unhealthy");
});

Deno.test("createOriginApp() counts requests by status and bytes out in /metrics", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  await bytes(await app.request("/live/cam1/100.ts"));
  await bytes(await app.request("/live/cam1/100.ts", { headers: { Range: "bytes=0-99" } }));
  await app.request("/live/cam1/100.ts", { method: "HEAD" });
  await (await app.request("/live/cam1/404.ts")).text();
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  assert.match(text, /^# TYPE cascade_http_requests_total counter$/m);
  assert.match(text, /^cascade_http_requests_total\{status="200"\} 2$/m);
  assert.match(text, /^cascade_http_requests_total\{status="206"\} 1$/m);
  assert.match(text, /^cascade_http_requests_total\{status="404"\} 1$/m);
  assert.match(text, /^# TYPE cascade_http_bytes_out_total counter$/m);
  assert.match(text, /^cascade_http_bytes_out_total 1100$/m);
});

Deno.test("createOriginApp() can share one registry between two apps", () => {
  const metrics = new MetricsRegistry();
  createOriginApp({ id: "o", mediaRoot: "/a", playlistMaxAgeSeconds: 1, metrics });
  createOriginApp({ id: "o", mediaRoot: "/b", playlistMaxAgeSeconds: 1, metrics });
  assert.throws(
    () => createOriginApp({ id: "o", mediaRoot: "/c", playlistMaxAgeSeconds: -1, metrics }),
    RangeError,
  );
});

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += await conn.write(data.subarray(at));
}

/** Sends a request line exactly as given, so no client normalizes the path, and reads to EOF. */
async function rawRequest(port: number, method: string, target: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`;
    await writeAll(conn, new TextEncoder().encode(head));
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
    const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return new TextDecoder().decode(all);
  } finally {
    conn.close();
  }
}

Deno.test("createOriginApp() behind Deno.serve serves segments and refuses raw traversal paths", async () => {
  await using fx = await fixture();
  const { app } = makeApp(fx.mediaRoot);
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;

    const full = await fetch(`${base}/live/cam1/100.ts`);
    assert.equal(full.status, 200);
    assert.equal(full.headers.get("content-type"), "video/mp2t");
    assert.equal(full.headers.get("content-length"), "1000");
    assert.deepEqual(await bytes(full), SEGMENT);

    const part = await fetch(`${base}/live/cam1/100.ts`, { headers: { Range: "bytes=-10" } });
    assert.equal(part.status, 206);
    assert.deepEqual(await bytes(part), SEGMENT.slice(990));

    const head = await fetch(`${base}/live/cam1/100.ts`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("content-length"), "1000");
    assert.equal((await bytes(head)).length, 0);

    const rawOk = await rawRequest(server.addr.port, "GET", "/live/cam1/index.m3u8");
    assert.match(rawOk, /^HTTP\/1\.1 200 /);
    assert.ok(rawOk.endsWith(PLAYLIST));

    for (
      const target of [
        "/live/..%2F..%2Fetc/passwd",
        "/live/../../secret.txt",
        "/live/cam1/../../passwd.ts",
        "/live/%2e%2e/%2e%2e/passwd.ts",
        "/live/cam1/..%2f..%2f..%2fsecret.txt",
        "/live/..\\..\\passwd.ts",
        "/live/%252e%252e%252f/index.m3u8",
        "/live/cam1/%00.ts",
        "//live/../../../secret.txt",
      ]
    ) {
      const text = await rawRequest(server.addr.port, "GET", target);
      assert.match(text, /^HTTP\/1\.1 (400|404) /, `${target}: ${text.slice(0, 40)}`);
      assert.ok(!text.includes(SECRET), `${target} leaked the secret`);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("createOriginApp() refuses symlinks under the media root, whether GET, HEAD or a range", async () => {
  await using fx = await fixture();
  // Links out of the root, and one inside it: the packager never writes any.
  await Deno.symlink(join(fx.base, "passwd.ts"), join(fx.mediaRoot, "cam1", "1.ts"));
  await Deno.symlink(join(fx.base, "index.m3u8"), join(fx.mediaRoot, "cam1", "evil.m3u8"));
  await Deno.symlink(join(fx.mediaRoot, "cam1", "100.ts"), join(fx.mediaRoot, "cam1", "2.ts"));
  const { app } = makeApp(fx.mediaRoot);
  for (const path of ["/live/cam1/1.ts", "/live/cam1/evil.m3u8", "/live/cam1/2.ts"]) {
    for (
      const init of [{}, { method: "HEAD" }, { headers: { Range: "bytes=0-3" } }] as RequestInit[]
    ) {
      const res = await app.request(path, init);
      assert.equal(res.status, 404, `${init.method ?? "GET"} ${path}`);
      assert.doesNotMatch(await res.text(), /TOP-SECRET/);
    }
  }
  // The real file beside them is served.
  assert.equal((await app.request("/live/cam1/100.ts")).status, 200);
});

Deno.test("createOriginApp() answers a live playlist the packager holds from memory, else from disk", async () => {
  await using f = await fixture();
  const memory = new TextEncoder().encode(PLAYLIST + "#EXTINF:2.000,\n101.ts\n");
  const held = new Map([["cam1", { bytes: memory, etag: '"m-1"', modified: new Date(0) }]]);
  const { app } = makeApp(f.mediaRoot, { livePlaylist: (name) => held.get(name) });
  const res = await app.request("/live/cam1/index.m3u8");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("etag"), '"m-1"');
  assert.equal(res.headers.get("content-type"), "application/vnd.apple.mpegurl");
  assert.equal(res.headers.get("cache-control"), "public, max-age=1");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
  assert.equal(res.headers.get("content-length"), String(memory.byteLength));
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), memory);
  const again = await app.request("/live/cam1/index.m3u8", {
    headers: { "If-None-Match": '"m-1"' },
  });
  assert.equal(again.status, 304);
  const head = await app.request("/live/cam1/index.m3u8", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal((await head.arrayBuffer()).byteLength, 0);
  // Not held (the channel is gone): the file on disk; other files always come from disk.
  held.clear();
  assert.equal(await (await app.request("/live/cam1/index.m3u8")).text(), PLAYLIST);
  assert.equal(
    await (await app.request("/live/cam1/vod.m3u8")).text(),
    PLAYLIST + "#EXT-X-ENDLIST\n",
  );
});

Deno.test("createOriginApp() asks liveFile first with the checked name and file", async () => {
  await using fx = await fixture();
  const asked: string[] = [];
  const { app } = makeApp(fx.mediaRoot, {
    liveFile: (name, file) => {
      asked.push(`${name}/${file}`);
      return file === "thumb.jpg" ? new Response("picture", { status: 200 }) : undefined;
    },
  });
  const picture = await app.request("/live/c%61m1/thumb.jpg");
  assert.equal(picture.status, 200);
  assert.equal(await picture.text(), "picture");
  assert.equal(picture.headers.get("access-control-allow-origin"), "*");
  const playlist = await app.request("/live/cam1/index.m3u8");
  assert.equal(playlist.status, 200, "other files go on to the media rules");
  await playlist.body?.cancel();
  assert.deepEqual(asked, ["cam1/thumb.jpg", "cam1/index.m3u8"]);
  const traversal = await app.request("/live/cam1/..%2Fsecret.txt");
  assert.equal(traversal.status, 400);
  await traversal.body?.cancel();
  const badName = await app.request("/live/bad%20name/thumb.jpg");
  assert.equal(badName.status, 400, "a bad name is refused by the media rules");
  await badName.body?.cancel();
  assert.equal(asked.length, 2, "liveFile never sees a path that failed its checks");
});
