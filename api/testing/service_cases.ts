/**
 * Endpoint cases about the API as a whole rather than one resource: answers while the
 * registry is unreachable, no secret in any log line, the OpenAPI document and docs page,
 * unknown routes and CORS, and per-route metrics. Run by `suite.ts`.
 */
import assert from "node:assert/strict";
import {
  ADMIN_TOKEN,
  type ApiCase,
  type CallOptions,
  expectError,
  HOOK_TOKEN,
  PLAYBACK_TOKEN,
  SIGNING_KEY,
} from "./harness.ts";
import { logText } from "./log_text.ts";

export const serviceCases: ApiCase[] = [
  ["every route answers 503 JSON while the registry is unreachable", async (h) => {
    const key = await h.create("cam1");
    await h.registry.close();
    const calls: [string, CallOptions][] = [
      ["/api/v1/streams", { json: { name: "cam2" } }],
      ["/api/v1/streams", {}],
      ["/api/v1/streams/cam1", {}],
      ["/api/v1/streams/cam1/rotate-key", { method: "POST" }],
      ["/api/v1/streams/cam1", { method: "PATCH", json: { disabled: true } }],
      ["/api/v1/streams/cam1", { method: "DELETE" }],
      ["/api/v1/live", { token: null }],
      ["/api/v1/streams/cam1/playback", { token: null }],
    ];
    for (const [path, o] of calls) {
      const res = await h.call(path, o);
      await expectError(res, 503, "unavailable");
      assert.equal(res.headers.get("retry-after"), "1");
    }
    await expectError(await h.hook(key), 503, "unavailable");
  }],

  ["no stream key or token ever reaches a log line", async (h) => {
    h.configure({
      LOG_LEVEL: "debug",
      PLAYBACK_SIGNING_KEY: SIGNING_KEY,
      PLAYBACK_API_TOKEN: PLAYBACK_TOKEN,
    });
    const key = await h.create("cam1");
    const rotated = await (await h.call("/api/v1/streams/cam1/rotate-key", { method: "POST" }))
      .json();
    await h.hook(key);
    await h.hook(rotated.streamKey);
    await h.call(`/api/v1/hooks/nginx/on_publish?token=${HOOK_TOKEN}`, {
      token: null,
      body: new URLSearchParams({ name: rotated.streamKey, addr: "198.51.100.3" }),
    });
    await h.call(`/api/v1/hooks/nginx/on_publish_done?token=${HOOK_TOKEN}`, {
      token: null,
      body: new URLSearchParams({ name: rotated.streamKey }),
    });
    await h.call("/api/v1/streams", { token: "a-wrong-admin-token-123" });
    await h.call("/api/v1/hooks/publish", { token: HOOK_TOKEN, json: { key: 5 } });
    await h.live("cam1");
    await h.call("/api/v1/streams/cam1/playback", { token: null });
    const signed = await (await h.call("/api/v1/streams/cam1/playback", { token: PLAYBACK_TOKEN }))
      .json();
    const playbackToken = new URL(signed.hls).searchParams.get("token");
    assert.ok(playbackToken);
    await h.call("/api/v1/live", { token: "a-wrong-playback-token-123" });
    const logged = logText(h.log);
    assert.match(logged, /publish\.allowed/);
    assert.match(logged, /publish\.refused/);
    for (
      const secret of [
        key,
        rotated.streamKey,
        ADMIN_TOKEN,
        HOOK_TOKEN,
        SIGNING_KEY,
        PLAYBACK_TOKEN,
        playbackToken,
      ]
    ) {
      assert.ok(!logged.includes(secret), "a secret reached the log");
    }
    assert.ok(!logged.includes("a-wrong-admin-token-123"));
    assert.ok(!logged.includes("a-wrong-playback-token-123"));
  }],

  ["the OpenAPI document and the docs page describe every route", async (h) => {
    const res = await h.call("/api/v1/openapi.json", { token: null });
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.match(doc.openapi, /^3\./);
    const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(operations, [
      "DELETE /api/v1/streams/{name}",
      "GET /api/v1/live",
      "GET /api/v1/streams",
      "GET /api/v1/streams/{name}",
      "GET /api/v1/streams/{name}/playback",
      "GET /api/v1/streams/{name}/recordings",
      "PATCH /api/v1/streams/{name}",
      "POST /api/v1/hooks/nginx/on_publish",
      "POST /api/v1/hooks/nginx/on_publish_done",
      "POST /api/v1/hooks/publish",
      "POST /api/v1/streams",
      "POST /api/v1/streams/{name}/rotate-key",
    ]);
    assert.deepEqual(doc.paths["/api/v1/streams"].post.security, [{ adminToken: [] }]);
    for (const path of ["/api/v1/streams/{name}/playback", "/api/v1/live"]) {
      assert.deepEqual(doc.paths[path].get.security, [
        {},
        { playbackToken: [] },
        { adminToken: [] },
      ]);
      assert.match(doc.paths[path].get.description, /PLAYBACK_SIGNING_KEY/);
    }
    assert.match(doc.components.securitySchemes.playbackToken.description, /PLAYBACK_API_TOKEN/);
    assert.ok(
      doc.paths["/api/v1/streams/{name}/playback"].get.parameters.some(
        (p: { name: string; in: string }) => p.name === "ttl" && p.in === "query",
      ),
    );
    assert.ok(doc.components.schemas.CreateStream.properties.name.pattern);
    for (const schema of ["Playback", "EdgeChoice", "LiveStream"]) {
      const { properties, required } = doc.components.schemas[schema];
      assert.match(properties.llhls.description, /ll\.m3u8/, `${schema}.llhls is described`);
      assert.ok(required.includes("llhls"), `${schema}.llhls is always present`);
    }
    const page = await h.call("/api/v1/docs", { token: null });
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    const html = await page.text();
    for (const op of operations) {
      const [method, path] = op.split(" ") as [string, string];
      assert.ok(html.includes(`>${method}</span> <code>${path}</code>`), `docs miss ${op}`);
    }
    assert.ok(html.includes('id="schema-StreamKeyGrant"'));
    assert.ok(!/<script/i.test(html));
  }],

  ["unknown routes are 404 JSON and public routes send CORS headers", async (h) => {
    await expectError(await h.call("/api/v1/nope", { token: null }), 404, "not_found");
    await expectError(
      await h.call("/api/v1/live", { token: null, method: "DELETE" }),
      404,
    );
    const res = await h.call("/api/v1/live", {
      token: null,
      headers: { origin: "https://player.test" },
    });
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const admin = await h.call("/api/v1/streams", { headers: { origin: "https://player.test" } });
    assert.equal(admin.headers.get("access-control-allow-origin"), null);
  }],

  ["requests are counted per route pattern in the metrics", async (h) => {
    await h.create("cam1");
    await h.call("/api/v1/streams/nope");
    const text = h.metrics.render();
    assert.match(text, /cascade_api_requests_total\{route="\/api\/v1\/streams",status="201"\} 1/);
    assert.match(
      text,
      /cascade_api_requests_total\{route="\/api\/v1\/streams\/:name",status="404"\} 1/,
    );
  }],
];
