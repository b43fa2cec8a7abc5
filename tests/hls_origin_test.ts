/**
 * HLS packaging acceptance with real encoders and real ffprobe/ffmpeg: what the origin
 * writes and serves decodes cleanly, segments start on keyframes, B-frames keep their
 * timestamps, republish continues the playlist, broadcasts never reuse segment URLs, and
 * twenty publishers at once each get a valid playlist.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import { startTestOrigin, type TestOrigin } from "./helpers/origin.ts";
import { makeClip, publish } from "./helpers/media.ts";
import { decodeWhole, probe } from "./helpers/decode.ts";
import { waitFor } from "./helpers/wait.ts";

async function fetchPlaylist(origin: TestOrigin, name: string): Promise<LivePlaylist> {
  const res = await fetch(`${origin.httpUrl}/live/${name}/index.m3u8`);
  assert.equal(res.status, 200, `playlist of ${name}`);
  assert.equal(res.headers.get("content-type"), "application/vnd.apple.mpegurl");
  return parsePlaylist(await res.text());
}

function waitEnded(origin: TestOrigin, name: string, timeoutMs = 30_000) {
  return waitFor(`${name} playlist to end`, async () => {
    const p = await fetchPlaylist(origin, name);
    return p.ended ? p : undefined;
  }, { timeoutMs });
}

Deno.test("a 12 s broadcast becomes a clean HLS playlist that ffmpeg decodes", async () => {
  await using origin = await startTestOrigin();
  await using ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 12 });
  assert.equal((await ff.status).code, 0, ff.output);
  const playlist = await waitEnded(origin, "alpha");
  assert.ok(playlist.segments.length >= 5, `segments: ${playlist.segments.length}`);
  assert.ok(playlist.independentSegments);
  const claimed = playlist.segments.reduce((s, seg) => s + seg.duration, 0);
  for (const seg of playlist.segments) {
    assert.ok(Math.round(seg.duration) <= playlist.targetDuration, `${seg.uri} within target`);
    assert.ok(seg.programDateTime instanceof Date);
    const url = `${origin.httpUrl}/live/alpha/${seg.uri}`;
    const res = await fetch(url);
    assert.equal(res.headers.get("content-type"), "video/mp2t");
    assert.match(res.headers.get("cache-control") ?? "", /immutable/);
    await res.body?.cancel();
    assert.equal((await probe(url)).stderr, "", `ffprobe on ${seg.uri} prints nothing`);
    const first = await probe(url, [
      "-select_streams",
      "v:0",
      "-show_entries",
      "packet=flags",
      "-read_intervals",
      "%+#1",
      "-of",
      "csv=p=0",
    ]);
    assert.match(
      first.stdout.trim().split("\n")[0] ?? "",
      /^K/,
      `${seg.uri} starts with a keyframe`,
    );
  }
  const decoded = await decodeWhole(`${origin.httpUrl}/live/alpha/index.m3u8`);
  assert.equal(decoded.errors, "");
  assert.ok(
    Math.abs(decoded.seconds - claimed) / claimed < 0.05,
    `decoded ${decoded.seconds} s vs playlist ${claimed} s`,
  );
});

Deno.test("B-frames keep PTS != DTS with monotonic DTS", async () => {
  await using origin = await startTestOrigin();
  await using ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 6, bframes: 3 });
  assert.equal((await ff.status).code, 0, ff.output);
  const playlist = await waitEnded(origin, "alpha");
  let reordered = 0;
  for (const seg of playlist.segments) {
    const url = `${origin.httpUrl}/live/alpha/${seg.uri}`;
    const r = await probe(url, [
      "-select_streams",
      "v:0",
      "-show_entries",
      "packet=pts,dts",
      "-of",
      "csv=p=0",
    ]);
    assert.equal(r.stderr, "", `no ffprobe complaints (non-monotonic DTS) on ${seg.uri}`);
    let lastDts = -Infinity;
    for (const line of r.stdout.split("\n").filter((l) => /^\d/.test(l))) {
      const [pts, dts] = line.split(",").map(Number) as [number, number];
      assert.ok(dts > lastDts, `DTS increases in ${seg.uri}`);
      assert.ok(pts >= dts, "PTS never before DTS");
      if (pts !== dts) reordered++;
      lastDts = dts;
    }
  }
  assert.ok(reordered > 20, `B-frames present with PTS != DTS (${reordered})`);
});

Deno.test("republish continues with a discontinuity; ENDLIST on stop; files gone after grace", async () => {
  await using origin = await startTestOrigin({ REPUBLISH_GRACE_SECONDS: "4", HLS_LIST_SIZE: "20" });
  await using first = publish(origin.rtmpUrl("test_key_1234"), { seconds: 5 });
  assert.equal((await first.status).code, 0, first.output);
  const before = await waitEnded(origin, "alpha");
  await using second = publish(origin.rtmpUrl("test_key_1234"), { seconds: 5 });
  assert.equal((await second.status).code, 0, second.output);
  const after = await waitFor("second broadcast in the playlist", async () => {
    const p = await fetchPlaylist(origin, "alpha");
    return p.ended && p.segments.length > before.segments.length ? p : undefined;
  });
  const seqs = after.segments.map((s) => s.sequence);
  assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), "sequences unique and rising");
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1]! + 1, "no gaps");
  const breaks = after.segments.filter((s) => s.discontinuity);
  assert.equal(breaks.length, 1, "one discontinuity where the second broadcast starts");
  assert.equal(breaks[0]!.sequence, before.segments.at(-1)!.sequence + 1);
  assert.equal(after.mediaSequence, before.mediaSequence);
  // After the grace period the directory is removed.
  await waitFor("files removed", async () => {
    try {
      await Deno.stat(join(origin.mediaRoot, "alpha"));
      return false;
    } catch {
      return true;
    }
  }, { timeoutMs: 30_000 });
});

Deno.test("the discontinuity sequence advances when the discontinuity leaves the window", async () => {
  await using origin = await startTestOrigin({ HLS_LIST_SIZE: "2", HLS_SEGMENT_SECONDS: "1" });
  await using first = publish(origin.rtmpUrl("test_key_1234"), { seconds: 3, fps: 30 });
  assert.equal((await first.status).code, 0, first.output);
  await waitEnded(origin, "alpha");
  await using second = publish(origin.rtmpUrl("test_key_1234"), { seconds: 8, fps: 30 });
  assert.equal((await second.status).code, 0, second.output);
  const p = await waitEnded(origin, "alpha");
  assert.equal(p.discontinuitySequence, 1);
  assert.ok(p.segments.every((s) => !s.discontinuity));
});

Deno.test("two broadcasts on one name never share a segment URL", async () => {
  await using origin = await startTestOrigin({ REPUBLISH_GRACE_SECONDS: "2" });
  const uris = async () => {
    const p = await waitEnded(origin, "alpha");
    return p.segments.map((s) => s.uri);
  };
  await using a = publish(origin.rtmpUrl("test_key_1234"), { seconds: 5 });
  assert.equal((await a.status).code, 0);
  const firstUris = await uris();
  await waitFor("first broadcast removed", async () => {
    try {
      await Deno.stat(join(origin.mediaRoot, "alpha"));
      return false;
    } catch {
      return true;
    }
  });
  await using b = publish(origin.rtmpUrl("test_key_1234"), { seconds: 5 });
  assert.equal((await b.status).code, 0);
  const secondUris = await uris();
  assert.ok(firstUris.length > 0 && secondUris.length > 0);
  for (const u of secondUris) assert.ok(!firstUris.includes(u), `${u} not reused`);
});

Deno.test("twenty simultaneous -c copy publishers produce twenty valid playlists", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-clip-" });
  const keys = Array.from(
    { length: 20 },
    (_, i) => [`multi_key_${String(i).padStart(4, "0")}`, `s${i}`],
  );
  await using origin = await startTestOrigin({
    PUBLISH_KEYS: keys.map(([k, n]) => `${k}=${n}`).join(","),
    RTMP_IDLE_TIMEOUT_SECONDS: "60",
    // The files of an ended broadcast go when the grace runs out: keep them while the test
    // reads twenty streams one after another on a loaded machine.
    REPUBLISH_GRACE_SECONDS: "120",
  });
  try {
    const clip = join(dir, "clip.flv");
    await makeClip(clip, { seconds: 4 });
    await using running = new AsyncDisposableStack();
    const publishers = keys.map(([key]) =>
      running.use(publish(origin.rtmpUrl(key!), { clip, seconds: 7 }))
    );
    const codes = await Promise.all(publishers.map((p) => p.status.then((s) => s.code)));
    assert.deepEqual(codes, keys.map(() => 0), "every publisher exits 0");
    for (const [, name] of keys) {
      const p = await waitEnded(origin, name!);
      assert.ok(p.segments.length >= 2, `${name} has segments`);
      const last = p.segments.at(-1)!;
      const { stderr } = await probe(`${origin.httpUrl}/live/${name}/${last.uri}`);
      assert.equal(stderr, "", `${name}/${last.uri} is clean`);
    }
    const decoded = await decodeWhole(`${origin.httpUrl}/live/s7/index.m3u8`);
    assert.equal(decoded.errors, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
