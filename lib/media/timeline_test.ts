import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import type { MediaFrame } from "./frame.ts";
import { MAX_FRAME_STEP_MS, TimestampRebaser } from "./timeline.ts";

const DATA = new Uint8Array([1, 2, 3]);
const video = (dts: number, cts = 0): MediaFrame => ({
  kind: "video",
  codec: "h264",
  dts,
  pts: dts + cts,
  keyframe: false,
  data: DATA,
});
const audio = (dts: number): MediaFrame => ({
  kind: "audio",
  codec: "aac",
  dts,
  pts: dts,
  keyframe: true,
  data: DATA,
});

/** 30 fps video and 1024-sample 48 kHz audio from `from` to `to` ms, interleaved by dts. */
function av(from: number, to: number): MediaFrame[] {
  const out: MediaFrame[] = [];
  for (let i = 0; from + i * 1000 / 30 < to; i++) out.push(video(from + Math.round(i * 1000 / 30)));
  for (let j = 0; from + j * 64 / 3 < to; j++) out.push(audio(from + Math.round(j * 64 / 3)));
  return out.sort((a, b) => a.dts - b.dts);
}

function rebaseAll(r: TimestampRebaser, frames: MediaFrame[]) {
  return frames.map((f) => ({ in: f, ...r.rebase(f) }));
}

Deno.test("TimestampRebaser.rebase() passes a continuous timeline through untouched", () => {
  const r = new TimestampRebaser();
  const frames = [...av(5000, 8000)];
  // Interleaving jitter: an audio frame 60 ms behind the video is no jump.
  frames.push(video(8000), audio(7940), video(8033));
  for (const out of rebaseAll(r, frames)) {
    assert.equal(out.frame, out.in, "the same object, not a copy");
    assert.equal(out.jumpMs, undefined);
  }
});

Deno.test("TimestampRebaser.rebase() closes a joint forward and backward jump with one shared offset", () => {
  const r = new TimestampRebaser();
  const before = rebaseAll(r, av(0, 3000));
  // The encoder's clock leaps 30 s ahead, then falls back 20 s: both tracks together.
  const ahead = rebaseAll(r, av(33_000, 36_000));
  const back = rebaseAll(r, av(16_000, 19_000));
  const all = [...before, ...ahead, ...back];
  const jumps = all.filter((o) => o.jumpMs !== undefined);
  assert.equal(jumps.length, 2, "one log-worthy jump per occurrence, not per track");
  assert.ok(Math.abs(jumps[0]!.jumpMs! - 30_000) < 50, `${jumps[0]!.jumpMs}`);
  assert.ok(Math.abs(jumps[1]!.jumpMs! + 20_000) < 3100, `${jumps[1]!.jumpMs}`);
  for (const kind of ["video", "audio"] as const) {
    const dts = all.filter((o) => o.frame.kind === kind).map((o) => o.frame.dts);
    for (let i = 1; i < dts.length; i++) {
      const step = dts[i]! - dts[i - 1]!;
      assert.ok(step > 0 && step <= 40, `${kind} step ${step} at ${i}`);
    }
  }
  // A/V sync: each frame keeps its distance to the other track's frames of the same instant.
  for (const part of [ahead, back]) {
    const shift = part.map((o) => o.frame.dts - o.in.dts);
    assert.ok(shift.every((s) => s === shift[0]), "audio and video moved by the same amount");
    assert.ok(part.every((o) => o.frame !== o.in && o.in.dts !== o.frame.dts));
  }
  // The input frames were not touched.
  assert.equal(ahead[0]!.in.dts, 33_000);
});

Deno.test("TimestampRebaser.rebase() keeps the composition offset", () => {
  const r = new TimestampRebaser();
  r.rebase(video(0, 66));
  r.rebase(video(33, 100));
  const out = r.rebase(video(50_000, 133)).frame;
  assert.equal(out.dts, 66);
  assert.equal(out.pts - out.dts, 133);
});

Deno.test("TimestampRebaser.rebase() moves a track that jumps alone without dragging the other", () => {
  const r = new TimestampRebaser();
  rebaseAll(r, av(0, 2000));
  // The last video frame was at 1967 ms, 34 ms after the one before.
  const jumped = r.rebase(video(60_000));
  assert.equal(jumped.jumpMs, 60_000 - 2001);
  assert.equal(jumped.frame.dts, 2001);
  // Audio goes on where it was; video's next frames follow its own new offset.
  assert.equal(r.rebase(audio(2005)).frame.dts, 2005);
  assert.equal(r.rebase(video(60_033)).frame.dts, 2034);
  assert.equal(r.rebase(audio(2027)).jumpMs, undefined);
});

Deno.test("TimestampRebaser.reset() starts a new timeline without counting a jump", () => {
  const r = new TimestampRebaser();
  rebaseAll(r, av(0, 2000));
  r.rebase(video(90_000));
  r.reset();
  const out = r.rebase(video(0));
  assert.equal(out.jumpMs, undefined);
  assert.equal(out.frame.dts, 0);
  assert.throws(() => r.rebase(video(NaN)), RangeError);
});

Deno.test("TimestampRebaser output never steps more than allowed, whatever the input", () => {
  const arbStep = fc.oneof(
    fc.integer({ min: 0, max: 40 }),
    fc.integer({ min: -200_000, max: 200_000 }),
  );
  fc.assert(
    fc.property(
      fc.array(fc.record({ video: fc.boolean(), step: arbStep }), { maxLength: 300 }),
      (steps) => {
        const r = new TimestampRebaser();
        const last: Record<string, number> = {};
        let dts = 0;
        for (const s of steps) {
          dts += s.step;
          const f = s.video ? video(dts) : audio(dts);
          const out = r.rebase(f).frame;
          const prev = last[f.kind];
          if (prev !== undefined) {
            const step = out.dts - prev;
            assert.ok(step >= -100 && step <= MAX_FRAME_STEP_MS, `step ${step}`);
          }
          last[f.kind] = out.dts;
        }
      },
    ),
    { numRuns: 300 },
  );
});
