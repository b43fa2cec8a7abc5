/**
 * `api/main.ts` as a process: configuration errors end it with exit code 2 and one line
 * naming the variable; with Redis it serves the API beside `/healthz` and `/metrics`, keeps
 * state in Redis, and stops cleanly on SIGTERM.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { quietLog } from "../lib/common/testing/log.ts";
import { RedisRegistry } from "@cascade/registry/redis";
import { freePort } from "./helpers/ports.ts";
import { runProcess, startProcess } from "./helpers/process.ts";
import { startRedis } from "./helpers/redis.ts";

const MAIN = fileURLToPath(new URL("../api/main.ts", import.meta.url));
const ADMIN_TOKEN = "main-admin-token-0123456789";

async function runMain(env: Record<string, string>) {
  return await runProcess(Deno.execPath(), ["run", "-A", MAIN], {
    env: { NO_COLOR: "1", ...env },
    timeoutMs: 60_000,
  });
}

Deno.test("api/main.ts exits 2 with one line when REDIS_URL is missing or a variable is invalid", async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /^Invalid REDIS_URL: required: the API runs as a lone role and needs Redis/],
    [
      { REDIS_URL: "redis://127.0.0.1:1", API_ADMIN_TOKEN: "short" },
      /^Invalid API_ADMIN_TOKEN: must be at least 16 characters/,
    ],
    [
      { REDIS_URL: "redis://127.0.0.1:1", REGION_CIDRS: "10.0.0.0/33=eu" },
      /^Invalid REGION_CIDRS: entry 1 needs a prefix length/,
    ],
  ];
  for (const [env, like] of cases) {
    const r = await runMain(env);
    assert.equal(r.code, 2, r.stderr);
    const out = r.stderr.trim();
    assert.equal(out.split("\n").length, 1, out);
    assert.match(out, like);
  }
});

Deno.test("api/main.ts serves the API, /healthz and /metrics over Redis and stops on SIGTERM", async () => {
  await using redis = await startRedis();
  const port = freePort();
  await using api = await startProcess(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: {
      REDIS_URL: redis.url,
      REDIS_PREFIX: "main:",
      API_HOST: "127.0.0.1",
      API_PORT: String(port),
      API_ADMIN_TOKEN: ADMIN_TOKEN,
      NODE_ID: "api-1",
      LOG_FORMAT: "json",
    },
    readyLine: /"event":"http\.listening"/,
    timeoutMs: 60_000,
  });
  const base = `http://127.0.0.1:${port}`;
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);
  const body = await health.json();
  assert.deepEqual({ ...body, uptimeSeconds: 0 }, {
    status: "ok",
    role: "api",
    id: "api-1",
    uptimeSeconds: 0,
  });
  assert.ok(Number.isInteger(body.uptimeSeconds) && body.uptimeSeconds >= 0);
  assert.match(api.output, /"event":"api\.hooks_disabled"/);

  const created = await fetch(`${base}/api/v1/streams`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "cam1", record: true }),
  });
  assert.equal(created.status, 201);
  const { streamKey } = await created.json();
  const registry = new RedisRegistry({ url: redis.url, prefix: "main:", log: quietLog });
  try {
    const cfg = await registry.getStreamConfig("cam1");
    assert.equal(cfg?.record, true);
    assert.notEqual(cfg?.keyHash, streamKey);
  } finally {
    await registry.close();
  }

  const hook = await fetch(`${base}/api/v1/hooks/publish`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ app: "live", key: streamKey, clientIp: "1.2.3.4", originId: "o1" }),
  });
  assert.equal(hook.status, 503, "hooks refuse until HOOK_TOKEN is set");
  await hook.body?.cancel();

  const notFound = await fetch(`${base}/nope`);
  assert.equal(notFound.status, 404);
  assert.equal((await notFound.json()).error.code, "not_found");

  const metrics = await fetch(`${base}/metrics`);
  assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  assert.match(
    await metrics.text(),
    /cascade_api_requests_total\{route="\/api\/v1\/streams",status="201"\} 1/,
  );
  assert.ok(!api.output.includes(streamKey), "the key must not be logged");
  assert.ok(!api.output.includes(ADMIN_TOKEN), "the admin token must not be logged");

  const status = await api.stop("SIGTERM", 10_000);
  assert.equal(status.code, 0, api.output.slice(-2000));
  assert.match(api.output, /"event":"shutdown\.done"/);
});
