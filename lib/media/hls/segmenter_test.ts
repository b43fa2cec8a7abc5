import assert from "node:assert/strict";
import fc from "../../../tests/helpers/fast_check.ts";
import { parsePlaylist, renderPlaylist } from "./playlist.ts";
import { decodeErrors, probeDuration } from "../../../tests/helpers/decode.ts";
import { runChecked } from "../../../tests/helpers/process.ts";
import {
  HlsSegmenter,
  type HlsSegmenterOptions,
  type OpenSegment,
  type PushResult,
  type SegmenterFrame,
  type SegmentInfo,
} from "./segmenter.ts";

interface StreamSpec {
  /** Omitted: no video. */
  fps?: number;
  /** Video frames from one keyframe to the next. */
  gopFrames?: number;
  /** Omitted: no audio. AAC frames are 1024 samples. */
  audioRate?: number;
  seconds: number;
  /** dts of the first frame, ms. */
  startDts?: number;
  /** Video frames before the first keyframe, as when joining an encoder mid-GOP. */
  leadingFrames?: number;
}

/** An interleaved frame sequence with ms timestamps, as RTMP carries them. */
function stream(spec: StreamSpec): SegmenterFrame[] {
  const start = spec.startDts ?? 0;
  const out: SegmenterFrame[] = [];
  if (spec.fps !== undefined) {
    const lead = spec.leadingFrames ?? 0;
    for (let i = 0; i * 1000 / spec.fps < spec.seconds * 1000; i++) {
      const keyframe = i >= lead && (i - lead) % (spec.gopFrames ?? 1) === 0;
      out.push({ kind: "video", dts: start + Math.round(i * 1000 / spec.fps), keyframe });
    }
  }
  if (spec.audioRate !== undefined) {
    const frameMs = 1024 * 1000 / spec.audioRate;
    for (let j = 0; j * frameMs < spec.seconds * 1000; j++) {
      out.push({ kind: "audio", dts: start + Math.round(j * frameMs), keyframe: true });
    }
  }
  // Stable: video before audio at equal dts.
  return out.sort((a, b) => a.dts - b.dts);
}

interface Recorded extends OpenSegment {
  frames: SegmenterFrame[];
  /** Wall clock passed with the segment's first frame. */
  startWallMs: number;
  info?: SegmentInfo;
}

/**
 * Drives a segmenter like the origin does and checks the invariants that must hold after
 * every call: the window size, consecutive numbering, media and discontinuity sequences.
 */
class Harness {
  readonly seg: HlsSegmenter;
  readonly segments: Recorded[] = [];
  readonly expired: SegmentInfo[] = [];
  dropped: SegmenterFrame[] = [];
  #current: Recorded | undefined;
  /** The target of the first playlist published (a closed segment or an end). */
  #publishedTarget: number | undefined;

  constructor(options: HlsSegmenterOptions) {
    this.seg = new HlsSegmenter(options);
  }

