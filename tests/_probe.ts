import { Redis } from "ioredis";
import { startRedis } from "./helpers/redis.ts";
const t0 = performance.now();
const s = await startRedis();
console.log("started in", (performance.now() - t0).toFixed(0));
const c = new Redis(s.url, {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  commandTimeout: 1500,
  retryStrategy: (n) => Math.min(n * 100, 1000),
});
for (const ev of ["connect", "ready", "close", "reconnecting", "end", "error"]) {
  c.on(
    ev,
    (a: unknown) =>
      console.log(
        (performance.now() - t0).toFixed(0),
        "ev",
        ev,
        a instanceof Error ? a.message : a,
      ),
  );
}
console.log("before-ready set:", await c.set("a", "1").catch((e) => "ERR " + e.message));
await new Promise((r) => c.once("ready", r));
console.log(await c.set("a", "1"), c.status);
const sub = new Redis(s.url, {
  maxRetriesPerRequest: 0,
  retryStrategy: (n) => Math.min(n * 100, 1000),
});
sub.on("message", (ch, m) => console.log("msg", ch, m));
sub.on("error", () => {});
console.log(await sub.subscribe("x", "__keyevent@0__:expired"));
await c.publish("x", "hello");
await c.set("e", "1", "PX", 50);
await new Promise((r) => setTimeout(r, 300));
await s.kill();
console.log("killed at", (performance.now() - t0).toFixed(0));
for (let i = 0; i < 3; i++) {
  const a = performance.now();
  const r = await c.get("a").catch((e) => `ERR ${e.constructor.name} ${e.message}`);
  console.log("call", i, r, (performance.now() - a).toFixed(0), c.status);
  await new Promise((r) => setTimeout(r, 200));
}
await s.restart();
console.log("restarted at", (performance.now() - t0).toFixed(0));
await new Promise((r) => setTimeout(r, 1500));
console.log(await c.get("a"), c.status);
await c.publish("x", "again");
await new Promise((r) => setTimeout(r, 200));
c.disconnect();
sub.disconnect();
await s[Symbol.asyncDispose]();
