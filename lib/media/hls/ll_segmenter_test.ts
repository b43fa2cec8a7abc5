import assert from "node:assert/strict";
import { HlsSegmenter, type SegmenterFrame } from "./segmenter.ts";
import { LlSegmenter, type LlSegmentState } from "./ll_segmenter.ts";
import { parseLlPlaylist, renderLlPlaylist } from "./ll_playlist.ts";

/** Interleaved A/V (or one of them) with ms timestamps, as RTMP carries them. */
function stream(
  o: { fps?: number; gop?: number; audio?: boolean; seconds: number; start?: number },
) {
  const out: SegmenterFrame[] = [];
  const start = o.start ?? 0;
  if (o.fps) {
    for (let i = 0; i * 1000 / o.fps < o.seconds * 1000; i++) {
      out.push({
        kind: "video",
        dts: start + Math.round(i * 1000 / o.fps),
        keyframe: i % o.gop! === 0,
      });
    }
  }
  if (o.audio) {
    for (let i = 0; i * 1024 * 1000 / 44100 < o.seconds * 1000; i++) {
      out.push({ kind: "audio", dts: start + Math.round(i * 1024 * 1000 / 44100), keyframe: true });
    }
  }
  return out.sort((a, b) => a.dts - b.dts);
}

function run(frames: SegmenterFrame[], partSeconds = 0.333, hasVideo = true) {
  const seg = new LlSegmenter({ firstSequence: 100, hasVideo, partSeconds, segmentSeconds: 2 });
  seg.setPrefix("abc");
  const segments: LlSegmentState[] = [];
  let parts = 0;
  for (const f of frames) {
    const r = seg.push(f, 1_700_000_000_000 + f.dts);
    if (r.closedPart) parts++;
    if (r.closedSegment) segments.push(r.closedSegment);
  }
  const end = seg.finish();
  if (end.closedPart) parts++;
  if (end.closedSegment) segments.push(end.closedSegment);
  return { seg, segments, parts };
}

for (const fps of [24, 25, 29.97, 30, 50, 60]) {
  Deno.test(`LlSegmenter: ${fps} fps parts are whole frames, at most PART-TARGET, non-final ones at least 85 %`, () => {
    const { segments } = run(stream({ fps, gop: Math.round(fps * 2), audio: true, seconds: 12 }));
    assert.ok(segments.length >= 5);
    for (const s of segments) {
      const sum = s.parts.reduce((a, p) => a + p.duration, 0);
      assert.ok(Math.abs(sum - s.duration!) < 0.002, `parts add up to segment ${s.sequence}`);
      s.parts.forEach((p, i) => {
        assert.ok(p.duration <= 0.333, `part ${s.sequence}.${i} ${p.duration} ≤ target`);
        if (i < s.parts.length - 1) {
          assert.ok(p.duration >= 0.85 * 0.333, `part ${s.sequence}.${i} ${p.duration} ≥ 85 %`);
        }
        assert.equal(p.independent, i === 0, `only part 0 starts with a keyframe (${fps} fps)`);
        assert.equal(p.uri, `abc_p${s.sequence}.${i}.m4s`);
      });
    }
  });
}

Deno.test("LlSegmenter cuts segments exactly where HlsSegmenter does", () => {
  const frames = stream({ fps: 30, gop: 50, audio: true, seconds: 20 });
  const { segments } = run(frames);
  const ts = new HlsSegmenter({ firstSequence: 100, hasVideo: true, segmentSeconds: 2 });
  const durations: number[] = [];
  for (const f of frames) {
    const r = ts.push(f, f.dts);
    if (r.closed) durations.push(r.closed.duration);
  }
  const last = ts.finish().closed;
  if (last) durations.push(last.duration);
  assert.deepEqual(segments.map((s) => s.duration), durations);
});

Deno.test("LlSegmenter: audio-only parts are all independent and cut on the audio timeline", () => {
  const { segments } = run(stream({ audio: true, seconds: 8 }), 0.5, false);
  assert.ok(segments.length >= 3);
  for (const s of segments) {
    for (const [i, p] of s.parts.entries()) {
      assert.ok(p.independent);
      assert.ok(p.duration <= 0.5);
      if (i < s.parts.length - 1) assert.ok(p.duration >= 0.425, `${p.duration}`);
    }
  }
});

Deno.test("LlSegmenter.playlist() lists the open segment's parts and hints the next one", () => {
  const frames = stream({ fps: 30, gop: 60, seconds: 7 });
  const seg = new LlSegmenter({ firstSequence: 7, hasVideo: true, partSeconds: 0.333 });
  seg.setPrefix("p1");
  for (const f of frames) seg.push(f, 1000 + f.dts);
  const p = seg.playlist();
  assert.equal(p.mediaSequence, 7);
  assert.equal(p.segments.length, 4, "three complete, one being written");
  const open = p.segments.at(-1)!;
  assert.equal(open.duration, undefined);
  assert.equal(open.sequence, 10);
  assert.equal(p.preloadHint, `p1_p10.${open.parts.length}.m4s`);
  const position = seg.position();
  assert.deepEqual([position.sequence, position.part], [10, open.parts.length]);
  assert.equal(position.partsOf(8), 7, "2 s of 30 fps: six 0.3 s parts and a 0.2 s one");
  assert.equal(position.partsOf(10), undefined, "not complete yet");
  const text = renderLlPlaylist(p);
  assert.deepEqual(parseLlPlaylist(text).segments.map((s) => s.sequence), [7, 8, 9, 10]);
});

Deno.test("LlSegmenter: a republish continues the sequence after a discontinuity with the new prefix", () => {
  const seg = new LlSegmenter({ firstSequence: 1, hasVideo: true, partSeconds: 0.333 });
  seg.setPrefix("aa");
  for (const f of stream({ fps: 30, gop: 60, seconds: 4.1 })) seg.push(f, f.dts);
  const paused = seg.finish();
  assert.equal(paused.closedSegment?.sequence, 3);
  assert.equal(seg.playlist().preloadHint, "aa_p4.0.m4s", "still live while the publisher is away");
  seg.setPrefix("bb");
  for (const f of stream({ fps: 30, gop: 60, seconds: 2.1 })) seg.push(f, 10_000 + f.dts);
  const p = parseLlPlaylist(renderLlPlaylist(seg.playlist()));
  const republished = p.segments.find((s) => s.sequence === 4)!;
  assert.ok(republished.discontinuity);
  assert.equal(republished.mapUri, "bb_init.mp4");
  assert.equal(p.segments.find((s) => s.sequence === 3)!.mapUri, "aa_init.mp4");
  assert.equal(seg.end().closedSegment?.sequence, 5);
  assert.equal(seg.playlist().preloadHint, undefined);
  assert.ok(seg.playlist().ended);
});

Deno.test("LlSegmenter refuses a bad part target or a frame before setPrefix()", () => {
  assert.throws(
    () => new LlSegmenter({ firstSequence: 0, hasVideo: true, partSeconds: 0 }),
    RangeError,
  );
  const seg = new LlSegmenter({ firstSequence: 0, hasVideo: true, partSeconds: 0.5 });
  assert.throws(() => seg.push({ kind: "video", dts: 0, keyframe: true }, 0), TypeError);
  assert.throws(() => seg.setPrefix("A_b"), RangeError);
});
