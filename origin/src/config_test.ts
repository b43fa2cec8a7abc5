import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "@cascade/common/config";
import { originConfigSchema } from "./config.ts";

Deno.test("originConfigSchema has the defaults of docs/architecture.md", () => {
  const c = loadConfig(originConfigSchema, {});
  assert.equal(c.REDIS_URL, undefined);
  assert.equal(c.REDIS_PREFIX, "cascade:");
  assert.equal(c.REGION, "local");
  assert.equal(c.NODE_ID, undefined);
  assert.equal(c.ORIGIN_HTTP_PORT, 8081);
  assert.equal(c.ORIGIN_PUBLIC_URL, undefined);
  assert.equal(c.API_URL, "http://127.0.0.1:8080");
  assert.equal(c.PUBLISH_AUTH, "api");
  assert.equal(c.HLS_MAX_TARGET_SECONDS, undefined);
  assert.equal(c.HLS_LL, false);
  assert.equal(c.HLS_PART_SECONDS, 0.333);
  assert.equal(c.HLS_LL_MAX_WAITERS, 2000);
  assert.equal(
    loadConfig(originConfigSchema, { HLS_MAX_TARGET_SECONDS: "3" }).HLS_MAX_TARGET_SECONDS,
    3,
  );
});

Deno.test("originConfigSchema trims a trailing slash from ORIGIN_PUBLIC_URL and API_URL", () => {
  const c = loadConfig(originConfigSchema, {
    ORIGIN_PUBLIC_URL: "http://origin-1.example.com:8081/",
    API_URL: "http://api:8080/",
  });
  assert.equal(c.ORIGIN_PUBLIC_URL, "http://origin-1.example.com:8081");
  assert.equal(c.API_URL, "http://api:8080");
});

// The rules the origin shares with the other roles (lib/common/config.ts).
const bad: [Record<string, string>, RegExp][] = [
  [{ REDIS_URL: "http://r:6379" }, /^Invalid REDIS_URL: must be a redis:\/\//],
  [{ REGION: "eu west" }, /^Invalid REGION: must be 1-64 of/],
  [{ NODE_ID: "a b" }, /^Invalid NODE_ID: must be 1-128 of/],
  [{ ORIGIN_PUBLIC_URL: "ftp://origin" }, /^Invalid ORIGIN_PUBLIC_URL: must be an http/],
  [{ HOOK_TOKEN: "short" }, /^Invalid HOOK_TOKEN: must be at least 16 characters/],
  [{ PUBLISH_AUTH: "static" }, /^Invalid PUBLISH_KEYS: required when PUBLISH_AUTH=static/],
  [{ HLS_MAX_TARGET_SECONDS: "2" }, /^Invalid HLS_MAX_TARGET_SECONDS: must be at least 3 /],
  [
    { HLS_SEGMENT_SECONDS: "6", HLS_MAX_TARGET_SECONDS: "6" },
    /^Invalid HLS_MAX_TARGET_SECONDS: must be at least 7 /,
  ],
  [{ HLS_MAX_TARGET_SECONDS: "9.5" }, /^Invalid HLS_MAX_TARGET_SECONDS/],
  [{ HLS_PART_SECONDS: "0.1" }, /^Invalid HLS_PART_SECONDS/],
  [{ HLS_PART_SECONDS: "1.5" }, /^Invalid HLS_PART_SECONDS/],
  [{ HLS_LL_MAX_WAITERS: "0" }, /^Invalid HLS_LL_MAX_WAITERS/],
];

for (const [env, like] of bad) {
  Deno.test(`originConfigSchema refuses ${JSON.stringify(env)} with one line`, () => {
    assert.throws(
      () => loadConfig(originConfigSchema, env),
      (err) => err instanceof ConfigError && like.test(err.message) && !err.message.includes("\n"),
    );
  });
}
