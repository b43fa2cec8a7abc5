/**
 * Endpoint cases for the publish hooks: the Cascade origin hook (JSON, bearer HOOK_TOKEN)
 * and nginx-rtmp's `on_publish` / `on_publish_done` (form body, token in the query), with
 * wrong keys, wrong tokens, bad bodies and throttled publishers. Run by `suite.ts`.
 */
import assert from "node:assert/strict";
import { ADMIN_TOKEN, type ApiCase, expectError, HOOK_TOKEN } from "./harness.ts";

export const hookCases: ApiCase[] = [
  ["POST /hooks/publish answers 200 {name} for a good key and 403 otherwise", async (h) => {
    const key = await h.create("cam1", { record: true });
    const ok = await h.hook(key);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { name: "cam1", record: true });
    for (const wrong of [`${key}x`, "sk_wrong", "cam1", "x".repeat(512)]) {
      await expectError(await h.hook(wrong, "198.51.100.1"), 403, "unknown_key");
    }
    const extra = await h.call("/api/v1/hooks/publish", {
      token: HOOK_TOKEN,
      json: { app: "live", key, clientIp: "198.51.100.2", originId: "o1", future: 1 },
    });
    assert.equal(extra.status, 200, "unknown hook fields are ignored");
  }],

  ["POST /hooks/publish checks HOOK_TOKEN and its body", async (h) => {
    const key = await h.create("cam1");
    for (const token of [null, "wrong-hook-token-0123", ADMIN_TOKEN]) {
      const res = await h.hook(key, "198.51.100.7", token);
      await expectError(res, 401, "unauthorized");
      assert.match(res.headers.get("www-authenticate") ?? "", /realm="hooks"/);
    }
    const bad: [unknown, RegExp][] = [
      [{ app: "live", clientIp: "1.2.3.4", originId: "o1" }, /"key": required/],
      [{ app: "live", key: "", clientIp: "1.2.3.4", originId: "o1" }, /"key"/],
      [{ app: "live", key: 5, clientIp: "1.2.3.4", originId: "o1" }, /"key"/],
      [{ app: "live", key, clientIp: "1".repeat(200), originId: "o1" }, /"clientIp"/],
      [{ app: "live", key: "k".repeat(513), clientIp: "1.2.3.4", originId: "o1" }, /"key"/],
    ];
    for (const [json, like] of bad) {
      const res = await h.call("/api/v1/hooks/publish", { token: HOOK_TOKEN, json });
      const body = await expectError(res, 400, "invalid_request", like);
      assert.ok(!JSON.stringify(body).includes(key), "a key was echoed in an error");
    }
    h.configure({ HOOK_TOKEN: "" });
    await expectError(await h.hook(key), 503, "not_configured", /HOOK_TOKEN/);
  }],

  [
    "POST /hooks/publish throttles one publisher address that keeps sending wrong keys",
    async (h) => {
      h.configure({ AUTH_FAILURE_LIMIT: "3" });
      const key = await h.create("cam1");
      for (let i = 0; i < 3; i++) {
        await expectError(await h.hook(`sk_guess_${i}`, "198.51.100.66"), 403);
      }
      const blocked = await h.hook(key, "198.51.100.66");
      await expectError(blocked, 429, "too_many_requests");
      assert.ok(Number(blocked.headers.get("retry-after")) > 0);
      // The origin itself is not blocked: other publishers behind it still get through.
      assert.equal((await h.hook(key, "198.51.100.67")).status, 200);
      h.clock += 60_000;
      assert.equal((await h.hook(key, "198.51.100.66")).status, 200);
    },
  ],

  [
    "POST /hooks/nginx/on_publish redirects to the public name or the relay, 403 otherwise",
    async (h) => {
      const key = await h.create("cam1");
      const form = (name: string) =>
        new URLSearchParams({
          call: "publish",
          app: "live",
          name,
          type: "live",
          addr: "198.51.100.9",
          tcurl: "rtmp://127.0.0.1:1935/live",
          clientid: "7",
        });
      const url = `/api/v1/hooks/nginx/on_publish?token=${HOOK_TOKEN}`;
      const plain = await h.call(url, { token: null, body: form(key) });
      assert.equal(plain.status, 302);
      assert.equal(plain.headers.get("location"), "cam1");
      const relayed = await h.call(
        `${url}&relay=${encodeURIComponent("rtmp://127.0.0.1:1935/hls")}`,
        { token: null, body: form(key) },
      );
      assert.equal(relayed.status, 302);
      assert.equal(relayed.headers.get("location"), "rtmp://127.0.0.1:1935/hls/cam1");
      const multipart = new FormData();
      multipart.set("name", key);
      const viaMultipart = await h.call(url, { token: null, body: multipart });
      assert.equal(viaMultipart.headers.get("location"), "cam1");
      await expectError(await h.call(url, { token: null, body: form("sk_wrong") }), 403);
      await expectError(
        await h.call(`${url}&relay=http://evil.test/x`, { token: null, body: form(key) }),
        400,
        "invalid_request",
        /"relay"/,
      );
      await expectError(
        await h.call(url, { token: null, body: new URLSearchParams({ app: "live" }) }),
        400,
        "invalid_request",
        /form field "name"/,
      );
      await expectError(
        await h.call("/api/v1/hooks/nginx/on_publish", { token: null, body: form(key) }),
        401,
      );
      await expectError(
        await h.call("/api/v1/hooks/nginx/on_publish?token=wrong", {
          token: null,
          body: form(key),
        }),
        401,
      );
      await h.call("/api/v1/streams/cam1", { method: "PATCH", json: { disabled: true } });
      await expectError(
        await h.call(url, { token: null, body: form(key) }),
        403,
        "stream_disabled",
      );
    },
  ],

  ["POST /hooks/nginx/on_publish_done is accepted with the token only", async (h) => {
    const form = new URLSearchParams({ call: "publish_done", app: "live", name: "sk_whatever" });
    const url = "/api/v1/hooks/nginx/on_publish_done";
    assert.equal(
      (await h.call(`${url}?token=${HOOK_TOKEN}`, { token: null, body: form })).status,
      200,
    );
    await expectError(await h.call(`${url}?token=nope`, { token: null, body: form }), 401);
  }],
];
