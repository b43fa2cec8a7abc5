import assert from "node:assert/strict";
import { ConfigError, loadConfig, nodeId } from "@cascade/common/config";
import { edgeConfigSchema, edgeProcessConfigSchema, edgePublicUrl } from "./config.ts";

Deno.test("edgeConfigSchema has the defaults of docs/architecture.md", () => {
  const c = loadConfig(edgeConfigSchema, {});
  assert.equal(c.EDGE_PORT, 8000);
  assert.equal(c.EDGE_CACHE_MB, 512);
  assert.equal(c.REGION, "local");
  assert.equal(c.REDIS_PREFIX, "cascade:");
  assert.equal(c.REDIS_URL, undefined);
  assert.equal(c.PLAYBACK_SIGNING_KEY, undefined);
  assert.equal(c.HTTP_REQUEST_TIMEOUT_SECONDS, 10);
  assert.equal(c.EDGE_HOLD_MARGIN_MS, 2000);
  assert.equal(c.HTTP_MAX_CONNECTIONS, undefined);
  assert.equal(edgePublicUrl(c, 8123), "http://127.0.0.1:8123");
  assert.equal(nodeId(c.NODE_ID, 8123), `${Deno.hostname()}:8123`);
});

Deno.test("edgeConfigSchema trims a trailing slash from EDGE_PUBLIC_URL", () => {
  const c = loadConfig(edgeConfigSchema, { EDGE_PUBLIC_URL: "https://edge1.example.com/" });
  assert.equal(edgePublicUrl(c, 1), "https://edge1.example.com");
});

const bad: [Record<string, string>, RegExp][] = [
  [{}, /^Invalid REDIS_URL: required: the edge runs as a lone role/],
  [{ REDIS_URL: "http://x" }, /^Invalid REDIS_URL: must be a redis/],
  [{ REDIS_URL: "redis://r", EDGE_CACHE_MB: "0" }, /^Invalid EDGE_CACHE_MB/],
  [{ REDIS_URL: "redis://r", EDGE_PORT: "70000" }, /^Invalid EDGE_PORT/],
  [
    { REDIS_URL: "redis://r", PLAYBACK_SIGNING_KEY: "short" },
    /^Invalid PLAYBACK_SIGNING_KEY: must be at least 32/,
  ],
  [{ REDIS_URL: "redis://r", EDGE_PUBLIC_URL: "edge:8000" }, /^Invalid EDGE_PUBLIC_URL/],
  [{ REDIS_URL: "redis://r", NODE_ID: "a b" }, /^Invalid NODE_ID/],
  [{ REDIS_URL: "redis://r", HTTP_MAX_CONNECTIONS: "0" }, /^Invalid HTTP_MAX_CONNECTIONS/],
  [{ REDIS_URL: "redis://r", EDGE_HOLD_MARGIN_MS: "-1" }, /^Invalid EDGE_HOLD_MARGIN_MS/],
];

for (const [env, message] of bad) {
  Deno.test(`edgeProcessConfigSchema refuses ${JSON.stringify(env)} with one line`, () => {
    assert.throws(
      () => loadConfig(edgeProcessConfigSchema, env),
      (err) =>
        err instanceof ConfigError && message.test(err.message) && !err.message.includes("\n"),
    );
  });
}
