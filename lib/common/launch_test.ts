import assert from "node:assert/strict";
import { captureLog } from "../../tests/helpers/log.ts";
import { bundleOf, launch, programUrl } from "./launch.ts";

/** A program of two modules in a directory of its own: `main.ts` runs what `part.ts` holds. */
async function program(): Promise<{ root: URL; entry: URL; buildDir: URL } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-launch-" });
  const root = new URL(`file://${dir}/`);
  await Deno.writeTextFile(new URL("deno.json", root), "{}\n");
  await Deno.writeTextFile(
    new URL("part.ts", root),
    [
      "export function mark(url: string): void {",
      "  (globalThis as Record<string, unknown>).launchedFrom = url;",
      "}",
      "export function fail(): never {",
      '  throw new Error("part failed");',
      "}",
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(
    new URL("main.ts", root),
    [
      'import { fail, mark } from "./part.ts";',
      "export function main(): Promise<void> {",
      "  mark(import.meta.url);",
      "  if ((globalThis as Record<string, unknown>).launchFails) fail();",
      "  return Promise.resolve();",
      "}",
      "",
    ].join("\n"),
  );
  return {
    root,
    entry: new URL("main.ts", root),
    buildDir: new URL(".cascade/build/", root),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

const state = globalThis as Record<string, unknown>;

async function files(dir: URL): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("bundleOf() builds one bundle with a linked map, reuses it, and rebuilds after a change", async () => {
  await using p = await program();
  const first = await bundleOf(p.entry, p);
  assert.match(first.pathname, /\/\.cascade\/build\/main-[0-9a-f]{16}\.js$/);
  const text = await Deno.readTextFile(first);
  assert.match(text, /launchedFrom/, "the imported module is in the bundle");
  assert.doesNotMatch(text, /^import /m, "no import of the program's own modules is left");
  assert.doesNotMatch(text, /sourceMappingURL=data:/, "no inline source map");
  assert.match(text, /sourceMappingURL=main-[0-9a-f]{16}\.js\.map/);
  const built = (await Deno.stat(first)).mtime?.getTime();

  const again = await bundleOf(p.entry, p);
  assert.equal(again.href, first.href);
  assert.equal((await Deno.stat(again)).mtime?.getTime(), built, "reused, not rebuilt");

  await Deno.writeTextFile(
    new URL("part.ts", p.root),
    (await Deno.readTextFile(new URL("part.ts", p.root))).replace("part failed", "changed"),
  );
  const changed = await bundleOf(p.entry, p);
  assert.notEqual(changed.href, first.href);
  assert.match(await Deno.readTextFile(changed), /changed/);
  const name = changed.pathname.split("/").at(-1)!;
  assert.deepEqual(await files(p.buildDir), [name, `${name}.map`], "the older bundle is gone");
});

Deno.test("launch() runs main() from the bundle, and stack frames still name the .ts files", async () => {
  await using p = await program();
  try {
    await launch(p.entry, p);
    assert.match(String(state.launchedFrom), /\/\.cascade\/build\/main-[0-9a-f]{16}\.js$/);

    state.launchFails = true;
    const err = await launch(p.entry, p).then(() => null, (e: Error) => e);
    assert.ok(err instanceof Error);
    assert.match(err.stack ?? "", /part\.ts:5:\d+/, err.stack);
  } finally {
    delete state.launchedFrom;
    delete state.launchFails;
  }
});

Deno.test("programUrl() runs the modules as they are when told to or when no bundle can be built", async () => {
  await using p = await program();
  assert.equal(await programUrl(p.entry, { ...p, bundle: "false" }), p.entry.href);
  assert.equal(await Deno.stat(p.buildDir).catch(() => null), null, "nothing built");

  // A file where the build directory should be: the bundle cannot be written.
  await Deno.mkdir(new URL(".cascade/", p.root));
  await Deno.writeTextFile(new URL(".cascade/build", p.root), "");
  const log = captureLog();
  assert.equal(await programUrl(p.entry, { ...p, log }), p.entry.href);
  const [warning, ...more] = log.events("launch.unbundled");
  assert.equal(more.length, 0);
  assert.equal(warning?.level, "warn");
  assert.equal(warning?.fields.entry, p.entry.pathname);
});
