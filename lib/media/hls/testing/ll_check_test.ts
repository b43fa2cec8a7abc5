import assert from "node:assert/strict";
import { LlSegmenter } from "../ll_segmenter.ts";
import { renderLlPlaylist } from "../ll_playlist.ts";
import { LlPlaylistChecker } from "./ll_check.ts";

/** Every playlist an LL segmenter publishes for 6 s of 30 fps video with 2 s GOPs. */
function reloads(): string[] {
  const seg = new LlSegmenter({ firstSequence: 50, hasVideo: true, partSeconds: 0.333 });
  seg.setPrefix("x1");
  const out: string[] = [];
  for (let i = 0; i < 180; i++) {
    const dts = Math.round(i * 1000 / 30);
    const r = seg.push({ kind: "video", dts, keyframe: i % 60 === 0 }, 1000 + dts);
    if (r.closedPart) out.push(renderLlPlaylist(seg.playlist()));
  }
  seg.end();
  out.push(renderLlPlaylist(seg.playlist()));
  return out;
}

Deno.test("LlPlaylistChecker accepts every reload an LlSegmenter publishes", () => {
  const c = new LlPlaylistChecker("cam");
  for (const text of reloads()) c.reload(text);
  assert.ok(c.reloads > 15);
});

Deno.test("LlPlaylistChecker fails parts above PART-TARGET, gaps, a wrong hint, a changed part", () => {
  const texts = reloads();
  const text = texts[8]!;
  const cases: [string, string, RegExp][] = [
    ["too long", text.replace("DURATION=0.300", "DURATION=0.334"), /above PART-TARGET/],
    ["too short", text.replace("DURATION=0.300", "DURATION=0.200"), /below 85 %/],
    ["gap", text.replace(/_p(\d+)\.1\.m4s/, "_p$1.2.m4s"), /out of order/],
    [
      "hint",
      text.replace(
        /PRELOAD-HINT:TYPE=PART,URI="([^"]+)\.m4s"/,
        'PRELOAD-HINT:TYPE=PART,URI="$1.9.m4s"',
      ),
      /hint/,
    ],
    ["no hint", text.replace(/#EXT-X-PRELOAD-HINT.*\n/, ""), /preload hint/],
    ["hold back", text.replace("PART-HOLD-BACK=0.999", "PART-HOLD-BACK=0.5"), /PART-HOLD-BACK/],
  ];
  for (const [what, broken, message] of cases) {
    assert.notEqual(broken, text, what);
    assert.throws(() => new LlPlaylistChecker("cam").reload(broken), message, what);
  }
  const c = new LlPlaylistChecker("cam");
  c.reload(texts[7]!);
  assert.throws(
    () => c.reload(texts[8]!.replace(",INDEPENDENT=YES", "")),
    /not independent|changed/,
  );
});
