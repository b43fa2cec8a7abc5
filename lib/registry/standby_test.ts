import assert from "node:assert/strict";
import { standbyByName } from "./standby.ts";
import type { NodeRecord } from "./types.ts";

const node = (id: string, kind: "origin" | "edge", standby?: string[]): NodeRecord => ({
  id,
  kind,
  url: `http://${id}:8081`,
  region: "default",
  load: 0,
  startedAt: 1,
  ...(standby ? { standby } : {}),
});

Deno.test("standbyByName() lists each stream's standby origins in id order, edges ignored", () => {
  const got = standbyByName([
    node("o3", "origin", ["cam1"]),
    node("o1", "origin", ["cam1", "cam2"]),
    node("o2", "origin"),
    node("e1", "edge", ["cam1"]),
  ]);
  assert.deepEqual([...got], [["cam1", ["o1", "o3"]], ["cam2", ["o1"]]]);
  assert.deepEqual([...standbyByName([])], []);
});