  push(frame: SegmenterFrame, nowMs: number): PushResult {
    const r = this.seg.push(frame, nowMs);
    assert.equal(r.cut, r.started !== undefined);
    if (r.closed) this.#closed(r.closed);
    if (r.started) {
      assert.ok(r.write);
      assert.equal(this.#current, undefined, "a segment started while one is open");
      const last = this.segments.at(-1);
      if (last) assert.equal(r.started.sequence, last.sequence + 1);
      this.#current = { ...r.started, frames: [], startWallMs: nowMs };
      this.segments.push(this.#current);
    }
    if (r.write) {
      assert.ok(this.#current, "write without an open segment");
      this.#current.frames.push(frame);
    } else {
      this.dropped.push(frame);
    }
    this.#check();
    return r;
  }

  feed(frames: SegmenterFrame[], wallAtZero: number): void {
    for (const f of frames) this.push(f, wallAtZero + f.dts);
  }

  finish(): void {
    const r = this.seg.finish();
    if (r.closed) this.#closed(r.closed);
    assert.equal(this.#current, undefined);
    this.#check();
  }

  discontinuity(hasVideo?: boolean): void {
    const r = this.seg.discontinuity({ hasVideo });
    if (r.closed) this.#closed(r.closed);
    this.#check();
  }

  end(): void {
    const r = this.seg.end();
    if (r.closed) this.#closed(r.closed);
    this.#publishedTarget ??= this.seg.targetDuration;
    this.#check();
  }

  #closed(info: SegmentInfo): void {
    assert.ok(this.#current, "closed without an open segment");
    assert.equal(info.sequence, this.#current.sequence);
    this.#current.info = info;
    assert.equal(info.independent, this.#current.independent);
    assert.ok(this.#current.frames.length > 0, "a closed segment holds frames");
    assert.ok(info.duration > 0, `segment ${info.sequence} has duration ${info.duration}`);
    this.#current = undefined;
    const listed = this.seg.playlist().segments.at(-1);
    assert.equal(listed?.sequence, info.sequence, "a closed segment is listed at once");
  }

  #check(): void {
    const p = this.seg.playlist();
    // RFC 8216 §4.3.3.1 and §6.2.1, on every playlist: durations round to at most the
    // target, and the target never changes once published.
    if (p.segments.length > 0) this.#publishedTarget ??= p.targetDuration;
    if (this.#publishedTarget !== undefined) assert.equal(p.targetDuration, this.#publishedTarget);
    for (const s of p.segments) {
      assert.ok(Math.round(s.duration) <= p.targetDuration, `${s.duration} > ${p.targetDuration}`);
    }
    assert.equal(
      p.independentSegments,
      this.segments.filter((s) => s.info && p.segments.some((l) => l.sequence === s.sequence))
        .every((s) => s.independent),
    );
    this.expired.push(...this.seg.takeExpired());
    // The window holds listSize segments, more only while RFC 8216 §6.2.2 keeps them, and
    // once anything has left it still spans three target durations.
    const ms = p.segments.map((s) => Math.round(s.duration * 1000));
    const total = ms.reduce((a, b) => a + b, 0);
    const minMs = 3 * this.seg.targetDuration * 1000;
    if (ms.length > this.seg.listSize) assert.ok(total - ms[0]! < minMs, "window too large");
    if (this.expired.length > 0) assert.ok(total >= minMs, "window too short");
    if (p.segments.length > 0) assert.equal(p.mediaSequence, p.segments[0]!.sequence);
    p.segments.forEach((s, i) => assert.equal(s.sequence, p.mediaSequence + i));
    const gone = this.expired.filter((s) => s.discontinuity).length;
    assert.equal(p.discontinuitySequence, gone, "discontinuity sequence");
    const closed = this.segments.filter((s) => s.info);
    assert.deepEqual(
      [...this.expired.map((s) => s.sequence), ...p.segments.map((s) => s.sequence)],
      closed.map((s) => s.sequence),
      "every closed segment is listed or expired, once",
    );
  }

  durations(): number[] {
    return this.segments.flatMap((s) => s.info ? [s.info.duration] : []);
  }
}

const video = (dts: number, keyframe = false): SegmenterFrame => ({ kind: "video", dts, keyframe });
const audio = (dts: number): SegmenterFrame => ({ kind: "audio", dts, keyframe: true });
const T0 = Date.UTC(2025, 2, 1, 12);

Deno.test("new HlsSegmenter() checks its options", () => {
  const ok = { firstSequence: 0, hasVideo: true };
  assert.throws(() => new HlsSegmenter({ ...ok, segmentSeconds: 0 }), RangeError);
  assert.throws(() => new HlsSegmenter({ ...ok, segmentSeconds: NaN }), RangeError);
  assert.throws(() => new HlsSegmenter({ ...ok, listSize: 0 }), RangeError);
  assert.throws(() => new HlsSegmenter({ ...ok, listSize: 2.5 }), RangeError);
  assert.throws(() => new HlsSegmenter({ ...ok, firstSequence: -1 }), RangeError);
  assert.throws(() => new HlsSegmenter({ ...ok, targetDuration: 1 }), RangeError);
  assert.throws(
    () => new HlsSegmenter({ ...ok, segmentSeconds: 4, targetDuration: 3 }),
    RangeError,
  );
  assert.throws(() => new HlsSegmenter({ ...ok, targetDuration: 3.5 }), RangeError);
  assert.throws(() => new HlsSegmenter({ ...ok, maxTargetDuration: 2 }), RangeError);
  assert.throws(() => new HlsSegmenter({ ...ok, maxTargetDuration: 12.5 }), RangeError);
  const seg = new HlsSegmenter(ok);
  assert.equal(seg.segmentSeconds, 2);
  assert.equal(seg.listSize, 6);
  assert.equal(seg.targetDuration, 3);
  assert.equal(seg.maxTargetDuration, 12);
  assert.equal(new HlsSegmenter({ ...ok, segmentSeconds: 6 }).targetDuration, 7);
  assert.equal(new HlsSegmenter({ ...ok, segmentSeconds: 20 }).maxTargetDuration, 21);
  assert.equal(new HlsSegmenter({ ...ok, targetDuration: 2 }).targetDuration, 2);
});

Deno.test("HlsSegmenter.push() drops everything before the first video keyframe", () => {
  const h = new Harness({ firstSequence: 10, hasVideo: true });
  assert.deepEqual(h.push(audio(0), T0), { write: false, cut: false });
  assert.deepEqual(h.push(video(0), T0), { write: false, cut: false });
  assert.deepEqual(h.push(video(33), T0), { write: false, cut: false });
  const r = h.push(video(67, true), T0 + 67);
  assert.equal(r.cut, true);
  assert.deepEqual(r.started, {
    sequence: 10,
    uri: "10.ts",
    programDateTime: new Date(T0 + 67),
    discontinuity: false,
    independent: true,
  });
  assert.equal(r.closed, undefined);
  assert.deepEqual(h.push(audio(70), T0), { write: true, cut: false });
  assert.deepEqual(h.push(video(100), T0), { write: true, cut: false });
  assert.deepEqual(h.seg.playlist().segments, [], "the open segment is not listed");
  assert.equal(h.seg.playlist().mediaSequence, 10);
});

Deno.test("HlsSegmenter.push() cuts at the first keyframe once segmentSeconds have passed", () => {
  const cases: { name: string; spec: StreamSpec; durations: number[] }[] = [
    {
      name: "1 s GOP at 30 fps",
      spec: { fps: 30, gopFrames: 30, seconds: 9 },
      durations: [2, 2, 2, 2],
    },
    {
      name: "2 s GOP at 25 fps",
      spec: { fps: 25, gopFrames: 50, seconds: 7 },
      durations: [2, 2, 2],
    },
    {
      name: "0.5 s GOP at 60 fps",
      spec: { fps: 60, gopFrames: 30, seconds: 5 },
      durations: [2, 2],
    },
    {
      name: "GOP 1.2 s: the keyframe at 2.4 s, since waiting 1.2 s more stays in 3 s",
      spec: { fps: 30, gopFrames: 36, seconds: 8 },
      durations: [2.4, 2.4, 2.4],
    },
    {
      name: "GOP 1.9 s: the first keyframe, since the second would make 3.8 s",
      spec: { fps: 30, gopFrames: 57, seconds: 8 },
      durations: [1.9, 1.9, 1.9, 1.9],
    },
    {
      name: "GOP 2 s at 29.97 fps",
      spec: { fps: 29.97, gopFrames: 60, seconds: 9, audioRate: 44100 },
      durations: [2.002, 2.002, 2.002, 2.002],
    },
    {
      name: "audio only, cut on the first frame after 2 s",
      spec: { audioRate: 48000, seconds: 7 },
      // Every 94th frame of 21.333 ms, at dts 2005, 4011 and 6016 ms.
      durations: [2.005, 2.006, 2.005],
    },
  ];
  for (const c of cases) {
    const h = new Harness({ firstSequence: 0, hasVideo: c.spec.fps !== undefined });
    h.feed(stream(c.spec), T0);
    assert.deepEqual(h.durations(), c.durations, c.name);
  }
});

Deno.test("HlsSegmenter.push() cuts a jittered 2 s GOP at each keyframe", () => {
  // A keyframe 1 ms early must not double the segment to 4 s.
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  const keys = [0, 1999, 4001, 5999, 8000, 9998];
  for (let t = 0; t <= 10_000; t += 1) {
    if (keys.includes(t)) h.push(video(t, true), T0 + t);
    else if (t % 33 === 0) h.push(video(t), T0 + t);
  }
  assert.deepEqual(h.durations(), [1.999, 2.002, 1.998, 2.001, 1.998]);
});

Deno.test("HlsSegmenter.push() cuts no sliver at a scene-cut keyframe after a cut", () => {
  // A 3 s GOP with a scene cut 0.1 s after its keyframe.
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  const keys = new Set([0, 3000, 3100, 6000, 9000]);
  for (let t = 0; t <= 9000; t += 20) h.push(video(t, keys.has(t)), T0 + t);
  // Without the half-segment floor: 3, 0.1, 2.9, 3.
  assert.deepEqual(h.durations(), [3, 3, 3]);
});

Deno.test("HlsSegmenter.push() learns a long GOP's target and still cuts at every keyframe", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  h.feed(stream({ fps: 30, gopFrames: 150, seconds: 16, audioRate: 44100 }), T0);
  assert.deepEqual(h.durations(), [5, 5, 5]);
  for (const s of h.segments) {
    assert.ok(s.frames[0]!.keyframe && s.frames[0]!.kind === "video");
    if (s.info) assert.equal(s.info.independent, true);
  }
  // A 5 s GOP: 5 + 1 s, so every 5 s segment fits with room for a late keyframe.
  assert.equal(h.seg.targetDuration, 6);
  assert.equal(h.seg.playlist().independentSegments, true);
  const h2 = new Harness({ firstSequence: 0, hasVideo: true });
  h2.feed(stream({ fps: 30, gopFrames: 104, seconds: 11 }), T0);
  assert.deepEqual(h2.segments.flatMap((s) => s.info ? [s.info.independent] : []), [
    true,
    true,
    true,
  ]);
  assert.deepEqual(h2.durations(), [3.467, 3.466, 3.467]);
  assert.equal(h2.seg.targetDuration, 5);
});

Deno.test("HlsSegmenter learns the target from the first GOP when the first segment closes", () => {
  const cases: { name: string; spec: StreamSpec; target: number; firstCutDts: number }[] = [
    {
      name: "2 s GOP",
      spec: { fps: 30, gopFrames: 60, seconds: 12 },
      target: 3,
      firstCutDts: 2000,
    },
    {
      name: "2 s GOP at 29.97 fps (2.002 s)",
      spec: { fps: 29.97, gopFrames: 60, seconds: 12 },
      target: 3,
      firstCutDts: 2002,
    },
    {
      name: "1 s GOP",
      spec: { fps: 60, gopFrames: 60, seconds: 12 },
      target: 3,
      firstCutDts: 2000,
    },
    {
      name: "1.2 s GOP: a 2.4 s first segment",
      spec: { fps: 25, gopFrames: 30, seconds: 12 },
      target: 3,
      firstCutDts: 2400,
    },
    {
      name: "3 s GOP: fits the floor",
      spec: { fps: 30, gopFrames: 90, seconds: 12 },
      target: 3,
      firstCutDts: 3000,
    },
    {
      name: "3.5 s GOP: 3.5 rounded up, plus 1",
      spec: { fps: 30, gopFrames: 105, seconds: 12 },
      target: 5,
      firstCutDts: 3500,
    },
    {
      name: "5 s GOP",
      spec: { fps: 30, gopFrames: 150, seconds: 30 },
      target: 6,
      firstCutDts: 5000,
    },
    {
      name: "OBS's default at 30 fps: 8.33 s",
      spec: { fps: 30, gopFrames: 250, seconds: 40 },
      target: 10,
      firstCutDts: 8333,
    },
    {
      name: "a 20 s GOP: cut before the cap of 12",
      spec: { fps: 24, gopFrames: 480, seconds: 40 },
      target: 12,
      firstCutDts: 12_458,
    },
  ];
  for (const c of cases) {
    const h = new Harness({ firstSequence: 0, hasVideo: true });
    let firstCut: number | undefined;
    for (const f of stream(c.spec)) {
      const r = h.push(f, T0 + f.dts);
      if (r.closed && firstCut === undefined) {
        firstCut = f.dts;
        assert.equal(h.seg.targetDuration, c.target, c.name);
      }
    }
    assert.equal(firstCut, c.firstCutDts, `${c.name}: the first playlist is as early as ever`);
    assert.equal(h.seg.targetDuration, c.target, c.name);
  }
});

Deno.test("HlsSegmenter caps the learned target at maxTargetDuration", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true, maxTargetDuration: 6 });
  h.feed(stream({ fps: 30, gopFrames: 250, seconds: 30 }), T0);
  assert.equal(h.seg.targetDuration, 6);
  // 8.33 s GOPs under a 6 s target: cut at 6.467 s, then realigned at each keyframe.
  assert.deepEqual(h.durations().slice(0, 3), [6.467, 1.866, 6.467]);
  assert.deepEqual(h.segments.slice(0, 4).map((s) => s.independent), [true, false, true, false]);
});

Deno.test("HlsSegmenter never changes the target: a longer GOP after a republish is cut between keyframes", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true, listSize: 3 });
  const listedIndependent = () => h.seg.playlist().independentSegments;
  h.feed(stream({ fps: 30, gopFrames: 60, seconds: 9, audioRate: 48000 }), T0);
  assert.equal(h.seg.targetDuration, 3);
  assert.equal(listedIndependent(), true);
  // The encoder comes back with OBS's default keyframe interval.
  h.discontinuity();
  h.feed(stream({ fps: 30, gopFrames: 250, seconds: 17, audioRate: 48000 }), T0 + 20_000);
  assert.equal(h.seg.targetDuration, 3, "the target stays");
  const after = h.segments.slice(h.segments.findIndex((s) => s.discontinuity));
  // Cut where one more frame would round to 4 s: 3.467 s, then again, then at the keyframe.
  assert.deepEqual(after.slice(0, 4).map((s) => s.info?.duration), [3.467, 3.466, 1.4, 3.467]);
  assert.deepEqual(after.slice(0, 4).map((s) => s.independent), [true, false, false, true]);
  for (const s of after) assert.equal(s.frames[0]!.keyframe, s.independent);
  assert.equal(listedIndependent(), false, "no INDEPENDENT-SEGMENTS while one is listed");
  assert.doesNotMatch(renderPlaylist(h.seg.playlist()), /INDEPENDENT/);
  // Back to 2 s keyframes: once the forced cuts leave the window, the tag comes back.
  h.discontinuity();
  h.feed(stream({ fps: 30, gopFrames: 60, seconds: 12 }), T0 + 40_000);
  assert.equal(listedIndependent(), true);
  assert.match(renderPlaylist(h.seg.playlist()), /#EXT-X-INDEPENDENT-SEGMENTS\n/);
});

Deno.test("HlsSegmenter cuts at a dropped keyframe's place and realigns at the next one", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  // 2 s GOPs at 25 fps; the keyframe at 4 s never comes.
  for (let i = 0; i < 250; i++) {
    const dts = i * 40;
    h.push(video(dts, dts % 2000 === 0 && dts !== 4000), T0 + dts);
  }
  assert.deepEqual(h.durations(), [2, 3.48, 0.52, 2]);
  assert.deepEqual(h.segments.map((s) => s.independent), [true, true, false, true, true]);
  assert.equal(h.seg.keyframeIntervalMs, 4000, "the longest recent interval");
});

