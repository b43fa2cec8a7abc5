import assert from "node:assert/strict";
import { join } from "node:path";
import { parsePlaylist, renderPlaylist } from "@cascade/media/hls/playlist";
import { VOD_PLAYLIST, vodPlaylistName } from "@cascade/media/hls/layout";
import { VodLog, vodPlaylist } from "./vod.ts";

const seg = (sequence: number, duration: number, discontinuity = false) => ({
  sequence,
  uri: `${sequence}.ts`,
  duration,
  programDateTime: new Date(1_800_000_000_000 + sequence * 1000),
  discontinuity,
});

Deno.test("vodPlaylist() lists every segment as a VOD with ENDLIST", () => {
  const p = vodPlaylist([seg(100, 2), seg(101, 2), seg(102, 1.5, true)], 3);
  assert.equal(p.playlistType, "VOD");
  assert.equal(p.ended, true);
  assert.equal(p.mediaSequence, 100);
  assert.deepEqual(p.segments.map((s) => [s.uri, s.discontinuity]), [
    ["100.ts", false],
    ["101.ts", false],
    ["102.ts", true],
  ]);
});

Deno.test("vodPlaylist() drops a leading discontinuity and raises the target for long segments", () => {
  const p = vodPlaylist([seg(7, 2, true), seg(8, 4.6)], 3);
  assert.equal(p.segments[0]!.discontinuity, false);
  assert.equal(p.targetDuration, 5);
  assert.throws(() => vodPlaylist([], 3), RangeError);
});

Deno.test("VodLog.write() writes vod.m3u8 and vod-{first}.m3u8; reset() starts over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-vod-" });
  try {
    const vod = new VodLog();
    assert.equal(await vod.write(dir, 3), undefined);
    vod.add(seg(50, 2));
    vod.add(seg(51, 2));
    assert.equal(await vod.write(dir, 3), vodPlaylistName(50));
    for (const f of [VOD_PLAYLIST, "vod-50.m3u8"]) {
      const text = await Deno.readTextFile(join(dir, f));
      assert.match(text, /#EXT-X-PLAYLIST-TYPE:VOD\n/);
      assert.match(text, /#EXT-X-ENDLIST\n$/);
      assert.deepEqual(parsePlaylist(text).segments.map((s) => s.uri), ["50.ts", "51.ts"]);
    }
    vod.reset();
    vod.add(seg(60, 2));
    await vod.write(dir, 3);
    assert.deepEqual(
      parsePlaylist(await Deno.readTextFile(join(dir, VOD_PLAYLIST))).segments.length,
      1,
    );
    assert.equal(
      parsePlaylist(await Deno.readTextFile(join(dir, "vod-50.m3u8"))).segments.length,
      2,
    );
    assert.deepEqual((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(), [
      "vod-50.m3u8",
      "vod-60.m3u8",
      "vod.m3u8",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("vodPlaylist() keeps the live target and lists INDEPENDENT-SEGMENTS only without forced cuts", () => {
  const steady = vodPlaylist([seg(1, 8.333), seg(2, 8.334)], 10);
  assert.equal(steady.targetDuration, 10, "the live target holds every segment");
  assert.equal(steady.independentSegments, true);
  const forced = vodPlaylist([seg(1, 2), { ...seg(2, 3.4), independent: false }, seg(3, 0.6)], 3);
  assert.equal(forced.targetDuration, 3);
  assert.equal(forced.independentSegments, false);
  assert.doesNotMatch(renderPlaylist(forced), /INDEPENDENT/);
});

Deno.test("VodLog.add() keeps whether each segment is independent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-vod-" });
  try {
    const vod = new VodLog();
    vod.add(seg(1, 2));
    vod.add({ ...seg(2, 3.4), independent: false });
    assert.deepEqual(vod.segments.map((s) => s.independent), [true, false]);
    await vod.write(dir, 3);
    const text = await Deno.readTextFile(join(dir, VOD_PLAYLIST));
    assert.equal(parsePlaylist(text).independentSegments, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
