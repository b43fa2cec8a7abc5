import assert from "node:assert/strict";
import type { NodeRecord } from "@cascade/registry/types";
import { rankEdges } from "./edge_selection.ts";
import { rankByRendezvous } from "./rendezvous.ts";

function edge(id: string, region: string, load = 0): NodeRecord {
  return { id, kind: "edge", url: `http://${id}:8000`, region, load, startedAt: 0 };
}

const ids = (edges: NodeRecord[]) => edges.map((e) => e.id);

Deno.test("rankEdges() prefers the viewer's region, then other regions", () => {
  const edges = [edge("eu1", "eu"), edge("us1", "us"), edge("eu2", "eu"), edge("us2", "us")];
  for (let i = 0; i < 20; i++) {
    const name = `cam${i}`;
    const ranked = ids(rankEdges(edges, name, { region: "eu" }));
    assert.deepEqual(new Set(ranked.slice(0, 2)), new Set(["eu1", "eu2"]));
    assert.deepEqual(new Set(ranked.slice(2)), new Set(["us1", "us2"]));
    assert.deepEqual(
      ranked.slice(0, 2),
      ids(rankByRendezvous(edges.slice(0, 3), name)).filter((id) => id.startsWith("eu")),
    );
  }
});

Deno.test("rankEdges() skips edges above the load threshold while others are left", () => {
  const edges = [edge("eu1", "eu", 90), edge("eu2", "eu", 10), edge("us1", "us", 10)];
  assert.deepEqual(ids(rankEdges(edges, "cam1", { region: "eu", loadThreshold: 50 })), [
    "eu2",
    "us1",
    "eu1",
  ]);
  // At the threshold still counts as usable.
  assert.equal(rankEdges(edges, "cam1", { region: "eu", loadThreshold: 90 }).length, 3);
  const busy = [edge("eu1", "eu", 90), edge("us1", "us", 95)];
  assert.deepEqual(ids(rankEdges(busy, "cam1", { region: "us", loadThreshold: 50 })), [
    "us1",
    "eu1",
  ]);
});

Deno.test("rankEdges() without a region hashes over every usable edge", () => {
  const edges = [edge("a", "eu"), edge("b", "us"), edge("c", "ap", 999)];
  const ranked = ids(rankEdges(edges, "cam1", { loadThreshold: 100 }));
  assert.deepEqual(ranked.slice(0, 2), ids(rankByRendezvous(edges.slice(0, 2), "cam1")));
  assert.equal(ranked[2], "c");
  assert.deepEqual(rankEdges([], "cam1", { region: "eu" }), []);
});

Deno.test("rankEdges(): an edge crossing the threshold moves only the streams it had", () => {
  const calm = [edge("e1", "eu"), edge("e2", "eu"), edge("e3", "eu")];
  const hot = [edge("e1", "eu", 500), edge("e2", "eu"), edge("e3", "eu")];
  for (let i = 0; i < 200; i++) {
    const name = `s${i}`;
    const before = rankEdges(calm, name, { region: "eu", loadThreshold: 100 })[0]!.id;
    const after = rankEdges(hot, name, { region: "eu", loadThreshold: 100 })[0]!.id;
    if (before !== "e1") assert.equal(after, before);
    else assert.notEqual(after, "e1");
  }
});
