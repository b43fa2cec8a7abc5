import assert from "node:assert/strict";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { Timelines } from "./timeline.ts";
import { playlist } from "../testing/playlists.ts";

/** What a viewer polling the edge sees: per segment, its sequence, discontinuity number and URI. */
interface Seen {
  sequence: number;
  discontinuity: number;
  uri: string;
  broadcast: string;
}

function seen(text: string, broadcast: string): Seen[] {
  const p = parsePlaylist(text);
  let disc = p.discontinuitySequence;
  return p.segments.map((s) => {
    if (s.discontinuity) disc++;
    return { sequence: s.sequence, discontinuity: disc, uri: s.uri, broadcast };
  });
}

/**
 * Serves each `[broadcast, originId, text]` in order through one `Timelines` and checks what
 * RFC 8216 asks of successive playlists at one URL: a sequence number always names the same
 * segment with the same discontinuity number, numbers never go back, a new broadcast starts
 * after a discontinuity.
 */
function serveAll(steps: [string, string, string][], t = new Timelines()): string[] {
  const bySequence = new Map<number, Seen>();
  let last: Seen | undefined;
  const out: string[] = [];
  steps.forEach(([broadcast, originId, text], i) => {
    const served = t.apply("cam", broadcast, originId, text, parsePlaylist(text), i * 1000);
    out.push(served);
    for (const s of seen(served, broadcast)) {
      const before = bySequence.get(s.sequence);
      if (before !== undefined) {
        // A same-origin republish lists the earlier broadcast's segments too.
        assert.deepEqual(
          { ...s, broadcast: before.broadcast },
          before,
          `sequence ${s.sequence} changed meaning at step ${i}`,
        );
        continue;
      }
      if (last !== undefined) {
        assert.ok(s.sequence > last.sequence, `sequence went back at step ${i}`);
        assert.ok(s.discontinuity >= last.discontinuity, `discontinuity went back at step ${i}`);
        if (s.broadcast !== last.broadcast) {
          assert.ok(s.discontinuity > last.discontinuity, `no discontinuity at step ${i}`);
        }
      }
      bySequence.set(s.sequence, s);
      last = s;
    }
  });
  return out;
}

Deno.test("Timelines.apply() returns the origin's playlist unchanged within one broadcast", () => {
  const texts = [playlist({ seq: 100 }), playlist({ seq: 101 }), playlist({ seq: 102 })];
  const out = serveAll(texts.map((t) => ["b1", "o1", t]));
  assert.deepEqual(out, texts);
});

Deno.test("Timelines.apply() joins a broadcast on another origin after a discontinuity", () => {
  const out = serveAll([
    ["b1", "o1", playlist({ seq: 100 })],
    ["b1", "o1", playlist({ seq: 101 })],
    ["b2", "o2", playlist({ seq: 500, n: 1 })],
    ["b2", "o2", playlist({ seq: 500, n: 3 })],
    ["b2", "o2", playlist({ seq: 501, n: 3 })],
  ]);
  const first = parsePlaylist(out[2]!);
  assert.equal(first.mediaSequence, 500, "a higher origin sequence is kept as it is");
  assert.equal(first.segments[0]!.discontinuity, true);
  assert.equal(first.discontinuitySequence, 0);
  const slid = parsePlaylist(out[4]!);
  assert.equal(slid.segments.some((s) => s.discontinuity), false);
  assert.equal(slid.discontinuitySequence, 1, "removing the tag increments the sequence");
});

Deno.test("Timelines.apply() continues the numbering when the new origin starts from 0", () => {
  const out = serveAll([
    ["b1", "o1", playlist({ seq: 40 })],
    ["b2", "o2", playlist({ seq: 0, n: 2 })],
    ["b2", "o2", playlist({ seq: 1, n: 3 })],
  ]);
  assert.equal(parsePlaylist(out[1]!).mediaSequence, 43);
  assert.equal(parsePlaylist(out[2]!).mediaSequence, 44);
  assert.match(out[2]!, /\n1\.ts\n/, "segment URIs stay the origin's");
});

Deno.test("Timelines.apply() keeps a same-origin republish as the origin numbered it", () => {
  const republished = playlist({ seq: 101, n: 4, ds: 0, disc: [2] });
  const out = serveAll([
    ["b1", "o1", playlist({ seq: 100, ds: 0 })],
    ["b2", "o1", republished],
  ]);
  assert.equal(out[1], republished);
});

Deno.test("Timelines.apply() does not add a second tag when the first segment has one", () => {
  const out = serveAll([
    ["b1", "o1", playlist({ seq: 100, ds: 2 })],
    ["b2", "o2", playlist({ seq: 900, ds: 0, disc: [0] })],
  ]);
  assert.equal(out[1]!.match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1);
});

Deno.test("Timelines.apply() starts afresh after a long silence", () => {
  const t = new Timelines({ joinWithinMs: 1000 });
  const a = playlist({ seq: 40 });
  const b = playlist({ seq: 0 });
  t.apply("cam", "b1", "o1", a, parsePlaylist(a), 0);
  assert.equal(t.apply("cam", "b2", "o2", b, parsePlaylist(b), 5000), b);
});

Deno.test("Timelines.apply() waits for a segment before joining an empty playlist", () => {
  const out = serveAll([
    ["b1", "o1", playlist({ seq: 40 })],
    ["b2", "o2", playlist({ seq: 0, n: 0 })],
    ["b2", "o2", playlist({ seq: 0, n: 1 })],
  ]);
  assert.equal(parsePlaylist(out[2]!).mediaSequence, 43);
});

Deno.test("Timelines.apply() survives three broadcasts in a row", () => {
  serveAll([
    ["b1", "o1", playlist({ seq: 10 })],
    ["b2", "o2", playlist({ seq: 0, n: 1 })],
    ["b2", "o2", playlist({ seq: 0, n: 3, ds: 0, disc: [2] })],
    ["b3", "o1", playlist({ seq: 0, n: 2 })],
    ["b3", "o1", playlist({ seq: 1, n: 3 })],
    ["b3", "o1", playlist({ seq: 4, n: 3 })],
  ]);
});
