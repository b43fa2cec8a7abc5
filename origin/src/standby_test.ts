/**
 * `StandbyWatch` and `refuseWhenLiveElsewhere` over a `MemoryRegistry`: a fresh primary is
 * left alone, a stale one is taken over exactly (continuation first, then a claim replacing
 * that record), a claim that ended is taken with the last record read, and with standby off
 * a second encoder is refused while the first one's claim is fresh.
 */
import assert from "node:assert/strict";
import type { Continuation } from "@cascade/media/hls/segmenter";
import { MemoryRegistry } from "@cascade/registry/memory";
import type { Replacing } from "@cascade/registry";
import { quietLog } from "../../lib/common/testing/log.ts";
import { streamRecord } from "../../lib/registry/testing/records.ts";
import { refusesConnections, refuseWhenLiveElsewhere, StandbyWatch } from "./standby.ts";

const T = 1_700_000_000_000;

function setup(refuses: (url: string) => Promise<boolean> = () => Promise.resolve(false)) {
  const registry = new MemoryRegistry({ log: quietLog });
  const calls: string[] = [];
  const clock = { now: T };
  const watch = new StandbyWatch({
    registry,
    originId: "o2",
    log: quietLog,
    checkMs: 3_600_000, // checked by hand
    now: () => clock.now,
    refuses,
    continueFrom(name: string, c: Continuation) {
      calls.push(
        `continue ${name} ${c.lastSequence} ${c.discontinuitySequence} ${c.targetDuration}`,
      );
      return Promise.resolve(true);
    },
    async takeOver(name: string, replacing?: Replacing) {
      calls.push(
        `take ${name} ${replacing ? `${replacing.originId}@${replacing.updatedAt}` : "-"}`,
      );
      const r = await registry.claimStream(
        streamRecord(name, "o2", { updatedAt: clock.now }),
        10_000,
        replacing ? { replacing } : {},
      );
      return r.ok;
    },
  });
  return { registry, calls, clock, watch };
}

Deno.test("StandbyWatch leaves a fresh primary alone and takes a stale one over, continuing it", async () => {
  const { registry, calls, clock, watch } = setup();
  const primary = streamRecord("cam", "o1", {
    updatedAt: T,
    targetDuration: 3,
    lastSequence: 90,
    discontinuitySequence: 2,
  });
  await registry.claimStream(primary, 10_000);
  watch.refused("cam", primary);
  clock.now = T + 3_900; // within a target duration and a second
  await watch.check();
  assert.deepEqual(calls, []);

  clock.now = T + 4_100;
  await watch.check();
  assert.deepEqual(calls, ["continue cam 90 2 3", `take cam o1@${T}`]);
  assert.equal((await registry.getStream("cam"))?.originId, "o2");
  await watch.check();
  assert.equal(calls.length, 2, "nothing more to watch once taken over");
  watch.stop();
  await registry.close();
});

Deno.test("StandbyWatch takes a name whose claim ended, continuing the last record it read", async () => {
  const { registry, calls, watch } = setup();
  const primary = streamRecord("cam", "o1", { updatedAt: T, lastSequence: 12 });
  await registry.claimStream(primary, 10_000);
  watch.refused("cam", primary);
  await registry.releaseStream("cam", "o1");
  await watch.check();
  assert.deepEqual(calls, ["continue cam 12 0 2", "take cam -"]);
  watch.stop();
  await registry.close();
});

Deno.test("StandbyWatch without a sequence to continue (nginx-rtmp's record) only claims", async () => {
  const { registry, calls, clock, watch } = setup();
  const primary = streamRecord("cam", "o1", { updatedAt: T });
  await registry.claimStream(primary, 10_000);
  watch.refused("cam", primary);
  clock.now = T + 60_000;
  await watch.check();
  assert.deepEqual(calls, [`take cam o1@${T}`]);
  watch.stop();
  await registry.close();
});

Deno.test("refuseWhenLiveElsewhere() refuses a name live on a fresh claim elsewhere, and only that", async () => {
  const registry = new MemoryRegistry({ log: quietLog });
  const clock = { now: T };
  const open = {
    mode: "open" as const,
    authorize: () => Promise.resolve({ ok: true as const, name: "cam" }),
  };
  const auth = refuseWhenLiveElsewhere(open, registry, "o2", () => clock.now);
  const req = { app: "live", key: "cam", clientIp: "127.0.0.1", originId: "o2" };
  assert.deepEqual(await auth.authorize(req), { ok: true, name: "cam" }, "nobody holds it");
  await registry.claimStream(streamRecord("cam", "o1", { updatedAt: T }), 10_000);
  const refused = await auth.authorize(req);
  assert.equal(refused.ok, false);
  assert.match(!refused.ok ? refused.reason : "", /live on origin o1.*ORIGIN_STANDBY=false/);
  clock.now = T + 10_000; // o1's playlist stopped: its encoder may be moving here
  assert.equal((await auth.authorize(req)).ok, true);
  await registry.close();
  assert.equal((await auth.authorize(req)).ok, true, "a registry outage never blocks a publish");
});

Deno.test("StandbyWatch takes a fresh primary over at once when its origin refuses connections, probing each origin once", async () => {
  const probed: string[] = [];
  const { registry, calls, watch } = setup((url) => {
    probed.push(url);
    return Promise.resolve(url === "http://o1");
  });
  for (const [name, origin] of [["a", "o1"], ["b", "o1"], ["c", "o3"]] as const) {
    const record = streamRecord(name, origin, {
      updatedAt: T,
      lastSequence: 5,
      originUrl: `http://${origin}`,
    });
    await registry.claimStream(record, 10_000);
    watch.refused(name, record);
  }
  await watch.check();
  assert.deepEqual(probed.sort(), ["http://o1", "http://o3"], "one probe per origin");
  assert.deepEqual(calls, [
    "continue a 5 0 2",
    "take a o1@" + T,
    "continue b 5 0 2",
    "take b o1@" + T,
  ]);
  assert.equal((await registry.getStream("c"))?.originId, "o3", "a live origin keeps its claim");
  watch.stop();
  await registry.close();
});

Deno.test("refusesConnections() is true only when nothing listens", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  assert.equal(await refusesConnections(`http://127.0.0.1:${port}`), true);
  await using server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("ok"),
  );
  assert.equal(await refusesConnections(`http://127.0.0.1:${server.addr.port}`), false);
});
