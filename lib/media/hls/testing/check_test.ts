import assert from "node:assert/strict";
import { type LivePlaylist, renderPlaylist } from "../playlist.ts";
import { checkPlaylistText, PlaylistChecker } from "./check.ts";

/** A live playlist of `durations` from `sequence`, discontinuities before `breaks`. */
function live(
  sequence: number,
  durations: number[],
  opts: { target?: number; ds?: number; breaks?: number[]; uri?: (n: number) => string } = {},
): string {
  const p: LivePlaylist = {
    version: 3,
    targetDuration: opts.target ?? 3,
    mediaSequence: sequence,
    discontinuitySequence: opts.ds ?? 0,
    independentSegments: true,
    segments: durations.map((duration, i) => ({
      sequence: sequence + i,
      duration,
      uri: (opts.uri ?? ((n) => `${n}.ts`))(sequence + i),
      discontinuity: opts.breaks?.includes(sequence + i) ?? false,
    })),
    ended: false,
  };
  return renderPlaylist(p);
}

Deno.test("PlaylistChecker accepts a sliding window whose discontinuity leaves it", () => {
  const c = new PlaylistChecker("cam");
  c.reload(live(10, [2, 2, 3.4]));
  c.reload(live(10, [2, 2, 3.4, 1], { breaks: [13] }));
  c.reload(live(12, [3.4, 1, 2], { breaks: [13] }));
  c.reload(live(12, [3.4, 1, 2, 2], { breaks: [13] }));
  // 13 leaves: the discontinuity sequence counts it, and the new first segment has no tag.
  const p = c.reload(live(14, [2, 2, 2], { ds: 1 }));
  assert.equal(p.discontinuitySequence, 1);
  assert.equal(c.reloads, 5);
  assert.equal(c.targetDuration, 3);
  assert.deepEqual([...c.segments.keys()], [10, 11, 12, 13, 14, 15, 16]);
});

Deno.test("PlaylistChecker fails on what RFC 8216 forbids across reloads", () => {
  const cases: [string, string[], RegExp][] = [
    [
      "target changes",
      [live(0, [2, 2]), live(1, [2, 2], { target: 4 })],
      /TARGETDURATION changed from 3 to 4/,
    ],
    [
      "the playlist goes on after ENDLIST",
      [live(0, [2, 2]) + "#EXT-X-ENDLIST\n", live(0, [2, 2, 2], { breaks: [2] })],
      /changed after #EXT-X-ENDLIST/,
    ],
    [
      "media sequence goes back",
      [live(5, [2, 2]), live(4, [2, 2, 2])],
      /MEDIA-SEQUENCE went back from 5 to 4/,
    ],
    [
      "a sequence changes its URI",
      [live(0, [2, 2]), live(1, [2, 2], { uri: (n) => `x${n}.ts` })],
      /segment 1 was 1\.ts \(2 s\), now x1\.ts/,
    ],
    [
      "a sequence changes its duration",
      [live(0, [2, 2]), live(0, [2, 2.5])],
      /segment 1 was 1\.ts \(2 s\), now 1\.ts \(2\.5 s\)/,
    ],
    [
      "a segment goes from the end",
      [live(0, [2, 2, 2]), live(0, [2, 2])],
      /segment 2 was listed and is gone/,
    ],
    [
      "a discontinuity leaves uncounted",
      [live(0, [2, 2, 2], { breaks: [1] }), live(2, [2, 2])],
      /DISCONTINUITY-SEQUENCE is 0, expected 1/,
    ],
    [
      "the discontinuity sequence counts one that did not leave",
      [live(0, [2, 2, 2]), live(1, [2, 2], { ds: 1 })],
      /DISCONTINUITY-SEQUENCE is 1, expected 0/,
    ],
    [
      "a segment gains a discontinuity",
      [live(0, [2, 2, 2]), live(0, [2, 2, 2], { breaks: [2] })],
      /segment 2 changed its #EXT-X-DISCONTINUITY/,
    ],
  ];
  for (const [name, reloads, like] of cases) {
    const c = new PlaylistChecker("cam");
    for (const text of reloads.slice(0, -1)) c.reload(text);
    assert.throws(
      () => c.reload(reloads.at(-1)!),
      (err) =>
        err instanceof assert.AssertionError && like.test(err.message) &&
        /^cam, reload/.test(err.message),
      name,
    );
  }
});

Deno.test("checkPlaylistText() fails on a duration above the target and on missing tags", () => {
  const obs = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:3\n#EXT-X-MEDIA-SEQUENCE:0\n" +
    "#EXTINF:8.333,\n0.ts\n";
  const cases: [string, string, RegExp][] = [
    ["OBS's 8.3 s GOP under target 3", obs, /segment 0 lasts 8\.333 s, above the target 3 s/],
    ["3.5 rounds up", obs.replace("8.333", "3.500"), /lasts 3\.5 s/],
    ["no #EXTM3U", obs.slice("#EXTM3U\n".length), /first line is not #EXTM3U/],
    ["no version", obs.replace("#EXT-X-VERSION:3\n", ""), /#EXT-X-VERSION appears 0 times/],
    ["no media sequence", obs.replace("#EXT-X-MEDIA-SEQUENCE:0\n", ""), /MEDIA-SEQUENCE appears 0/],
    [
      "two targets",
      obs.replace(
        "#EXT-X-TARGETDURATION:3\n",
        "#EXT-X-TARGETDURATION:3\n#EXT-X-TARGETDURATION:9\n",
      ),
      /TARGETDURATION appears 2 times/,
    ],
    [
      "a decimal target",
      obs.replace("TARGETDURATION:3", "TARGETDURATION:9.5"),
      /9\.5 is not a decimal-integer/,
    ],
    [
      "decimal durations under version 2",
      obs.replace("VERSION:3", "VERSION:2").replace("8.333", "2.5"),
      /needs #EXT-X-VERSION 3, not 2/,
    ],
    ["a URI without #EXTINF", obs + "1.ts\n", /URI 1\.ts without #EXTINF/],
    ["an #EXTINF without a URI", obs + "#EXTINF:2.000,\n", /#EXTINF without a URI/],
  ];
  for (const [name, text, like] of cases) {
    assert.throws(
      () => checkPlaylistText(text, "cam"),
      (err) => err instanceof assert.AssertionError && like.test(err.message),
      name,
    );
  }
  assert.equal(checkPlaylistText(obs.replace("8.333", "3.499")).segments.length, 1);
});
