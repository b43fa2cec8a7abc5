import assert from "node:assert/strict";
import * as v from "valibot";
import {
  ConfigError,
  envCheck,
  fields,
  loadConfig,
  loggingShape,
  nodeId,
  nodeShape,
  redisServer,
  redisShape,
  requireRedis,
} from "./config.ts";

const shared = v.object({ ...redisShape, ...nodeShape, ...loggingShape });

Deno.test("the shared shapes have the defaults of docs/architecture.md", () => {
  assert.deepEqual(loadConfig(shared, {}), {
    REDIS_PREFIX: "cascade:",
    REDIS_SENTINEL_MASTER: "mymaster",
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

Deno.test("requireRedis() says who needs Redis when neither REDIS_URL nor REDIS_SENTINELS is set", () => {
  const schema = v.pipe(v.object(redisShape), requireRedis("the edge"));
  assert.throws(
    () => loadConfig(schema, {}),
    /^ConfigError: Invalid REDIS_URL: required: the edge runs as a lone role and needs Redis/,
  );
  assert.throws(() => loadConfig(schema, { REDIS_URL: "redis//x" }), /must be a redis:\/\//);
  assert.equal(loadConfig(schema, { REDIS_URL: "rediss://r:6380" }).REDIS_URL, "rediss://r:6380");
  assert.deepEqual(loadConfig(schema, { REDIS_SENTINELS: "s1:26379" }).REDIS_SENTINELS, [
    { host: "s1", port: 26379 },
  ]);
});

Deno.test("REDIS_SENTINELS takes host:port lists, IPv6 in brackets", () => {
  const schema = v.object(redisShape);
  assert.deepEqual(
    loadConfig(schema, { REDIS_SENTINELS: "10.0.0.1:26379, sentinel-2:26380,[::1]:26381" })
      .REDIS_SENTINELS,
    [
      { host: "10.0.0.1", port: 26379 },
      { host: "sentinel-2", port: 26380 },
      { host: "::1", port: 26381 },
    ],
  );
});

for (
  const bad of ["s1", "s1:", ":26379", "s1:0", "s1:70000", "s1:26379,", "s 1:26379", "::1:26379"]
) {
  Deno.test(`REDIS_SENTINELS refuses ${JSON.stringify(bad)} naming the entry`, () => {
    assert.throws(
      () => loadConfig(v.object(redisShape), { REDIS_SENTINELS: bad }),
      (err) =>
        err instanceof ConfigError &&
        /^Invalid REDIS_SENTINELS: must be a comma-separated list of host:port, port 1-65535: bad entry "/
          .test(err.message) &&
        !err.message.includes("\n"),
    );
  });
}

Deno.test("redisServer() prefers the Sentinel group to REDIS_URL, and is empty without either", () => {
  const schema = v.object(redisShape);
  assert.deepEqual(redisServer(loadConfig(schema, {})), {});
  assert.deepEqual(redisServer(loadConfig(schema, { REDIS_URL: "redis://r:6379" })), {
    url: "redis://r:6379",
  });
  assert.deepEqual(
    redisServer(loadConfig(schema, {
      REDIS_URL: "redis://r:6379",
      REDIS_SENTINELS: "s1:26379,s2:26379",
      REDIS_SENTINEL_MASTER: "cascade",
      REDIS_PASSWORD: "master-secret",
      REDIS_SENTINEL_PASSWORD: "sentinel-secret",
    })),
    {
      sentinel: {
        sentinels: [{ host: "s1", port: 26379 }, { host: "s2", port: 26379 }],
        name: "cascade",
        password: "master-secret",
        sentinelPassword: "sentinel-secret",
      },
    },
  );
  assert.throws(
    () => loadConfig(schema, { REDIS_SENTINEL_MASTER: "my master" }),
    /^ConfigError: Invalid REDIS_SENTINEL_MASTER: must be 1-128 of/,
  );
});

Deno.test("loadConfig() never echoes a secret, nor a URL's credentials", () => {
  const schema = v.object({
    REDIS_PASSWORD: v.pipe(v.string(), v.maxLength(3)),
    HOOK_TOKEN: v.pipe(v.string(), v.minLength(40)),
    REDIS_URL: v.pipe(v.string(), v.regex(/^redis:\/\/\S+$/)),
  });
  const valid = { REDIS_PASSWORD: "abc", HOOK_TOKEN: "x".repeat(40), REDIS_URL: "redis://r" };
  for (
    const [env, secret] of [
      [{ ...valid, REDIS_PASSWORD: "hunter2-long" }, "hunter2"],
      [{ ...valid, HOOK_TOKEN: "short-token" }, "short-token"],
      [{ ...valid, REDIS_URL: "redis://user:pa55word@host:6379/0 x" }, "pa55word"],
    ] as const
  ) {
    assert.throws(
      () => loadConfig(schema, env),
      (err) => err instanceof ConfigError && !err.message.includes(secret),
    );
  }
  assert.throws(() => loadConfig(schema, { ...valid, REDIS_URL: "x" }), /\(got "x"\)$/);
});

Deno.test("fields.httpUrl() takes http(s) base URLs, drops trailing slashes, refuses others", () => {
  const schema = v.object({ URL: v.optional(fields.httpUrl()) });
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

Deno.test("fields.number() and fields.integer() read a variable's text and name what is wrong", () => {
  const schema = v.object({
    SIZE: v.optional(fields.integer(2, 1000), "6"),
    SECONDS: v.optional(fields.number(0.5, 30)),
    FLAG: fields.bool(false),
  });
  assert.deepEqual(loadConfig(schema, {}), { SIZE: 6, FLAG: false });
  assert.deepEqual(loadConfig(schema, { SIZE: "12", SECONDS: "0.5", FLAG: "yes" }), {
    SIZE: 12,
    SECONDS: 0.5,
    FLAG: true,
  });
  for (
    const [env, message] of [
      [{ SIZE: "abc" }, 'Invalid SIZE: must be a number (got "abc")'],
      [{ SIZE: "2.5" }, 'Invalid SIZE: must be an integer (got "2.5")'],
      [{ SIZE: "1" }, 'Invalid SIZE: must be at least 2 (got "1")'],
      [{ SECONDS: "31" }, 'Invalid SECONDS: must be at most 30 (got "31")'],
      [
        { FLAG: "maybe" },
        'Invalid FLAG: must be one of "true" | "false" | "1" | "0" | "yes" | "no" (got "maybe")',
      ],
    ] as const
  ) {
    assert.throws(() => loadConfig(schema, env), { name: "ConfigError", message });
  }
});

Deno.test("loadConfig() calls a missing required variable required", () => {
  const schema = v.object({ S3_BUCKET: v.pipe(v.string(), v.minLength(3)) });
  assert.throws(() => loadConfig(schema, { S3_BUCKET: "" }), {
    name: "ConfigError",
    message: "Invalid S3_BUCKET: required",
  });
});

Deno.test("envCheck() names its variable and runs only once every variable is valid", () => {
  const schema = v.pipe(
    v.object({ LOW: fields.integer(), HIGH: fields.integer() }),
    envCheck("LOW", (c) => c.LOW > c.HIGH ? `must not exceed HIGH (${c.HIGH})` : undefined),
  );
  assert.deepEqual(loadConfig(schema, { LOW: "1", HIGH: "2" }), { LOW: 1, HIGH: 2 });
  assert.throws(() => loadConfig(schema, { LOW: "3", HIGH: "2" }), {
    message: 'Invalid LOW: must not exceed HIGH (2) (got "3")',
  });
  assert.throws(() => loadConfig(schema, { LOW: "3", HIGH: "x" }), {
    message: 'Invalid HIGH: must be a number (got "x")',
  });
});

Deno.test("nodeId() is NODE_ID when set, else hostname and port", () => {
  assert.equal(nodeId(undefined, 8123), `${Deno.hostname()}:8123`);
  assert.equal(nodeId("edge-a", 8123), "edge-a");
});
