import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "@cascade/common/config";
import { apiConfigSchema, apiProcessConfigSchema } from "./config.ts";

Deno.test("apiConfigSchema has docs/architecture.md's defaults", () => {
  const config = loadConfig(apiConfigSchema, {});
  assert.equal(config.API_PORT, 8080);
  assert.equal(config.API_HOST, "0.0.0.0");
  assert.equal(config.REDIS_PREFIX, "cascade:");
  assert.equal(config.REDIS_URL, undefined);
  assert.equal(config.API_ADMIN_TOKEN, undefined);
  assert.equal(config.HOOK_TOKEN, undefined);
  assert.equal(config.PLAYBACK_SIGNING_KEY, undefined);
  assert.equal(config.PLAYBACK_API_TOKEN, undefined);
  assert.equal(config.PLAYBACK_TOKEN_TTL_SECONDS, 21_600);
  assert.equal(config.PLAYBACK_TOKEN_MAX_TTL_SECONDS, 86_400);
  assert.equal(config.EDGE_LOAD_THRESHOLD, undefined);
  assert.equal(config.REGION_CIDRS.size, 0);
  assert.deepEqual(config.RTMP_INGEST_URLS, []);
  assert.equal(config.TRUST_PROXY, false);
  assert.equal(config.LOG_LEVEL, "info");
});

Deno.test("apiConfigSchema parses every variable", () => {
  const config = loadConfig(apiConfigSchema, {
    REDIS_URL: "redis://10.0.0.1:6379/2",
    REDIS_PREFIX: "c2:",
    API_PORT: "9090",
    API_PUBLIC_URL: "https://api.example.com/",
    API_ADMIN_TOKEN: "a".repeat(16),
    HOOK_TOKEN: "h".repeat(40),
    PLAYBACK_SIGNING_KEY: "k".repeat(32),
    PLAYBACK_TOKEN_TTL_SECONDS: "600",
    PLAYBACK_TOKEN_MAX_TTL_SECONDS: "3600",
    PLAYBACK_API_TOKEN: "p".repeat(16),
    EDGE_LOAD_THRESHOLD: "0.8",
    REGION_CIDRS: "10.0.0.0/8=eu,192.168.0.0/16=us",
    DEFAULT_REGION: "eu",
    RTMP_INGEST_URLS: "rtmp://ingest.example.com/live/, rtmps://ingest2.example.com:443/live",
    TRUST_PROXY: "true",
    AUTH_FAILURE_LIMIT: "5",
    LOG_FORMAT: "json",
  });
  assert.equal(config.API_PORT, 9090);
  assert.equal(config.API_PUBLIC_URL, "https://api.example.com");
  assert.equal(config.PLAYBACK_TOKEN_TTL_SECONDS, 600);
  assert.equal(config.PLAYBACK_TOKEN_MAX_TTL_SECONDS, 3600);
  assert.equal(config.PLAYBACK_API_TOKEN, "p".repeat(16));
  assert.equal(config.EDGE_LOAD_THRESHOLD, 0.8);
  assert.equal(config.REGION_CIDRS.lookup("192.168.3.4"), "us");
  assert.deepEqual(config.RTMP_INGEST_URLS, [
    "rtmp://ingest.example.com/live",
    "rtmps://ingest2.example.com:443/live",
  ]);
  assert.equal(config.TRUST_PROXY, true);
  assert.equal(config.AUTH_FAILURE_LIMIT, 5);
});

Deno.test("apiConfigSchema names the variable and the problem in one line", () => {
  const bad: [Record<string, string>, RegExp][] = [
    [{ API_PORT: "70000" }, /^Invalid API_PORT: /],
    [{ API_ADMIN_TOKEN: "short" }, /^Invalid API_ADMIN_TOKEN: must be at least 16 characters/],
    [{ HOOK_TOKEN: "short" }, /^Invalid HOOK_TOKEN: must be at least 16/],
    [{ PLAYBACK_SIGNING_KEY: "k".repeat(20) }, /^Invalid PLAYBACK_SIGNING_KEY: .*32/],
    [{ PLAYBACK_API_TOKEN: "short" }, /^Invalid PLAYBACK_API_TOKEN: must be at least 16/],
    [{ PLAYBACK_TOKEN_MAX_TTL_SECONDS: "30" }, /^Invalid PLAYBACK_TOKEN_MAX_TTL_SECONDS: /],
    [
      { PLAYBACK_TOKEN_TTL_SECONDS: "172800" },
      /^Invalid PLAYBACK_TOKEN_TTL_SECONDS: must not exceed PLAYBACK_TOKEN_MAX_TTL_SECONDS \(86400\) \(got "172800"\)$/,
    ],
    [
      { REGION_CIDRS: "10.0.0.0/8=eu,bogus=us" },
      /^Invalid REGION_CIDRS: entry 2 has an invalid IP/,
    ],
    [{ RTMP_INGEST_URLS: "http://x/live" }, /^Invalid RTMP_INGEST_URLS: entry 1 must look like/],
    [{ EDGE_LOAD_THRESHOLD: "-1" }, /^Invalid EDGE_LOAD_THRESHOLD/],
    [{ REDIS_URL: "http://x" }, /^Invalid REDIS_URL: must be a redis:\/\//],
    [{ API_PUBLIC_URL: "ftp://x" }, /^Invalid API_PUBLIC_URL/],
    [{ TRUST_PROXY: "maybe" }, /^Invalid TRUST_PROXY/],
  ];
  for (const [env, like] of bad) {
    assert.throws(() => loadConfig(apiConfigSchema, env), (err: Error) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, like);
      assert.ok(!err.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("apiProcessConfigSchema requires REDIS_URL and says why", () => {
  assert.throws(
    () => loadConfig(apiProcessConfigSchema, {}),
    /: Invalid REDIS_URL: required: the API runs as a lone role and needs Redis/,
  );
  const config = loadConfig(apiProcessConfigSchema, { REDIS_URL: "redis://127.0.0.1:6379" });
  assert.equal(config.REDIS_URL, "redis://127.0.0.1:6379");
  assert.throws(
    () =>
      loadConfig(apiProcessConfigSchema, {
        REDIS_URL: "redis://127.0.0.1:6379",
        PLAYBACK_TOKEN_MAX_TTL_SECONDS: "600",
      }),
    /: Invalid PLAYBACK_TOKEN_TTL_SECONDS: must not exceed PLAYBACK_TOKEN_MAX_TTL_SECONDS \(600\)$/,
  );
});
