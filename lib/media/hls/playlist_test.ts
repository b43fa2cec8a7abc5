import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import {
  type LivePlaylist,
  parsePlaylist,
  type PlaylistSegment,
  renderPlaylist,
} from "./playlist.ts";

function segment(sequence: number, duration: number, extra: Partial<PlaylistSegment> = {}) {
  return { sequence, duration, uri: `${sequence}.ts`, discontinuity: false, ...extra };
}

const live: LivePlaylist = {
  version: 3,
  targetDuration: 3,
  mediaSequence: 1700000000,
  discontinuitySequence: 2,
  independentSegments: true,
  segments: [
    segment(1700000000, 2, { programDateTime: new Date("2025-03-01T12:00:00.000Z") }),
    segment(1700000001, 2.033, { programDateTime: new Date("2025-03-01T12:00:02.000Z") }),
    segment(1700000002, 1.5, {
      programDateTime: new Date("2025-03-01T12:00:30.250Z"),
      discontinuity: true,
    }),
  ],
  ended: false,
};

Deno.test("renderPlaylist() writes the header, then each segment's tags before its uri", () => {
  assert.equal(
    renderPlaylist(live),
    [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:3",
      "#EXT-X-MEDIA-SEQUENCE:1700000000",
      "#EXT-X-DISCONTINUITY-SEQUENCE:2",
      "#EXT-X-INDEPENDENT-SEGMENTS",
      "#EXT-X-PROGRAM-DATE-TIME:2025-03-01T12:00:00.000Z",
      "#EXTINF:2.000,",
      "1700000000.ts",
      "#EXT-X-PROGRAM-DATE-TIME:2025-03-01T12:00:02.000Z",
      "#EXTINF:2.033,",
      "1700000001.ts",
      "#EXT-X-DISCONTINUITY",
      "#EXT-X-PROGRAM-DATE-TIME:2025-03-01T12:00:30.250Z",
      "#EXTINF:1.500,",
      "1700000002.ts",
      "",
    ].join("\n"),
  );
});

Deno.test("renderPlaylist() writes ENDLIST last and the playlist type in the header", () => {
  const text = renderPlaylist({
    ...live,
    segments: [segment(5, 2)],
    mediaSequence: 5,
    independentSegments: false,
    ended: true,
    playlistType: "EVENT",
  });
  assert.equal(
    text,
    [
      "#EXTM3U",
      "#EXT-X-VERSION:3",
      "#EXT-X-TARGETDURATION:3",
      "#EXT-X-MEDIA-SEQUENCE:5",
      "#EXT-X-DISCONTINUITY-SEQUENCE:2",
      "#EXT-X-PLAYLIST-TYPE:EVENT",
      "#EXTINF:2.000,",
      "5.ts",
      "#EXT-X-ENDLIST",
      "",
    ].join("\n"),
  );
});