Deno.test("HlsSegmenter counts a timestamp leap only up to the target", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 3 }), T0);
  // 30 s ahead in one step, no keyframe: the segment ends there, just short of 3.5 s.
  h.push(video(33_000), T0 + 3000);
  assert.deepEqual(h.durations(), [2, 3.499]);
  assert.equal(h.segments.at(-1)!.independent, false);
});

Deno.test("HlsSegmenter.end() fixes the target even with nothing listed", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  h.push(video(0), T0);
  h.end();
  assert.deepEqual(h.seg.playlist().segments, []);
  assert.equal(h.seg.playlist().targetDuration, 3);
  h.feed(stream({ fps: 30, gopFrames: 250, seconds: 12 }), T0 + 5000);
  assert.equal(h.seg.targetDuration, 3, "the published target stays");
});

Deno.test("HlsSegmenter.push() ignores video when the stream has no video track", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: false });
  assert.deepEqual(h.push(video(0, true), T0), { write: false, cut: false });
  assert.equal(h.push(audio(0), T0).cut, true);
  assert.deepEqual(h.push(video(10, true), T0), { write: false, cut: false });
});

Deno.test("HlsSegmenter.finish() closes the last segment with one more frame of duration", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  h.feed(stream({ fps: 25, gopFrames: 25, seconds: 3, audioRate: 48000 }), T0);
  assert.deepEqual(h.durations(), [2]);
  h.finish();
  // Frames at 2000..2960 ms, plus one 40 ms frame.
  assert.deepEqual(h.durations(), [2, 1]);
  assert.deepEqual(h.seg.finish(), {}, "nothing left to close");
});

