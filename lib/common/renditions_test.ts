import assert from "node:assert/strict";
import {
  isRendition,
  parseProfile,
  PROFILE_RE,
  renditionName,
  renditionsBySource,
  renditionsFit,
  reservedNameReason,
  scaledWidth,
  sourceOf,
} from "./renditions.ts";

Deno.test("parseProfile() reads none and rung lists, tallest first, without repeats", () => {
  assert.deepEqual(parseProfile("none"), []);
  assert.deepEqual(parseProfile(""), []);
  assert.deepEqual(parseProfile("240p,480p,240p").map((r) => r.name), ["480p", "240p"]);
  assert.equal(parseProfile("480p")[0]!.videoKbps, 1400);
});

Deno.test("parseProfile() refuses an unknown rung with its name", () => {
  assert.throws(() => parseProfile("480p,500p"), /unknown rung "500p"/);
});

Deno.test("PROFILE_RE accepts what parseProfile accepts", () => {
  assert.ok(PROFILE_RE.test("none"));
  assert.ok(PROFILE_RE.test("480p,360p,240p"));
  assert.ok(!PROFILE_RE.test("480p,"));
  assert.ok(!PROFILE_RE.test("481p"));
});

Deno.test("renditionName(), isRendition() and sourceOf() agree", () => {
  const name = renditionName("cam", "480p");
  assert.equal(name, "cam_480p");
  assert.ok(isRendition(name));
  assert.equal(sourceOf(name)?.source, "cam");
  assert.equal(sourceOf(name)?.rung.height, 480);
  assert.equal(sourceOf("cam_480"), undefined);
  assert.ok(!isRendition("cam"));
  assert.ok(!isRendition("_480p"));
});

Deno.test("reservedNameReason() refuses rendition names only", () => {
  assert.match(reservedNameReason("x_480p") ?? "", /reserved for renditions/);
  assert.equal(reservedNameReason("x_480q"), undefined);
});

Deno.test("renditionsFit() is false when a rendition name would pass 64 characters", () => {
  assert.ok(renditionsFit("cam", parseProfile("480p")));
  assert.ok(!renditionsFit("a".repeat(60), parseProfile("480p")));
});

Deno.test("scaledWidth() keeps the aspect ratio with an even width", () => {
  assert.equal(scaledWidth(1280, 720, 480), 854);
  assert.equal(scaledWidth(1280, 720, 240), 426);
});

Deno.test("renditionsBySource() gives each source its live rungs, tallest first, once each", () => {
  const map = renditionsBySource(["cam_240p", "cam", "cam_480p", "other", "cam_240p", "x_1080p"]);
  assert.deepEqual([...map], [["cam", ["480p", "240p"]], ["x", ["1080p"]]]);
});
