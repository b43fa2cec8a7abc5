import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import { HttpError } from "@cascade/common/http_errors";
import { fileKind, keyedFile, parseMediaTarget, queryParam } from "./paths.ts";

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

Deno.test("parseMediaTarget() names the LL-HLS files and their kinds", () => {
  const ll = (target: string) => parseMediaTarget(target).ll;
  assert.deepEqual(parseMediaTarget("/live/cam/k3x9_p12.3.m4s?token=t"), {
    name: "cam",
    file: "k3x9_p12.3.m4s",
    kind: "segment",
    token: "t",
    ll: { kind: "part", directives: "", blocking: false },
  });
  assert.equal(ll("/live/cam/k3x9_init.mp4")?.kind, "init");
  assert.equal(ll("/live/cam/k3x9_s12.m4s")?.kind, "segment");
  assert.equal(ll("/live/cam/k3x9_s12.m4s?_HLS_msn=3")?.directives, "");
  assert.equal(ll("/live/cam/%6b3x9_init.mp4")?.kind, "init");
  assert.equal(ll("/live/cam/index.m3u8?_HLS_msn=3"), undefined);
  assert.deepEqual(ll("/live/cam/ll.m3u8"), { kind: "playlist", directives: "", blocking: false });
  for (const file of ["K3_init.mp4", "_init.mp4", "k3_p1.m4s", "k3_s1.mp4", "k3_init.m4s"]) {
    assert.throws(() => parseMediaTarget(`/live/cam/${file}`), (err) => err instanceof HttpError);
  }
});

Deno.test("fileKind() and keyedFile() tell blocking reloads apart by their sorted directives", () => {
  const t = (target: string) => parseMediaTarget(target);
  const blocking = t("/live/cam/ll.m3u8?token=a&_HLS_skip=YES&_HLS_part=02&_HLS_msn=0017");
  assert.equal(fileKind(blocking), "blocking_playlist");
  assert.equal(keyedFile(blocking), "ll.m3u8?_HLS_msn=17&_HLS_part=2&_HLS_skip=YES");
  assert.equal(
    keyedFile(t("/live/cam/ll.m3u8?_HLS_msn=17&_HLS_part=2&_HLS_skip=YES&token=b")),
    keyedFile(blocking),
  );
  // Safari leaves the part out; it means part 0, as hls.js says it.
  assert.equal(keyedFile(t("/live/cam/ll.m3u8?_HLS_msn=17")), "ll.m3u8?_HLS_msn=17&_HLS_part=0");
  const skipOnly = t("/live/cam/ll.m3u8?_HLS_skip=v2");
  assert.equal(fileKind(skipOnly), "playlist");
  assert.equal(keyedFile(skipOnly), "ll.m3u8?_HLS_skip=v2");
  assert.equal(fileKind(t("/live/cam/ll.m3u8")), "playlist");
  assert.equal(fileKind(t("/live/cam/k_p1.0.m4s")), "part");
  assert.equal(fileKind(t("/live/cam/k_init.mp4")), "init");
  assert.equal(fileKind(t("/live/cam/k_s1.m4s")), "segment");
  assert.equal(fileKind(t("/live/cam/1.ts")), "segment");
  assert.equal(keyedFile(t("/live/cam/1.ts?_HLS_msn=1")), "1.ts");
});

for (
  const query of [
    "_HLS_msn=x",
    "_HLS_msn=-1",
    "_HLS_msn=1.5",
    "_HLS_msn=",
    "_HLS_part=1",
    "_HLS_msn=1&_HLS_part=a",
    "_HLS_msn=1&_HLS_skip=NO",
    `_HLS_msn=${"9".repeat(16)}`,
  ]
) {
  Deno.test(`parseMediaTarget() answers 400 invalid_directive for ll.m3u8?${query}`, () => {
    assert.throws(
      () => parseMediaTarget(`/live/cam/ll.m3u8?${query}`),
      (err) =>
        err instanceof HttpError && err.status === 400 && err.code === "invalid_directive" &&
        err.headers?.["Cache-Control"] === "no-store",
    );
  });
}

Deno.test("parseMediaTarget() names a stream's thumbnail, fetched like a segment", () => {
  const target = parseMediaTarget("/live/cam/thumb.jpg?token=1.abc");
  assert.deepEqual(target, {
    name: "cam",
    file: "thumb.jpg",
    kind: "segment",
    token: "1.abc",
    picture: true,
  });
  assert.equal(fileKind(target), "thumbnail");
  assert.equal(keyedFile(target), "thumb.jpg");
  assert.throws(() => parseMediaTarget("/live/cam/thumb.png"), { status: 404 });
  assert.throws(() => parseMediaTarget("/live/bad name/thumb.jpg"), { status: 400 });
});