Deno.test("HlsSegmenter.finish() of a one-frame segment still gives it a duration", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  h.push(video(0, true), T0);
  h.finish();
  assert.deepEqual(h.durations(), [0.033]);
});

Deno.test("HlsSegmenter program date times follow durations and restart from the clock", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  // Frames arrive late and unevenly; the date times still follow the media.
  const frames = stream({ fps: 30, gopFrames: 30, seconds: 6 });
  frames.forEach((f, i) => h.push(f, T0 + 500 + f.dts + (i % 7) * 13));
  h.finish();
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 2.5, startDts: 0 }), T0 + 60_000);
  h.finish();
  const dates = h.segments.map((s) => s.programDateTime.getTime() - T0);
  assert.deepEqual(dates, [500, 2500, 4500, 60_000, 62_000]);
  const listed = h.seg.playlist().segments.map((s) => s.programDateTime?.getTime());
  assert.deepEqual(listed, dates.map((d) => T0 + d));
});

Deno.test("HlsSegmenter.discontinuity() marks the next segment and numbering goes on", () => {
  // 1 s segments, so three of them are the three target durations a window must span.
  const h = new Harness({
    firstSequence: 100,
    hasVideo: true,
    segmentSeconds: 1,
    targetDuration: 1,
    listSize: 3,
  });
  const listed = () => h.seg.playlist().segments.map((s) => [s.sequence, s.discontinuity]);
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 3, audioRate: 44100 }), T0);
  h.discontinuity();
  // The new publisher's timestamps start again from zero.
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 2, audioRate: 44100 }), T0 + 5000);
  h.finish();
  assert.deepEqual(listed(), [[102, false], [103, true], [104, false]]);
  assert.equal(h.seg.playlist().discontinuitySequence, 0);

  h.discontinuity();
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 2 }), T0 + 9000);
  assert.deepEqual(listed(), [[103, true], [104, false], [105, true]]);
  assert.equal(h.seg.playlist().discontinuitySequence, 0);
  h.finish();
  assert.deepEqual(listed(), [[104, false], [105, true], [106, false]]);
  assert.equal(h.seg.playlist().discontinuitySequence, 1, "103 left the window");
  assert.deepEqual(h.expired.map((s) => s.sequence), [100, 101, 102, 103]);
  assert.deepEqual(h.seg.takeExpired(), [], "each expired segment is handed out once");
});

