import assert from "node:assert/strict";
import { Hono } from "hono";
import { MetricsRegistry, PROMETHEUS_CONTENT_TYPE } from "./metrics.ts";
import { createOpsApp, type HealthStatus } from "./ops.ts";

Deno.test("createOpsApp() answers /healthz with status, role, id and whole seconds of uptime", async () => {
  const clock = { now: 1_000_000 };
  const app = createOpsApp({
    role: "edge",
    id: "edge-a",
    metrics: new MetricsRegistry(),
    now: () => clock.now,
  });
  clock.now += 12_900;
  const res = await app.request("/healthz");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-cache");
  assert.deepEqual(await res.json(), {
    status: "ok",
    role: "edge",
    id: "edge-a",
    uptimeSeconds: 12,
  });
});

Deno.test("createOpsApp() answers 503 with the status while draining or unhealthy", async () => {
  let status: HealthStatus = "draining";
  const app = createOpsApp({
    role: "origin",
    id: "o1",
    metrics: new MetricsRegistry(),
    status: () => status,
    startedAt: 0,
    now: () => 5000,
  });
  const draining = await app.request("/healthz");
  assert.equal(draining.status, 503);
  assert.deepEqual(await draining.json(), {
    status: "draining",
    role: "origin",
    id: "o1",
    uptimeSeconds: 5,
  });
  status = "unhealthy";
  const down = await app.request("/healthz");
  assert.equal(down.status, 503);
  assert.equal((await down.json()).status, "unhealthy");
  status = "ok";
  assert.equal((await app.request("/healthz")).status, 200);
});

Deno.test("createOpsApp() reads a lazy id on every request", async () => {
  let id = "host:0";
  const app = createOpsApp({ role: "edge", id: () => id, metrics: new MetricsRegistry() });
  id = "host:8123";
  assert.equal((await (await app.request("/healthz")).json()).id, "host:8123");
});

Deno.test("createOpsApp() serves the registry as Prometheus text on /metrics", async () => {
  const metrics = new MetricsRegistry();
  metrics.counter("jobs_total", "Jobs done").labels().inc(3);
  const app = createOpsApp({ role: "api", id: "api-1", metrics });
  const res = await app.request("/metrics");
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), PROMETHEUS_CONTENT_TYPE);
  assert.match(await res.text(), /^jobs_total 3$/m);
});

Deno.test("createOpsApp() answers HEAD without a body and other methods with 405", async () => {
  const app = createOpsApp({ role: "api", id: "api-1", metrics: new MetricsRegistry() });
  const head = await app.request("/healthz", { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  for (const path of ["/healthz", "/metrics"]) {
    const res = await app.request(path, { method: "POST" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
    assert.equal((await res.json()).error.code, "method_not_allowed");
  }
});

Deno.test("createOpsApp() mounted beside other routes leaves them alone", async () => {
  const app = new Hono();
  app.route("/", createOpsApp({ role: "api", id: "api-1", metrics: new MetricsRegistry() }));
  app.get("/other", (c) => c.text("other"));
  assert.equal(await (await app.request("/other")).text(), "other");
  assert.equal((await app.request("/healthz")).status, 200);
});
