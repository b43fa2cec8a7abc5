import assert from "node:assert/strict";
import type { Recording } from "./api.ts";
import { createRecordingsApp } from "./http.ts";

const TOKEN = "hook-token-for-tests-0123456789";

const recording: Recording = {
  file: "2026-01-15T08-00-00.000Z-1.mp4",
  size: 1234,
  durationSeconds: 15,
  startedAt: "2026-01-15T08:00:00.000Z",
  url: "http://origin.test:8081/recordings/cam1/2026-01-15T08-00-00.000Z-1.mp4",
  archived: false,
};

function app(listToken?: string) {
  const asked: string[] = [];
  const recordings = createRecordingsApp({
    dir: "/nonexistent",
    list: (name) => {
      asked.push(name);
      return Promise.resolve(name === "cam1" ? [recording] : []);
    },
    listToken,
  });
  return { asked, request: (path: string, init?: RequestInit) => recordings.request(path, init) };
}

Deno.test("createRecordingsApp() lists a stream's recordings as JSON at /{name}/", async () => {
  const { request, asked } = app();
  for (const path of ["/cam1/", "/cam1"]) {
    const res = await request(path);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.deepEqual(await res.json(), { name: "cam1", recordings: [recording] });
  }
  assert.deepEqual(await (await request("/cam2/")).json(), { name: "cam2", recordings: [] });
  const bad = await request("/Bad!/");
  assert.equal(bad.status, 404);
  assert.equal((await bad.json()).error.code, "not_found");
  assert.deepEqual(asked, ["cam1", "cam1", "cam2"]);
});

Deno.test("createRecordingsApp() asks for the bearer token before listing, when it has one", async () => {
  const { request, asked } = app(TOKEN);
  for (const auth of [undefined, "Bearer wrong-token-0123456789", TOKEN]) {
    const res = await request("/cam1/", auth ? { headers: { Authorization: auth } } : {});
    assert.equal(res.status, 401);
    assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.equal((await res.json()).error.code, "unauthorized");
  }
  assert.deepEqual(asked, []);
  const ok = await request("/cam1/", { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).recordings.length, 1);
});

Deno.test("createRecordingsApp() serves a chunk file but refuses a symlink, even to a chunk", async () => {
  const base = await Deno.makeTempDir({ prefix: "cascade_rec_http_" });
  try {
    const dir = `${base}/recordings`;
    await Deno.mkdir(`${dir}/cam1`, { recursive: true });
    await Deno.writeTextFile(`${base}/secret.mp4`, "TOP-SECRET");
    const real = "2026-01-15T08-00-00.000Z-1.mp4";
    await Deno.writeFile(`${dir}/cam1/${real}`, new Uint8Array([1, 2, 3, 4]));
    await Deno.symlink(`${base}/secret.mp4`, `${dir}/cam1/2026-01-15T08-00-00.000Z-2.mp4`);
    await Deno.symlink(`${dir}/cam1/${real}`, `${dir}/cam1/2026-01-15T08-00-00.000Z-3.mp4`);
    const recordings = createRecordingsApp({ dir });
    const ok = await recordings.request(`/cam1/${real}`);
    assert.equal(ok.status, 200);
    assert.deepEqual(new Uint8Array(await ok.arrayBuffer()), new Uint8Array([1, 2, 3, 4]));
    for (const n of [2, 3]) {
      for (const method of ["GET", "HEAD"]) {
        const res = await recordings.request(`/cam1/2026-01-15T08-00-00.000Z-${n}.mp4`, {
          method,
        });
        assert.equal(res.status, 404, `${method} chunk ${n}`);
        assert.doesNotMatch(await res.text(), /TOP-SECRET/);
      }
    }
  } finally {
    await Deno.remove(base, { recursive: true });
  }
});