Deno.test("HlsSegmenter keeps three target durations listed, past listSize if need be", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true, listSize: 2 });
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 20 }), T0);
  // 2 s segments against a 3 s target: five of them, since four would be 8 s < 9 s.
  assert.deepEqual(h.seg.playlist().segments.map((s) => s.sequence), [4, 5, 6, 7, 8]);
  // Quick republishes leave short segments; the window grows to keep 9 s.
  for (let i = 0; i < 6; i++) {
    h.discontinuity();
    h.feed(stream({ fps: 30, gopFrames: 30, seconds: 0.5 }), T0 + 30_000 + i * 1000);
  }
  h.finish();
  const durations = h.seg.playlist().segments.map((s) => s.duration);
  assert.deepEqual(durations, [2, 2, 2, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
});

Deno.test("HlsSegmenter.discontinuity() closes the open segment and can drop video", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 1, audioRate: 48000 }), T0);
  h.discontinuity(false);
  assert.equal(h.seg.hasVideo, false);
  h.feed(stream({ audioRate: 48000, seconds: 1, fps: 30 }), T0);
  h.end();
  const p = h.seg.playlist();
  assert.deepEqual(p.segments.map((s) => [s.sequence, s.discontinuity]), [[0, false], [1, true]]);
  assert.ok(h.segments[1]!.frames.every((f) => f.kind === "audio"));
});

