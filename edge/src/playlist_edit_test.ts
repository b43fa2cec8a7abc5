import assert from "node:assert/strict";
import { addTokenToUris, editSequences } from "./playlist_edit.ts";
import { playlist } from "../testing/playlists.ts";

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
