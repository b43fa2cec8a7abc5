import assert from "node:assert/strict";
import { HttpError } from "./http_errors.ts";
import { decodePathSegment, fileSlice, parseRange, rawPath } from "./http_paths.ts";

Deno.test("parseRange() handles the three forms, clamps, and tells ignored from unsatisfiable", () => {
  assert.deepEqual(parseRange("bytes=0-0", 10), { start: 0, end: 0 });
  assert.deepEqual(parseRange("bytes=2-", 10), { start: 2, end: 9 });
  assert.deepEqual(parseRange("bytes=-3", 10), { start: 7, end: 9 });
  assert.deepEqual(parseRange("bytes=5-99999999999999999999", 10), { start: 5, end: 9 });
  assert.equal(parseRange("bytes=99999999999999999999-", 10), "unsatisfiable");
  assert.equal(parseRange("bytes=10-", 10), "unsatisfiable");
  assert.equal(parseRange("bytes=-1", 0), "unsatisfiable");
  assert.equal(parseRange("bytes=1-2,4-5", 10), null);
  assert.equal(parseRange("bytes=-", 10), null);
  assert.equal(parseRange("lines=1-2", 10), null);
});

Deno.test("decodePathSegment() decodes once and refuses what still looks like a path", () => {
  assert.equal(decodePathSegment("alpha"), "alpha");
  assert.equal(decodePathSegment("a%2Db"), "a-b");
  for (const bad of ["..", "%2e%2e", "a%2fb", "a%5cb", "%252e", "%00", "%zz", "a%7f"]) {
    assert.throws(
      () => decodePathSegment(bad),
      (e) => e instanceof HttpError && e.status === 400,
      bad,
    );
  }
});

Deno.test("rawPath() keeps the path as sent and drops the query", () => {
  assert.equal(rawPath("http://h:1/live/..%2Fx/a.ts?token=1"), "/live/..%2Fx/a.ts");
  assert.equal(rawPath("http://h"), "/");
});

Deno.test("fileSlice() streams exactly the range and closes the file", async () => {
  const path = await Deno.makeTempFile();
  try {
    const bytes = Uint8Array.from({ length: 200_000 }, (_, i) => i & 0xff);
    await Deno.writeFile(path, bytes);
    const file = await Deno.open(path);
    const body = await new Response(await fileSlice(file, 1000, 150_000)).bytes();
    assert.deepEqual(body, bytes.subarray(1000, 151_000));
    assert.throws(() => file.readSync(new Uint8Array(1)), Deno.errors.BadResource);
  } finally {
    await Deno.remove(path);
  }
});
