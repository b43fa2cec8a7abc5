import assert from "node:assert/strict";
import { z } from "zod";
import {
  ConfigError,
  fields,
  loadConfig,
  loggingShape,
  nodeId,
  nodeShape,
  redisShape,
} from "./config.ts";

const shared = z.object({ ...redisShape, ...nodeShape, ...loggingShape });

Deno.test("the shared shapes have the defaults of docs/architecture.md", () => {
  assert.deepEqual(loadConfig(shared, {}), {
    REDIS_PREFIX: "cascade:",
    REGION: "local",
    LOG_LEVEL: "info",
    LOG_FORMAT: "pretty",
  });
});

for (
  const [env, like] of [
    [{ REDIS_URL: "http://x" }, /^Invalid REDIS_URL: must be a redis:\/\/ or rediss:\/\/ URL/],
    [{ NODE_ID: "a b" }, /^Invalid NODE_ID: must be 1-128 of/],
    [{ REGION: "eu west" }, /^Invalid REGION: must be 1-64 of/],
    [{ REGION: "-eu" }, /^Invalid REGION: .*starting with a letter or digit/],
    [{ LOG_LEVEL: "trace" }, /^Invalid LOG_LEVEL/],
  ] as const
) {
  Deno.test(`the shared shapes refuse ${JSON.stringify(env)} with one line`, () => {
    assert.throws(
      () => loadConfig(shared, env),
      (err) => err instanceof ConfigError && like.test(err.message) && !err.message.includes("\n"),
    );
  });
}

Deno.test("fields.requiredRedisUrl() says who needs Redis when it is missing", () => {
  const schema = z.object({ REDIS_URL: fields.requiredRedisUrl("the edge") });
  assert.throws(
    () => loadConfig(schema, {}),
    /^ConfigError: Invalid REDIS_URL: required: the edge runs as a lone role and needs Redis/,
  );
  assert.throws(() => loadConfig(schema, { REDIS_URL: "redis//x" }), /must be a redis:\/\//);
  assert.equal(loadConfig(schema, { REDIS_URL: "rediss://r:6380" }).REDIS_URL, "rediss://r:6380");
});

Deno.test("fields.httpUrl() takes http(s) base URLs, drops trailing slashes, refuses others", () => {
  const schema = z.object({ URL: fields.httpUrl().optional() });
  assert.equal(
    loadConfig(schema, { URL: "https://a.example.com/base//" }).URL,
    "https://a.example.com/base",
  );
  for (const bad of ["ftp://a", "a.example.com", "http://a/?q=1", "http://a/#x"]) {
    assert.throws(
      () => loadConfig(schema, { URL: bad }),
      /^ConfigError: Invalid URL: must be an http/,
    );
  }
});

Deno.test("nodeId() is NODE_ID when set, else hostname and port", () => {
  assert.equal(nodeId(undefined, 8123), `${Deno.hostname()}:8123`);
  assert.equal(nodeId("edge-a", 8123), "edge-a");
});
