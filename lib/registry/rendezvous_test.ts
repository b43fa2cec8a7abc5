import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import { rankByRendezvous, rendezvousScore } from "./rendezvous.ts";

const nodes = (ids: string[]) => ids.map((id) => ({ id }));
const owner = (ids: string[], key: string) => rankByRendezvous(nodes(ids), key)[0]!.id;

Deno.test("rendezvousScore() is a fixed function of node and key", () => {
  // Pinned values: every API process must choose the same edge for a stream.
  assert.equal(rendezvousScore("edge-1", "cam1"), rendezvousScore("edge-1", "cam1"));
  assert.notEqual(rendezvousScore("edge-1", "cam1"), rendezvousScore("edge-1", "cam2"));
  assert.notEqual(rendezvousScore("ab", "c"), rendezvousScore("a", "bc"));
  const score = rendezvousScore("edge-1", "cam1");
  assert.ok(Number.isSafeInteger(score) && score >= 0);
  assert.equal(score, 3527285462220636);
});

Deno.test("rankByRendezvous() maps a stream to the same node whatever the input order", () => {
  fc.assert(fc.property(
    fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 1, maxLength: 12 }),
    fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/),
    (ids, key) => {
      const reversed = [...ids].reverse();
      assert.deepEqual(
        rankByRendezvous(nodes(ids), key).map((n) => n.id),
        rankByRendezvous(nodes(reversed), key).map((n) => n.id),
      );
    },
  ));
});

Deno.test("rankByRendezvous(): removing a node moves only the streams it had", () => {
  fc.assert(fc.property(
    fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 2, maxLength: 10 }),
    fc.nat(),
    fc.uniqueArray(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/), { maxLength: 50 }),
    (ids, pick, keys) => {
      const removed = ids[pick % ids.length]!;
      const rest = ids.filter((id) => id !== removed);
      for (const key of keys) {
        const before = owner(ids, key);
        const after = owner(rest, key);
        if (before !== removed) assert.equal(after, before, `${key} moved without cause`);
      }
    },
  ));
});

Deno.test("rankByRendezvous(): adding a node takes streams only for itself", () => {
  fc.assert(fc.property(
    fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { minLength: 2, maxLength: 10 }),
    fc.uniqueArray(fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,20}$/), { maxLength: 50 }),
    (ids, keys) => {
      const [added, ...rest] = ids as [string, ...string[]];
      for (const key of keys) {
        const after = owner(ids, key);
        if (after !== added) assert.equal(after, owner(rest, key));
      }
    },
  ));
});

Deno.test("rankByRendezvous() spreads streams evenly over nodes", () => {
  const ids = Array.from({ length: 8 }, (_, i) => `edge-${i + 1}`);
  const counts = new Map(ids.map((id) => [id, 0]));
  const streams = 16_000;
  for (let i = 0; i < streams; i++) {
    const id = owner(ids, `stream-${i}`);
    counts.set(id, counts.get(id)! + 1);
  }
  const fair = streams / ids.length;
  for (const [id, count] of counts) {
    assert.ok(Math.abs(count - fair) < fair * 0.1, `${id} got ${count} of ${streams}`);
  }
  // Removing one node spreads its streams over all the others, not onto one neighbour.
  const moved = new Map<string, number>();
  for (let i = 0; i < streams; i++) {
    if (owner(ids, `stream-${i}`) !== "edge-1") continue;
    const next = owner(ids.slice(1), `stream-${i}`);
    moved.set(next, (moved.get(next) ?? 0) + 1);
  }
  assert.equal(moved.size, ids.length - 1);
  const share = counts.get("edge-1")! / (ids.length - 1);
  for (const [id, count] of moved) {
    assert.ok(Math.abs(count - share) < share * 0.3, `${id} took ${count} of edge-1's streams`);
  }
});
