import assert from "node:assert/strict";
import { quietLog } from "../../lib/common/testing/log.ts";
import { MemoryRegistry } from "@cascade/registry/memory";
import { MetricsRegistry } from "@cascade/common/metrics";
import { createApiAuthorizerFor } from "./publish.ts";
import { generateStreamKey, hashStreamKey, STREAM_KEY_RE } from "./stream_keys.ts";

Deno.test("generateStreamKey() makes distinct sk_ keys of 32 random bytes", () => {
  const keys = new Set(Array.from({ length: 200 }, generateStreamKey));
  assert.equal(keys.size, 200);
  for (const key of keys) {
    assert.match(key, STREAM_KEY_RE);
    assert.equal(atob(key.slice(3).replaceAll("-", "+").replaceAll("_", "/") + "=").length, 32);
  }
});

async function setup() {
  const registry = new MemoryRegistry({ log: quietLog });
  const key = generateStreamKey();
  await registry.putStreamConfig({
    name: "cam1",
    keyHash: await hashStreamKey(key),
    createdAt: 0,
    disabled: false,
    record: false,
  });
  return { registry, key };
}

const request = (key: string, clientIp = "198.51.100.1") => ({
  app: "live",
  key,
  clientIp,
  originId: "local",
});

Deno.test("createApiAuthorizerFor() answers like the publish hook, in process", async () => {
  const { registry, key } = await setup();
  try {
    const metrics = new MetricsRegistry();
    const auth = createApiAuthorizerFor(registry, { log: quietLog, metrics });
    assert.equal(auth.mode, "api");
    assert.deepEqual(await auth.authorize(request(key)), { ok: true, name: "cam1" });
    assert.deepEqual(await auth.authorize(request("sk_wrong")), {
      ok: false,
      reason: "Unknown stream key",
    });
    const cfg = (await registry.getStreamConfig("cam1"))!;
    await registry.putStreamConfig({ ...cfg, disabled: true });
    assert.deepEqual(await auth.authorize(request(key)), {
      ok: false,
      reason: "Stream is disabled",
    });
    assert.match(
      metrics.render(),
      /cascade_api_publish_decisions_total\{result="stream_disabled"\} 1/,
    );
    registry.setOnline(false);
    const down = await auth.authorize(request(key));
    assert.equal(down.ok, false);
    assert.match(!down.ok ? down.reason : "", /Registry unavailable/);
  } finally {
    await registry.close();
  }
});

Deno.test("createApiAuthorizerFor() throttles an address that keeps guessing", async () => {
  const { registry, key } = await setup();
  try {
    let now = 0;
    const auth = createApiAuthorizerFor(registry, {
      log: quietLog,
      failureLimit: 2,
      failureWindowMs: 1000,
      now: () => now,
    });
    await auth.authorize(request("sk_a", "203.0.113.9"));
    await auth.authorize(request("sk_b", "203.0.113.9"));
    const blocked = await auth.authorize(request(key, "203.0.113.9"));
    assert.deepEqual(blocked, {
      ok: false,
      reason: "Too many failed publish attempts from this address",
    });
    assert.equal((await auth.authorize(request(key, "203.0.113.10"))).ok, true);
    now = 1000;
    assert.equal((await auth.authorize(request(key, "203.0.113.9"))).ok, true);
  } finally {
    await registry.close();
  }
});