Deno.test("HlsSegmenter.end() lists ENDLIST until a later frame resumes the stream", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 3 }), T0);
  h.end();
  assert.equal(h.seg.playlist().ended, true);
  assert.match(renderPlaylist(h.seg.playlist()), /#EXT-X-ENDLIST\n$/);
  h.push(video(0), T0 + 10_000);
  assert.equal(h.seg.playlist().ended, true, "a dropped frame does not resume");
  h.push(video(33, true), T0 + 10_000);
  assert.equal(h.seg.playlist().ended, false);
  h.finish();
  assert.deepEqual(h.seg.playlist().segments.map((s) => s.discontinuity), [false, false, true]);
});

Deno.test("HlsSegmenter.push() survives dts going backwards", () => {
  const h = new Harness({ firstSequence: 0, hasVideo: true });
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 3 }), T0);
  // The encoder restarts its clock without a republish.
  h.feed(stream({ fps: 30, gopFrames: 30, seconds: 5, startDts: 500 }), T0);
  h.push(video(100, true), T0);
  h.push(video(90), T0);
  h.finish();
  for (const d of h.durations()) assert.ok(d >= 0 && d <= 3, `duration ${d}`);
  assert.ok(h.durations().length >= 4, "segments keep being cut after the reset");
  assert.throws(() => h.seg.push(video(NaN), T0), RangeError);
});

// Frame rates encoders use, and the AAC sample rates.
const arbFps = fc.constantFrom(10, 15, 23.976, 24, 25, 29.97, 30, 50, 59.94, 60);
const arbBroadcast = (segmentSeconds: number, hasVideo: boolean) =>
  arbFps.chain((fps) =>
    fc.record({
      fps: fc.constant(hasVideo ? fps : undefined),
      // Keyframe interval of at most segmentSeconds.
      gopFrames: fc.integer({ min: 1, max: Math.max(1, Math.floor(fps * segmentSeconds)) }),
      audioRate: hasVideo
        ? fc.option(fc.constantFrom(44100, 48000), { nil: undefined })
        : fc.constantFrom(22050, 44100, 48000),
      seconds: fc.double({ min: 0, max: 20, noNaN: true }),
      startDts: fc.integer({ min: 0, max: 100_000 }),
      leadingFrames: fc.integer({ min: 0, max: 40 }),
    })
  );
const arbScenario = fc
  .record({
    segmentSeconds: fc.constantFrom(1, 2, 2.5, 4, 6),
    listSize: fc.integer({ min: 1, max: 8 }),
    firstSequence: fc.nat({ max: 2 ** 40 }),
    hasVideo: fc.boolean(),
    ended: fc.boolean(),
  })
  .chain((o) =>
    fc.record({
      options: fc.constant(o),
      broadcasts: fc.array(arbBroadcast(o.segmentSeconds, o.hasVideo), {
        minLength: 1,
        maxLength: 4,
      }),
      /** After each broadcast: publisher stops, or a discontinuity while one is open. */
      breaks: fc.array(fc.constantFrom("finish", "discontinuity"), {
        minLength: 4,
        maxLength: 4,
      }),
    })
  );

Deno.test("HlsSegmenter properties over random streams", () => {
  fc.assert(
    fc.property(arbScenario, ({ options, broadcasts, breaks }) => {
      const h = new Harness(options);
      broadcasts.forEach((b, i) => {
        h.feed(stream(b), T0 + i * 100_000);
        if (breaks[i] === "finish") h.finish();
        else h.discontinuity();
      });
      if (options.ended) h.end();

      const target = h.seg.targetDuration;
      // A GOP no longer than segmentSeconds leaves the configured target.
      assert.equal(target, h.seg.targetFloor);
      const starts: number[] = [];
      for (const s of h.segments) {
        // (a) every segment starts at a keyframe of the cutting track.
        const first = s.frames[0]!;
        assert.equal(first.kind, options.hasVideo ? "video" : "audio");
        assert.ok(first.keyframe);
        // (b) with GOP ≤ segmentSeconds, every duration rounds to at most the target.
        assert.ok(s.info, "every segment is closed at the end");
        assert.ok(s.info.duration >= 0);
        assert.ok(Math.round(s.info.duration) <= target, `${s.info.duration} > ${target}`);
        assert.equal(s.info.independent, true);
        starts.push(s.sequence);
      }
      // (c) sequence numbers strictly increase, one by one, across discontinuities.
      starts.forEach((n, i) => assert.equal(n, options.firstSequence + i));
      // (d) and (e) are checked by the harness after every call.

      // Within a timeline, a cut segment lasts from its first frame to the next one's.
      for (let i = 0; i + 1 < h.segments.length; i++) {
        const a = h.segments[i]!;
        const b = h.segments[i + 1]!;
        if (b.discontinuity) continue;
        assert.equal(Math.round(a.info!.duration * 1000), b.frames[0]!.dts - a.frames[0]!.dts);
        assert.equal(
          b.programDateTime.getTime(),
          a.programDateTime.getTime() + Math.round(a.info!.duration * 1000),
        );
      }
      // A timeline's first segment is dated by the clock passed with its first frame.
      for (const s of h.segments) {
        if (s.discontinuity || s === h.segments[0]) {
          assert.equal(s.programDateTime.getTime(), s.startWallMs);
        }
      }

      // (f) the playlist survives rendering and parsing.
      const p = h.seg.playlist();
      assert.equal(p.ended, options.ended);
      assert.deepEqual(parsePlaylist(renderPlaylist(p)), p);
    }),
    { numRuns: 300 },
  );
});

