import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import { HttpError } from "@cascade/common/http_errors";
import { parseMediaTarget, queryParam } from "./paths.ts";

Deno.test("parseMediaTarget() names the stream, the file, its kind and the token", () => {
  assert.deepEqual(parseMediaTarget("/live/cam-1/index.m3u8"), {
    name: "cam-1",
    file: "index.m3u8",
    kind: "playlist",
    token: null,
  });
  assert.deepEqual(parseMediaTarget("/live/cam/17000000012.ts?token=1.abc&x=1"), {
    name: "cam",
    file: "17000000012.ts",
    kind: "segment",
    token: "1.abc",
  });
  assert.equal(parseMediaTarget("/live/c%61m/1.ts").name, "cam");
});

const cases: [string, number, string][] = [
  ["/live/Cam/index.m3u8", 400, "invalid_stream_name"],
  ["/live/-cam/index.m3u8", 400, "invalid_stream_name"],
  [`/live/${"a".repeat(65)}/index.m3u8`, 400, "invalid_stream_name"],
  ["/live/%2e%2e/index.m3u8", 400, "invalid_path"],
  ["/live/cam%2fx/index.m3u8", 400, "invalid_path"],
  ["/live/cam/%2e%2e%2fsecret", 400, "invalid_path"],
  ["/live/cam/%zz.ts", 400, "invalid_path"],
  ["/live/cam/%00.ts", 400, "invalid_path"],
  ["/live/cam/index.html", 404, "not_found"],
  ["/live/cam/1.mp4", 404, "not_found"],
  ["/live/cam/-1.ts", 404, "not_found"],
  ["/live/cam/", 404, "not_found"],
  ["/live/cam", 404, "not_found"],
  ["/live/cam/1.ts/x", 404, "not_found"],
  ["/vod/cam/1.ts", 404, "not_found"],
];

for (const [target, status, code] of cases) {
  Deno.test(`parseMediaTarget() answers ${status} ${code} for ${target.slice(0, 60)}`, () => {
    assert.throws(
      () => parseMediaTarget(target),
      (err) => err instanceof HttpError && err.status === status && err.code === code,
    );
  });
}

Deno.test("parseMediaTarget() throws only HttpError for any input", () => {
  fc.assert(fc.property(fc.string({ maxLength: 80 }), (tail) => {
    try {
      parseMediaTarget(`/live/${tail}`);
    } catch (err) {
      assert.ok(err instanceof HttpError, String(err));
    }
  }));
});

Deno.test("queryParam() decodes the first value and ignores undecodable ones", () => {
  assert.equal(queryParam("a=1&token=x%2Ey&token=z", "token"), "x.y");
  assert.equal(queryParam("tokens=1", "token"), null);
  assert.equal(queryParam("token", "token"), "");
  assert.equal(queryParam("token=%zz", "token"), null);
});
