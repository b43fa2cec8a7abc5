import assert from "node:assert/strict";
import { join } from "node:path";
import type { Logger } from "@cascade/common/log";
import {
  planRetention,
  type RecordingFile,
  Retention,
  scanRecordings,
  STALE_PART_MS,
} from "./retention.ts";

const NOW = 1_800_000_000_000;
const HOUR = 3600_000;

function file(name: string, ageHours: number, size: number, part = false): RecordingFile {
  const f = `${name}${part ? ".mp4.part" : ".mp4"}`;
  return {
    name: "alpha",
    file: f,
    path: `/r/alpha/${f}`,
    size,
    mtimeMs: NOW - ageHours * HOUR,
    part,
  };
}

const never = () => false;
const quiet: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => quiet,
};

Deno.test("planRetention() deletes by size oldest first and never an open file", () => {
  const files = [
    file("c", 1, 100),
    file("a", 3, 100),
    file("b", 2, 100),
    file("open", 0, 500, true),
  ];
  const plan = planRetention(files, {
    maxBytes: 650,
    now: NOW,
    isOpen: (p) => p.endsWith(".part"),
  });
  assert.deepEqual(plan.map((d) => [d.file.file, d.reason]), [["a.mp4", "size"], [
    "b.mp4",
    "size",
  ]]);
  // Even when the open file alone is over the cap, it stays; everything else goes.
  const all = planRetention(files, { maxBytes: 100, now: NOW, isOpen: (p) => p.endsWith(".part") });
  assert.deepEqual(all.map((d) => d.file.file), ["a.mp4", "b.mp4", "c.mp4"]);
});

Deno.test("planRetention() never deletes a finished file that is still open", () => {
  const files = [file("a", 3, 100), file("b", 2, 100)];
  const plan = planRetention(files, {
    maxBytes: 1,
    now: NOW,
    isOpen: (p) => p.endsWith("a.mp4"),
  });
  assert.deepEqual(plan.map((d) => d.file.file), ["b.mp4"]);
});

Deno.test("planRetention() ages out only archived files, and the size cap overrides", () => {
  const files = [file("old1", 30, 100), file("old2", 26, 100), file("new", 1, 100)];
  const isArchived = (p: string) => !p.endsWith("old1.mp4");
  const byAge = planRetention(files, { maxAgeMs: 24 * HOUR, now: NOW, isOpen: never, isArchived });
  assert.deepEqual(byAge.map((d) => [d.file.file, d.reason]), [["old2.mp4", "age"]]);
  const bySize = planRetention(files, {
    maxAgeMs: 24 * HOUR,
    maxBytes: 150,
    now: NOW,
    isOpen: never,
    isArchived,
  });
  assert.deepEqual(bySize.map((d) => [d.file.file, d.reason, d.archived]), [
    ["old2.mp4", "age", true],
    ["old1.mp4", "size", false],
  ]);
});

Deno.test("planRetention() removes stale .part files nobody writes, never fresh ones", () => {
  const stale = { ...file("crashed", 0, 10, true), mtimeMs: NOW - STALE_PART_MS - 1 };
  const fresh = file("writing", 0, 10, true);
  const plan = planRetention([stale, fresh], { now: NOW, isOpen: never });
  assert.deepEqual(plan.map((d) => [d.file.file, d.reason]), [["crashed.mp4.part", "stale-part"]]);
  assert.deepEqual(planRetention([stale], { now: NOW, isOpen: () => true }), []);
});

Deno.test("Retention.sweep() deletes the oldest real files first and keeps the open one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-ret-" });
  try {
    await Deno.mkdir(join(dir, "alpha"));
    await Deno.mkdir(join(dir, "beta"));
    const make = async (rel: string, ageHours: number) => {
      const path = join(dir, rel);
      await Deno.writeFile(path, new Uint8Array(1000));
      const t = new Date(Date.now() - ageHours * HOUR);
      await Deno.utime(path, t, t);
      return path;
    };
    await make("alpha/2026-01-01T00-00-00.000Z-1.mp4", 5);
    await make("beta/2026-01-01T01-00-00.000Z-1.mp4", 4);
    await make("alpha/2026-01-01T00-00-00.000Z-2.mp4", 3);
    const open = await make("alpha/2026-01-01T00-00-00.000Z-3.mp4.part", 0);
    await Deno.writeTextFile(join(dir, "alpha", ".archive.json"), "{}");
    const deleted: string[] = [];
    const retention = new Retention({
      dir,
      maxBytes: 2500,
      isOpen: (p) => p === open,
      onDelete: (f) => deleted.push(`${f.name}/${f.file}`),
      log: quiet,
    });
    const done = await retention.sweep();
    assert.deepEqual(done.map((d) => d.reason), ["size", "size"]);
    assert.deepEqual(deleted, [
      "alpha/2026-01-01T00-00-00.000Z-1.mp4",
      "beta/2026-01-01T01-00-00.000Z-1.mp4",
    ]);
    const left = (await scanRecordings(dir)).map((f) => `${f.name}/${f.file}`).sort();
    assert.deepEqual(left, [
      "alpha/2026-01-01T00-00-00.000Z-2.mp4",
      "alpha/2026-01-01T00-00-00.000Z-3.mp4.part",
    ]);
    // Ledgers and other files are not recordings and are left alone.
    assert.equal(await Deno.readTextFile(join(dir, "alpha", ".archive.json")), "{}");
    await retention.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
