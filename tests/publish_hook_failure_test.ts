/**
 * An origin with `PUBLISH_AUTH=api` fails closed: when the API is unreachable, slower than
 * the hook timeout, answers 5xx, or answers 200 without a valid name, a real ffmpeg
 * publisher is refused and nothing is packaged. One control case shows the same setup lets
 * a publisher in when the API says yes, so the refusals are the hook's doing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startTestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { freePort } from "./helpers/ports.ts";

/** A stand-in publish hook on loopback answering with `reply`. */
function fakeApi(reply: (signal: AbortSignal) => Promise<Response>) {
  const stop = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: stop.signal, onListen() {} },
    (req) =>
      req.method === "POST" && new URL(req.url).pathname === "/api/v1/hooks/publish"
        ? reply(stop.signal)
        : new Response("not found", { status: 404 }),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      stop.abort();
      await server.finished;
    },
  };
}

async function publishThrough(
  apiUrl: string,
): Promise<{ code: number; live: boolean; output: string }> {
  await using origin = await startTestOrigin({
    PUBLISH_AUTH: "api",
    API_URL: apiUrl,
    HOOK_TOKEN: "hook_token_for_tests",
  });
  let live = false;
  origin.hub.on((e) => {
    if (e.type === "publish.start") live = true;
  });
  const ff = publish(origin.rtmpUrl("sk_some_key_1234"), { seconds: 4 });
  const status = await ff.status;
  const dir = await Deno.stat(join(origin.mediaRoot, "alpha")).then(() => true, () => false);
  return { code: status.code, live: live || dir, output: ff.output };
}

const json = (status: number, body: unknown) => Promise.resolve(Response.json(body, { status }));

Deno.test("PUBLISH_AUTH=api lets a publisher in when the hook says yes (control)", async () => {
  await using api = fakeApi(() => json(200, { name: "alpha" }));
  const r = await publishThrough(api.url);
  assert.equal(r.code, 0, r.output);
  assert.equal(r.live, true);
});

const refusals: [string, () => Promise<{ url: string } & AsyncDisposable>][] = [
  ["the API is unreachable", () =>
    Promise.resolve({
      url: `http://127.0.0.1:${freePort()}`,
      async [Symbol.asyncDispose]() {},
    })],
  [
    "the API answers after the hook timeout",
    () =>
      Promise.resolve(fakeApi((signal) =>
        new Promise((resolve) => {
          const t = setTimeout(() => resolve(Response.json({ name: "alpha" })), 8000);
          signal.addEventListener("abort", () => {
            clearTimeout(t);
            resolve(new Response(null, { status: 503 }));
          });
        })
      )),
  ],
  ["the API answers 500", () => Promise.resolve(fakeApi(() => json(500, { error: "boom" })))],
  ["the API answers 503", () => Promise.resolve(fakeApi(() => json(503, {})))],
  ["the API answers 200 without a name", () => Promise.resolve(fakeApi(() => json(200, {})))],
  [
    "the API answers 200 with an invalid name",
    () => Promise.resolve(fakeApi(() => json(200, { name: "../etc" }))),
  ],
  [
    "the API answers 200 with a body that is not JSON",
    () => Promise.resolve(fakeApi(() => Promise.resolve(new Response("alpha", { status: 200 })))),
  ],
];

for (const [when, start] of refusals) {
  Deno.test(`PUBLISH_AUTH=api refuses a publisher when ${when}`, async () => {
    await using api = await start();
    const r = await publishThrough(api.url);
    assert.notEqual(r.code, 0, `ffmpeg must fail; output:\n${r.output}`);
    assert.equal(r.live, false, "nothing was published or packaged");
  });
}
