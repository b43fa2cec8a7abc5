import assert from "node:assert/strict";
import { posix } from "node:path";
import fc from "../../tests/helpers/fast_check.ts";
import { baseName, joinPath, resolvePath } from "./paths.ts";

const segment = fc.constantFrom("a", "bb", ".", "..", "", "/", "/x", "c/d", "e/../f", "./g", "h/");
const segments = fc.array(segment, { minLength: 1, maxLength: 6 });

Deno.test("joinPath() and resolvePath() agree with node:path on any mix of segments", () => {
  fc.assert(
    fc.property(segments, (parts) => {
      assert.equal(joinPath(...parts), posix.join(...parts), JSON.stringify(parts));
      assert.equal(resolvePath(...parts), posix.resolve(...parts), JSON.stringify(parts));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("resolvePath() keeps a checked name inside its root and shows an escape", () => {
  const root = resolvePath("/srv/media");
  assert.equal(resolvePath(root, "cam", "1.ts"), "/srv/media/cam/1.ts");
  assert.equal(resolvePath(root, "..", "etc", "passwd"), "/srv/etc/passwd");
  assert.equal(resolvePath(root, "cam", "/etc/passwd"), "/etc/passwd");
  assert.equal(resolvePath("media"), `${Deno.cwd()}/media`);
});

Deno.test("baseName() is the last segment", () => {
  assert.equal(baseName("/a/b/c.ts"), "c.ts");
  assert.equal(baseName("c.ts"), "c.ts");
  assert.equal(baseName("/a/b/"), "b");
});
