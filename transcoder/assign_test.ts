import assert from "node:assert/strict";
import type { StreamRecord } from "@cascade/registry/types";
import { ownedSources, wantedRungs } from "./assign.ts";

function stream(name: string): StreamRecord {
  return {
    name,
    originId: "o1",
    originUrl: "http://o1.test:8081",
    manifest: `http://o1.test:8081/live/${name}/index.m3u8`,
    startedAt: 1,
    updatedAt: 1,
    targetDuration: 2,
    mediaSequence: 0,
  };
}

const names = Array.from({ length: 60 }, (_, i) => `cam${i}`);
const streams = [...names.map(stream), stream("cam0_240p"), stream("cam1_480p")];

Deno.test("ownedSources() gives every source to exactly one transcoder and skips renditions", () => {
  const nodes = [{ id: "t1" }, { id: "t2" }, { id: "t3" }];
  const owned = nodes.map((n) => ownedSources(streams, nodes, n.id));
  const all = owned.flatMap((m) => [...m.keys()]).sort();
  assert.deepEqual(all, [...names].sort());
  for (const m of owned) assert.ok(m.size > 5, "each node gets a share");
});

Deno.test("ownedSources() counts this node before its heartbeat is listed, and a leaving node's streams move", () => {
  assert.equal(ownedSources(streams, [], "t1").size, names.length);
  const three = ownedSources(streams, [{ id: "t1" }, { id: "t2" }, { id: "t3" }], "t1");
  const two = ownedSources(streams, [{ id: "t1" }, { id: "t2" }], "t1");
  for (const name of three.keys()) assert.ok(two.has(name), "t1 keeps what it had");
  assert.ok(two.size > three.size, "and takes some of t3's");
  assert.equal(two.get(names.find((n) => two.has(n))!)?.originUrl, "http://o1.test:8081");
});

Deno.test("wantedRungs() keeps the rungs below the source's height, all while it is unknown", () => {
  assert.deepEqual(wantedRungs("cam", "480p,240p", 720).map((r) => r.name), ["480p", "240p"]);
  assert.deepEqual(wantedRungs("cam", "480p,240p", 360).map((r) => r.name), ["240p"]);
  assert.deepEqual(wantedRungs("cam", "480p,240p", null).map((r) => r.name), ["480p", "240p"]);
  assert.deepEqual(wantedRungs("cam", "none", 1080), []);
  assert.deepEqual(wantedRungs("c".repeat(60), "240p", 720), [], "name too long");
});
