import assert from "node:assert/strict";
import {
  type LlPlaylist,
  type LlSegment,
  newestPart,
  parseLlPlaylist,
  renderLlPlaylist,
  renderRenditionReports,
} from "./ll_playlist.ts";

const T0 = Date.parse("2026-12-02T16:00:00.000Z");

/** `count` complete 2 s segments of six parts from `first`, then one open with `openParts`. */
function playlist(
  first: number,
  count: number,
  openParts: number,
  o: Partial<LlPlaylist> = {},
): LlPlaylist {
  const segment = (sequence: number, parts: number, complete: boolean): LlSegment => ({
    sequence,
    mapUri: "k1_init.mp4",
    programDateTime: new Date(T0 + (sequence - first) * 2000),
    discontinuity: false,
    parts: Array.from({ length: parts }, (_, i) => ({
      duration: i === 5 ? 0.335 : 0.333,
      uri: `k1_p${sequence}.${i}.m4s`,
      independent: i === 0,
    })),
    ...(complete ? { duration: 2, uri: `k1_s${sequence}.m4s` } : {}),
  });
  const segments = Array.from({ length: count }, (_, i) => segment(first + i, 6, true));
  if (openParts > 0) segments.push(segment(first + count, openParts, false));
  return {
    targetDuration: 3,
    partTarget: 0.333,
    mediaSequence: first,
    discontinuitySequence: 0,
    segments,
    preloadHint: `k1_p${first + count}.${openParts}.m4s`,
    ended: false,
    ...o,
  };
}

Deno.test("renderLlPlaylist() writes the contract's header tags", () => {
  const lines = renderLlPlaylist(playlist(10, 6, 2)).split("\n");
  assert.deepEqual(lines.slice(0, 7), [
    "#EXTM3U",
    "#EXT-X-VERSION:9",
    "#EXT-X-TARGETDURATION:3",
    "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.999,CAN-SKIP-UNTIL=18",
    "#EXT-X-PART-INF:PART-TARGET=0.333",
    "#EXT-X-MEDIA-SEQUENCE:10",
    "#EXT-X-DISCONTINUITY-SEQUENCE:0",
  ]);
  assert.equal(lines[7], '#EXT-X-MAP:URI="k1_init.mp4"');
  assert.equal(lines[8], "#EXT-X-PROGRAM-DATE-TIME:2026-12-02T16:00:00.000Z");
  assert.equal(lines.at(-2), '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="k1_p16.2.m4s"');
});