Deno.test("HlsSegmenter with any steady keyframe interval below the cap cuts only at keyframes", () => {
  fc.assert(
    fc.property(
      arbFps,
      fc.integer({ min: 1, max: 400 }),
      fc.double({ min: 0.1, max: 30, noNaN: true }),
      fc.constantFrom(1, 2, 3),
      (fps, gopFrames, seconds, segmentSeconds) => {
        const h = new Harness({ firstSequence: 0, hasVideo: true, segmentSeconds });
        h.feed(stream({ fps, gopFrames, seconds, audioRate: 48000 }), T0);
        h.finish();
        const gopMs = gopFrames * 1000 / fps;
        for (const s of h.segments) {
          assert.equal(s.frames[0]!.kind, "video");
          assert.equal(s.frames[0]!.keyframe, s.independent);
          // The learned target leaves a second of room above a GOP of up to 11 s.
          if (gopMs <= 11_000) assert.ok(s.independent, `GOP ${gopMs} ms`);
          // A steady GOP that fits the target gives segments that fit (timestamps are
          // rounded to ms, so an interval may be 1 ms longer than the previous one).
          const ms = s.info!.duration * 1000;
          if (gopMs <= h.seg.targetDuration * 1000) {
            assert.ok(ms <= h.seg.targetDuration * 1000 + 1, `${ms} ms, GOP ${gopMs} ms`);
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

/** Keyframe intervals 0.5–12 s, irregular, at 24–60 fps; possibly with audio. */
const arbIrregular = fc.record({
  fps: fc.constantFrom(24, 25, 29.97, 30, 50, 59.94, 60),
  intervals: fc.array(fc.double({ min: 0.5, max: 12, noNaN: true }), {
    minLength: 1,
    maxLength: 12,
  }),
  audio: fc.boolean(),
  startDts: fc.integer({ min: 0, max: 100_000 }),
});

/** Frames of a broadcast whose keyframes follow `intervals`, then one more interval of tail. */
function irregular(b: { fps: number; intervals: number[]; audio: boolean; startDts: number }) {
  const keys = new Set<number>();
  let at = 0;
  for (const s of b.intervals) {
    keys.add(Math.round(at * b.fps));
    at += s;
  }
  const frames = Math.round(at * b.fps);
  const out: SegmenterFrame[] = [];
  for (let i = 0; i < frames; i++) {
    out.push({
      kind: "video",
      dts: b.startDts + Math.round(i * 1000 / b.fps),
      keyframe: keys.has(i),
    });
  }
  if (b.audio) {
    for (let j = 0; j * 1024 / 48 < at * 1000; j++) {
      out.push({ kind: "audio", dts: b.startDts + Math.round(j * 1024 / 48), keyframe: true });
    }
  }
  return out.sort((x, y) => x.dts - y.dts);
}

Deno.test("HlsSegmenter keeps every segment within a fixed target whatever the keyframes", () => {
  fc.assert(
    fc.property(
      fc.array(arbIrregular, { minLength: 1, maxLength: 4 }),
      fc.constantFrom(1, 2, 4),
      fc.integer({ min: 2, max: 8 }),
      (broadcasts, segmentSeconds, listSize) => {
        const h = new Harness({ firstSequence: 0, hasVideo: true, segmentSeconds, listSize });
        // The harness checks every playlist: durations round within the target, which never
        // changes once published; INDEPENDENT-SEGMENTS only over independent segments.
        broadcasts.forEach((b, i) => {
          if (i > 0) h.discontinuity();
          h.feed(irregular(b), T0 + i * 200_000);
        });
        h.end();
        assert.ok(h.seg.targetDuration <= h.seg.maxTargetDuration);
        h.segments.forEach((s, i) => {
          assert.ok(s.info && s.frames.length > 0 && s.info.duration > 0, "no empty segment");
          assert.ok(Math.round(s.info.duration) <= h.seg.targetDuration);
          assert.equal(s.frames[0]!.keyframe, s.independent);
          // Frame steps are small here, so a duration is the media's, not a clamped one.
          const next = h.segments[i + 1];
          if (next && !next.discontinuity) {
            assert.equal(
              Math.round(s.info.duration * 1000),
              next.frames[0]!.dts - s.frames[0]!.dts,
            );
          }
        });
      },
    ),
    { numRuns: 200 },
  );
});

/**
 * Encodes `seconds` of test media as 2 s MPEG-TS segments named from `first`, timestamps
 * from zero. The audio ends 0.1 s before the video: ffmpeg's command line moves a later
 * timeline that jumps backwards to follow the earlier one, and would complain about
 * overlapping dts if the AAC tail outlasted the video.
 */
async function encodeSegments(dir: string, seconds: number, first: number): Promise<void> {
  await runChecked("ffmpeg", [
    ...["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=30", "-f", "lavfi"],
    ...["-i", `sine=frequency=440:sample_rate=48000:duration=${seconds - 0.1}`],
    ...["-t", String(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"],
    ...["-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-c:a", "aac"],
    ...["-f", "segment", "-segment_time", "2", "-segment_format", "mpegts"],
    ...["-segment_start_number", String(first), "%d.ts"],
  ], { cwd: dir });
}

Deno.test("HlsSegmenter playlist over ffmpeg-made segments plays in ffmpeg", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-hls-" });
  try {
    // Two broadcasts of the same shape as the encoded files: 30 fps, a keyframe a second.
    const h = new Harness({ firstSequence: 1000, hasVideo: true });
    h.feed(stream({ fps: 30, gopFrames: 30, seconds: 6, audioRate: 48000 }), T0);
    h.finish();
    h.discontinuity();
    h.feed(stream({ fps: 30, gopFrames: 30, seconds: 4, audioRate: 48000 }), T0 + 10_000);
    h.end();
    const p = h.seg.playlist();
    assert.deepEqual(p.segments.map((s) => [s.uri, s.duration, s.discontinuity]), [
      ["1000.ts", 2, false],
      ["1001.ts", 2, false],
      ["1002.ts", 2, false],
      ["1003.ts", 2, true],
      ["1004.ts", 2, false],
    ]);
    await encodeSegments(dir, 6, 1000);
    // The second publisher's timestamps start from zero again.
    await encodeSegments(dir, 4, 1003);
    await Deno.writeTextFile(`${dir}/index.m3u8`, renderPlaylist(p));

    // The ended playlist, read start to end.
    assert.equal(await decodeErrors("index.m3u8", { cwd: dir }), "");
    // The live form (no ENDLIST), read from its first segment for 5 s of output.
    await Deno.writeTextFile(`${dir}/live.m3u8`, renderPlaylist({ ...p, ended: false }));
    const live = await decodeErrors("live.m3u8", {
      cwd: dir,
      inputArgs: ["-live_start_index", "0"],
      seconds: 5,
    });
    assert.equal(live, "");
    // ffmpeg sees what the playlist says: 5 segments of 2 s.
    const probed = await probeDuration("index.m3u8", { cwd: dir });
    assert.ok(Math.abs(probed - 10) < 0.2, `duration ${probed}`);
    // And each file is as long as its #EXTINF says (the AAC priming adds 21 ms to the first).
    for (const s of p.segments) {
      const d = await probeDuration(s.uri, { cwd: dir });
      assert.ok(Math.abs(d - s.duration) < 0.05, `${s.uri} lasts ${d}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HlsSegmenter.continueFrom() renumbers the newest segment and the open one after another origin's", () => {
  const seg = new HlsSegmenter({ firstSequence: 5000, hasVideo: true, segmentSeconds: 2 });
  const frames = stream({ fps: 30, gopFrames: 60, seconds: 10, audioRate: 44100 });
  const pushAll = (list: SegmenterFrame[]) => {
    for (const f of list) seg.push(f, T0 + f.dts);
  };
  pushAll(frames.filter((f) => f.dts < 7000));
  assert.deepEqual(seg.playlist().segments.map((s) => s.sequence), [5000, 5001, 5002]);

  const { renamed, dropped } = seg.continueFrom({
    lastSequence: 40,
    discontinuitySequence: 2,
    targetDuration: 3,
  });
  assert.deepEqual(renamed, [
    { from: "5002.ts", to: "41.ts", open: false },
    { from: "5003.ts", to: "42.ts", open: true },
  ]);
  assert.deepEqual(dropped.map((s) => s.uri), ["5000.ts", "5001.ts"]);
  let p = seg.playlist();
  assert.equal(p.mediaSequence, 41);
  assert.equal(p.discontinuitySequence, 2);
  assert.deepEqual(p.segments.map((s) => [s.sequence, s.uri, s.discontinuity]), [
    [41, "41.ts", true],
  ]);

  pushAll(frames.filter((f) => f.dts >= 7000));
  seg.finish();
  p = seg.playlist();
  assert.equal(p.targetDuration, 3);
  assert.deepEqual(p.segments.map((s) => [s.sequence, s.discontinuity]), [
    [41, true],
    [42, false],
    [43, false],
  ]);
  assert.throws(
    () => seg.continueFrom({ lastSequence: -1, discontinuitySequence: 0, targetDuration: 3 }),
    RangeError,
  );
});

Deno.test("HlsSegmenter.continueFrom() with nothing listed yet marks the first segment and keeps the other target", () => {
  const seg = new HlsSegmenter({ firstSequence: 9000, hasVideo: true, segmentSeconds: 2 });
  const { renamed, dropped } = seg.continueFrom({
    lastSequence: 7,
    discontinuitySequence: 0,
    targetDuration: 6,
  });
  assert.deepEqual([renamed, dropped], [[], []]);
  for (const f of stream({ fps: 30, gopFrames: 60, seconds: 5 })) seg.push(f, T0 + f.dts);
  const p = seg.playlist();
  assert.equal(p.targetDuration, 6, "the continued playlist's target, not a learned one");
  assert.deepEqual(p.segments.map((s) => [s.sequence, s.discontinuity]), [[8, true], [9, false]]);
});