Deno.test("renderPlaylist() writes at least version 3, which decimal EXTINF needs", () => {
  assert.match(renderPlaylist({ ...live, version: 1 }), /^#EXT-X-VERSION:3$/m);
  assert.match(renderPlaylist({ ...live, version: 6 }), /^#EXT-X-VERSION:6$/m);
});

Deno.test("renderPlaylist() of an empty live playlist has only the header", () => {
  const text = renderPlaylist({ ...live, segments: [] });
  assert.equal(text.split("\n").filter((l) => l.startsWith("#EXTINF")).length, 0);
  assert.deepEqual(parsePlaylist(text).segments, []);
});

Deno.test("renderPlaylist() refuses values the playlist syntax cannot carry", () => {
  const cases: [string, LivePlaylist][] = [
    ["fractional target", { ...live, targetDuration: 2.5 }],
    ["negative media sequence", { ...live, mediaSequence: -1 }],
    ["huge discontinuity sequence", { ...live, discontinuitySequence: 2 ** 60 }],
    ["negative duration", { ...live, segments: [segment(1, -1)] }],
    ["NaN duration", { ...live, segments: [segment(1, NaN)] }],
    ["uri with a line break", {
      ...live,
      segments: [segment(1, 2, { uri: "a.ts\n#EXT-X-ENDLIST" })],
    }],
    ["empty uri", { ...live, segments: [segment(1, 2, { uri: "" })] }],
    ["invalid date", { ...live, segments: [segment(1, 2, { programDateTime: new Date(NaN) })] }],
  ];
  for (const [name, p] of cases) {
    assert.throws(() => renderPlaylist(p), RangeError, name);
  }
});

Deno.test("parsePlaylist() reads the playlist nginx-rtmp writes", () => {
  const text = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    "#EXT-X-MEDIA-SEQUENCE:41",
    "#EXT-X-TARGETDURATION:3",
    "#EXT-X-DISCONTINUITY",
    "#EXTINF:2.000,",
    "41.ts",
    "#EXTINF:2.042,",
    "42.ts",
    "",
  ].join("\n");
  assert.deepEqual(parsePlaylist(text), {
    version: 3,
    targetDuration: 3,
    mediaSequence: 41,
    discontinuitySequence: 0,
    independentSegments: false,
    segments: [
      { sequence: 41, duration: 2, uri: "41.ts", discontinuity: true },
      { sequence: 42, duration: 2.042, uri: "42.ts", discontinuity: false },
    ],
    ended: false,
  });
});

Deno.test("parsePlaylist() tolerates CRLF, a BOM, blank lines, titles and unknown tags", () => {
  const text = "\uFEFF\r\n#EXTM3U\r\n#EXT-X-TARGETDURATION:10\r\n#EXT-X-ALLOW-CACHE:NO\r\n" +
    "# a comment\r\n\r\n#EXT-X-KEY:METHOD=NONE\r\n#EXTINF:9.5,Intro, part 1\r\n" +
    "  http://cdn.example/a.ts  \r\n#EXTINF:10\r\nb.ts\r\n#EXT-X-PLAYLIST-TYPE:VOD\r\n" +
    "#EXT-X-ENDLIST\r\n";
  const p = parsePlaylist(text);
  assert.equal(p.version, 1);
  assert.equal(p.targetDuration, 10);
  assert.equal(p.playlistType, "VOD");
  assert.equal(p.ended, true);
  assert.deepEqual(p.segments.map((s) => [s.sequence, s.duration, s.uri]), [
    [0, 9.5, "http://cdn.example/a.ts"],
    [1, 10, "b.ts"],
  ]);
});

Deno.test("parsePlaylist() reads program date times with any zone and precision", () => {
  const text = [
    "#EXTM3U",
    "#EXT-X-TARGETDURATION:2",
    "#EXT-X-PROGRAM-DATE-TIME:2025-03-01T12:00:00.000+0100",
    "#EXTINF:2,",
    "a.ts",
    "#EXT-X-PROGRAM-DATE-TIME:2025-03-01T11:00:02.5Z",
    "#EXTINF:2,",
    "b.ts",
    "#EXTINF:2,",
    "c.ts",
  ].join("\n");
  const dates = parsePlaylist(text).segments.map((s) => s.programDateTime?.toISOString());
  assert.deepEqual(dates, ["2025-03-01T11:00:00.000Z", "2025-03-01T11:00:02.500Z", undefined]);
});

Deno.test("parsePlaylist() numbers segments from a media sequence that comes late", () => {
  const text = "#EXTM3U\n#EXTINF:2,\na.ts\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n";
  assert.deepEqual(parsePlaylist(text).segments.map((s) => s.sequence), [7]);
});

Deno.test("parsePlaylist() rounds a decimal target duration up", () => {
  assert.equal(parsePlaylist("#EXTM3U\n#EXT-X-TARGETDURATION:2.5\n").targetDuration, 3);
});

Deno.test("parsePlaylist() throws SyntaxError for what is not a media playlist", () => {
  const cases: [string, string, RegExp][] = [
    ["empty", "", /missing #EXTM3U/],
    ["html", "<html></html>", /missing #EXTM3U/],
    ["header later", "#EXT-X-TARGETDURATION:2\n#EXTM3U\n", /missing #EXTM3U/],
    ["no target", "#EXTM3U\n#EXTINF:2,\na.ts\n", /missing #EXT-X-TARGETDURATION/],
    [
      "master playlist",
      "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nlow.m3u8\n",
      /segment without #EXTINF at line 3/,
    ],
    ["bad EXTINF", "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:-1,\na.ts\n", /#EXTINF is not/],
    ["bad target", "#EXTM3U\n#EXT-X-TARGETDURATION:two\n", /#EXT-X-TARGETDURATION is not/],
    ["bad sequence", "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:1.5\n", /#EXT-X-MEDIA-SEQUENCE is not/],
    ["bad type", "#EXTM3U\n#EXT-X-PLAYLIST-TYPE:LIVE\n", /unknown #EXT-X-PLAYLIST-TYPE/],
    ["bad date", "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n", /not a date/],
  ];
  for (const [name, text, message] of cases) {
    assert.throws(() => parsePlaylist(text), (e) => {
      assert.ok(e instanceof SyntaxError, name);
      assert.match(e.message, /^Cannot parse playlist: /, name);
      assert.match(e.message, message, name);
      return true;
    });
  }
});

const arbSegmentFields = fc.record(
  {
    duration: fc.integer({ min: 0, max: 30_000 }).map((ms) => ms / 1000),
    uri: fc.stringMatching(/^[a-z0-9_.\/-]{1,24}$/),
    programDateTime: fc.date({
      min: new Date("2000-01-01T00:00:00Z"),
      max: new Date("2100-01-01T00:00:00Z"),
      noInvalidDate: true,
    }),
    discontinuity: fc.boolean(),
  },
  { requiredKeys: ["duration", "uri", "discontinuity"] },
);

const arbPlaylist: fc.Arbitrary<LivePlaylist> = fc
  .record(
    {
      version: fc.integer({ min: 3, max: 7 }),
      targetDuration: fc.integer({ min: 1, max: 30 }),
      mediaSequence: fc.nat({ max: Number.MAX_SAFE_INTEGER - 100 }),
      discontinuitySequence: fc.nat(),
      independentSegments: fc.boolean(),
      segments: fc.array(arbSegmentFields, { maxLength: 12 }),
      ended: fc.boolean(),
      playlistType: fc.constantFrom<"VOD" | "EVENT">("VOD", "EVENT"),
    },
    { requiredKeys: ["version", "targetDuration", "mediaSequence", "discontinuitySequence"] },
  )
  .map((r) => ({
    ...r,
    independentSegments: r.independentSegments ?? false,
    ended: r.ended ?? false,
    segments: (r.segments ?? []).map((s, i) => ({ ...s, sequence: r.mediaSequence + i })),
  }));

Deno.test("parsePlaylist(renderPlaylist(p)) gives back p", () => {
  fc.assert(
    fc.property(arbPlaylist, (p) => {
      assert.deepEqual(parsePlaylist(renderPlaylist(p)), p);
    }),
    { numRuns: 500 },
  );
});

Deno.test("parsePlaylist() throws only SyntaxError on arbitrary text", () => {
  const playlistish = fc.array(
    fc.oneof(
      fc.constantFrom(
        "#EXTM3U",
        "#EXT-X-TARGETDURATION:",
        "#EXT-X-MEDIA-SEQUENCE:",
        "#EXTINF:",
        "#EXT-X-PROGRAM-DATE-TIME:",
        "#EXT-X-DISCONTINUITY",
        "#EXT-X-PLAYLIST-TYPE:",
        "\r",
        "\n",
        ",",
      ),
      fc.string({ maxLength: 8 }),
      fc.double().map(String),
    ),
    { maxLength: 40 },
  ).map((parts) => parts.join(""));
  fc.assert(
    fc.property(fc.oneof(fc.string(), playlistish), (text) => {
      try {
        parsePlaylist(text);
      } catch (e) {
        assert.ok(e instanceof SyntaxError, String(e));
      }
    }),
    { numRuns: 2000 },
  );
});
