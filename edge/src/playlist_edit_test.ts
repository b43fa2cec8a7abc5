import assert from "node:assert/strict";
import { addTokenToUris, editSequences } from "./playlist_edit.ts";

interface Spec {
  /** Media sequence of the first segment. */
  seq: number;
  /** Segments in the window. */
  n?: number;
  /** `#EXT-X-DISCONTINUITY-SEQUENCE`; omitted → no tag. */
  ds?: number;
  /** Window positions carrying `#EXT-X-DISCONTINUITY`. */
  disc?: number[];
  dates?: boolean;
}

function playlist({ seq, n = 3, ds, disc = [], dates = false }: Spec): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2"];
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${seq}`);
  if (ds !== undefined) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${ds}`);
  lines.push("#EXT-X-INDEPENDENT-SEGMENTS");
  for (let i = 0; i < n; i++) {
    if (disc.includes(i)) lines.push("#EXT-X-DISCONTINUITY");
    if (dates) lines.push(`#EXT-X-PROGRAM-DATE-TIME:2026-11-21T20:00:0${i}.000Z`);
    lines.push("#EXTINF:2.000,", `${seq + i}.ts`);
  }
  return lines.join("\n") + "\n";
}

Deno.test("editSequences() inserts the tag before the first segment's own tags", () => {
  const text = playlist({ seq: 5, n: 1, dates: true });
  const out = editSequences(text, {
    mediaSequence: 9,
    discontinuitySequence: 3,
    discontinuityFirst: true,
  });
  assert.match(
    out,
    /#EXT-X-MEDIA-SEQUENCE:9\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME/,
  );
});

Deno.test("editSequences() keeps CRLF line ends", () => {
  const text = playlist({ seq: 5, ds: 1 }).replaceAll("\n", "\r\n");
  const out = editSequences(text, {
    mediaSequence: 5,
    discontinuitySequence: 4,
    discontinuityFirst: false,
  });
  assert.equal(out, text.replace("SEQUENCE:1", "SEQUENCE:4"));
});

Deno.test("addTokenToUris() signs relative URIs and leaves absolute ones alone", () => {
  const text = [
    "#EXTM3U",
    "#EXT-X-TARGETDURATION:2",
    '#EXT-X-MAP:URI="init.mp4"',
    '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k1"',
    "#EXTINF:2.000,",
    "1.ts",
    "#EXTINF:2.000,",
    "2.ts?x=1",
    "#EXTINF:2.000,",
    "http://cdn.example/3.ts",
    "",
  ].join("\n");
  const out = addTokenToUris(text, "123.abc_-");
  assert.equal(
    out,
    [
      "#EXTM3U",
      "#EXT-X-TARGETDURATION:2",
      '#EXT-X-MAP:URI="init.mp4?token=123.abc_-"',
      '#EXT-X-KEY:METHOD=AES-128,URI="https://keys.example/k1"',
      "#EXTINF:2.000,",
      "1.ts?token=123.abc_-",
      "#EXTINF:2.000,",
      "2.ts?x=1&token=123.abc_-",
      "#EXTINF:2.000,",
      "http://cdn.example/3.ts",
      "",
    ].join("\n"),
  );
});

Deno.test("addTokenToUris() refuses a token that would need escaping", () => {
  assert.throws(() => addTokenToUris("#EXTM3U\n", "a b"), TypeError);
});