Deno.test("renderLlPlaylist() lists parts only for segments ending within three target durations", () => {
  const text = renderLlPlaylist(playlist(10, 6, 2));
  const p = parseLlPlaylist(text);
  // 12 s complete + 0.666 s open; parts from 12.666 - 9 = 3.666 s on: segments ending after it.
  assert.deepEqual(p.segments.map((s) => s.parts.length), [0, 6, 6, 6, 6, 6, 2]);
  assert.match(text, /#EXT-X-PART:DURATION=0.333,URI="k1_p11.0.m4s",INDEPENDENT=YES\n/);
  assert.match(text, /#EXT-X-PART:DURATION=0.333,URI="k1_p11.1.m4s"\n/);
  assert.match(text, /#EXT-X-PART:DURATION=0.335,URI="k1_p11.5.m4s"\n#EXTINF:2.000,\nk1_s11.m4s\n/);
  assert.equal(p.preloadHint, "k1_p16.2.m4s");
});

Deno.test("renderLlPlaylist() ends with ENDLIST and no preload hint once ended", () => {
  const text = renderLlPlaylist(playlist(10, 3, 0, { ended: true }));
  assert.ok(text.endsWith("k1_s12.m4s\n#EXT-X-ENDLIST\n"));
  assert.ok(!text.includes("PRELOAD-HINT"));
  assert.equal(
    renderLlPlaylist(playlist(10, 12, 0, { ended: true }), true),
    renderLlPlaylist(playlist(10, 12, 0, { ended: true })),
    "never a delta once ended",
  );
});

Deno.test("renderLlPlaylist() writes a new MAP after a discontinuity", () => {
  const p = playlist(10, 4, 1);
  p.segments[2] = { ...p.segments[2]!, discontinuity: true, mapUri: "k2_init.mp4" };
  p.segments[3] = { ...p.segments[3]!, mapUri: "k2_init.mp4" };
  p.segments[4] = { ...p.segments[4]!, mapUri: "k2_init.mp4" };
  const text = renderLlPlaylist(p);
  assert.equal(text.match(/#EXT-X-MAP/g)!.length, 2);
  assert.match(text, /k1_s11.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI="k2_init.mp4"\n/);
  const back = parseLlPlaylist(text);
  assert.deepEqual(back.segments.map((s) => s.mapUri), [
    "k1_init.mp4",
    "k1_init.mp4",
    "k2_init.mp4",
    "k2_init.mp4",
    "k2_init.mp4",
  ]);
  assert.deepEqual(back.segments.map((s) => s.discontinuity), [false, false, true, false, false]);
});

Deno.test("renderLlPlaylist(delta) skips the segments older than CAN-SKIP-UNTIL and keeps that much", () => {
  // 15 complete 2 s segments (30 s) and an open one: CAN-SKIP-UNTIL is 18 s.
  const full = playlist(100, 15, 3);
  const text = renderLlPlaylist(full, true);
  const p = parseLlPlaylist(text);
  assert.equal(p.skipped, 6, "segments 100..105 end 18 s or more before the end");
  assert.equal(p.mediaSequence, 100);
  assert.equal(p.segments[0]!.sequence, 106);
  const kept = p.segments.reduce(
    (sum, s) => sum + (s.duration ?? s.parts.reduce((a, x) => a + x.duration, 0)),
    0,
  );
  assert.ok(kept >= 18, `${kept} s listed`);
  assert.match(text, /#EXT-X-SKIP:SKIPPED-SEGMENTS=6\n#EXT-X-MAP:URI="k1_init.mp4"\n/);
  // A listed discontinuity, or a window shorter than CAN-SKIP-UNTIL: the full playlist.
  const broken = playlist(100, 15, 3);
  broken.segments[12] = { ...broken.segments[12]!, discontinuity: true };
  assert.equal(renderLlPlaylist(broken, true), renderLlPlaylist(broken));
  assert.equal(renderLlPlaylist(playlist(100, 6, 3), true), renderLlPlaylist(playlist(100, 6, 3)));
});

Deno.test("parseLlPlaylist() refuses what is not an LL playlist", () => {
  assert.throws(() => parseLlPlaylist("#EXT-X-VERSION:9\n"), SyntaxError);
  assert.throws(() => parseLlPlaylist("#EXTM3U\n#EXT-X-TARGETDURATION:3\n"), SyntaxError);
  assert.throws(
    () => parseLlPlaylist("#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXT-X-PART-INF:PART-TARGET=x\n"),
    SyntaxError,
  );
});

Deno.test("renderRenditionReports() writes one tag per sibling that parseLlPlaylist() reads back", () => {
  const reports = [
    { uri: "../cam_480p/ll.m3u8", lastMsn: 16, lastPart: 1 },
    { uri: "../cam/ll.m3u8", lastMsn: 15, lastPart: 5 },
  ];
  const tags = renderRenditionReports(reports);
  assert.equal(
    tags,
    '#EXT-X-RENDITION-REPORT:URI="../cam_480p/ll.m3u8",LAST-MSN=16,LAST-PART=1\n' +
      '#EXT-X-RENDITION-REPORT:URI="../cam/ll.m3u8",LAST-MSN=15,LAST-PART=5\n',
  );
  assert.equal(renderRenditionReports([]), "");
  const p = parseLlPlaylist(renderLlPlaylist(playlist(10, 6, 2)) + tags);
  assert.deepEqual(p.renditionReports, reports);
  assert.equal(p.segments.length, 7, "the reports add no segment");
});

Deno.test("newestPart() names the last listed part: the open segment's, else the last complete one's", () => {
  assert.deepEqual(newestPart(playlist(10, 6, 2)), { lastMsn: 16, lastPart: 1 });
  assert.deepEqual(newestPart(playlist(10, 6, 0)), { lastMsn: 15, lastPart: 5 });
  assert.equal(newestPart(playlist(10, 6, 2, { ended: true })), undefined);
  assert.equal(newestPart(playlist(10, 0, 0)), undefined);
});
