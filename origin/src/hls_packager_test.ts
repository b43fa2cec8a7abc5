/**
 * `HlsPackager` on a real `StreamHub` writing real files: a segment is written as
 * `{seq}.ts.tmp`, renamed to `{seq}.ts` once complete, and only then listed (the file system's
 * own event order is the witness); a packager started over a directory an earlier process left
 * numbers its segments above every sequence that directory listed; and a republish within the
 * grace period continues the playlist after one `#EXT-X-DISCONTINUITY`. Frames are built here:
 * one-second GOPs of small AVCC access units, so every segment's content is known exactly.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { MetricsRegistry } from "@cascade/common/metrics";
import type { MediaFrame } from "@cascade/media/frame";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import { LIVE_PLAYLIST, TEMP_SUFFIX } from "@cascade/media/hls/layout";
import { TS_PID } from "@cascade/media/mpegts/muxer";
import { type LiveStream, StreamHub } from "@cascade/stream/hub";
import { avcTrack } from "../../lib/media/testing/tracks.ts";
import { checkPlaylistText } from "../../lib/media/hls/testing/check.ts";
import { decodeErrors, probe } from "../../tests/helpers/decode.ts";
import { clipFrames } from "../../tests/helpers/media.ts";
import { listDir, readPlaylist } from "../../tests/helpers/files.ts";
import { type CapturedLog, captureLog } from "../../tests/helpers/log.ts";
import { waitFor } from "../../tests/helpers/wait.ts";
import { HlsPackager, timeBasedSequence } from "./hls_packager.ts";

const NAME = "cam";
const FRAME_MS = 100;
/** A keyframe every second: with one-second segments, each segment holds one whole GOP. */
const FRAMES_PER_GOP = 10;
const SEGMENT_SECONDS = 1;
/** Long enough never to run out during a test; `close()` stops its timer. */
const GRACE_SECONDS = 600;

/** The stream's video config: its bytes only reach the muxer, and nothing here decodes them. */
const VIDEO = avcTrack(30);

/** Frame `index` of a broadcast: IDR (nal_unit_type 5) at each GOP start, else a slice (1). */
function videoFrame(index: number): MediaFrame {
  const keyframe = index % FRAMES_PER_GOP === 0;
  const nalu = new Uint8Array(300);
  nalu[0] = keyframe ? 0x65 : 0x41; // forbidden_zero_bit, nal_ref_idc 3/2, nal_unit_type
  for (let i = 1; i < nalu.length; i++) nalu[i] = (i * 7 + index) & 0xff;
  const data = new Uint8Array(4 + nalu.length);
  new DataView(data.buffer).setUint32(0, nalu.length); // 4-byte AVCC length prefix
  data.set(nalu, 4);
  const dts = index * FRAME_MS;
  return { kind: "video", codec: "h264", dts, pts: dts, keyframe, data };
}

/** Publishes GOP `gop` (its keyframe first), which closes the segment of GOP `gop - 1`. */
function pushGop(stream: LiveStream, gop: number): void {
  for (let i = 0; i < FRAMES_PER_GOP; i++) stream.frame(videoFrame(gop * FRAMES_PER_GOP + i));
}

/** Video access units in a transport stream: one PES, so one payload_unit_start, each. */
function videoAccessUnits(ts: Uint8Array): number {
  assert.equal(ts.length % 188, 0, "whole 188-byte packets");
  let units = 0;
  for (let at = 0; at < ts.length; at += 188) {
    assert.equal(ts[at], 0x47, `sync_byte of packet ${at / 188}`);
    const pusi = (ts[at + 1]! & 0x40) !== 0; // payload_unit_start_indicator
    const pid = ((ts[at + 1]! & 0x1f) << 8) | ts[at + 2]!;
    if (pusi && pid === TS_PID.VIDEO) units++;
  }
  return units;
}

/** Waits until the playlist on disk satisfies `check`. */
function playlistWhere(
  dir: string,
  what: string,
  check: (p: LivePlaylist) => boolean,
): Promise<LivePlaylist> {
  return waitFor(`${LIVE_PLAYLIST} ${what}`, async () => {
    const p = await readPlaylist(join(dir, LIVE_PLAYLIST));
    return p && check(p) ? p : undefined;
  }, { timeoutMs: 20_000, intervalMs: 10 });
}

/** Every listed URI is a final name whose file holds its whole GOP, with no `.tmp` beside it. */
async function assertListedComplete(dir: string, p: LivePlaylist): Promise<void> {
  for (const s of p.segments) {
    assert.ok(!s.uri.endsWith(TEMP_SUFFIX), `${s.uri} is listed under its temporary name`);
    const bytes = await Deno.readFile(join(dir, s.uri));
    assert.equal(videoAccessUnits(bytes), FRAMES_PER_GOP, `${s.uri} holds its whole GOP`);
    await assert.rejects(Deno.stat(join(dir, `${s.uri}${TEMP_SUFFIX}`)), Deno.errors.NotFound);
  }
}

/** Renames in one directory, in the order the kernel reported them, as `from → to`. */
class RenameLog implements AsyncDisposable {
  readonly renames: { from: string; to: string }[] = [];
  readonly #watcher: Deno.FsWatcher;
  readonly #done: Promise<void>;

  constructor(dir: string) {
    const watcher = Deno.watchFs(dir, { recursive: false });
    this.#watcher = watcher;
    this.#done = (async () => {
      for await (const e of watcher) {
        // A rename comes as one event per side and one with both paths; the last is kept.
        if (e.kind === "rename" && e.paths.length === 2) {
          this.renames.push({ from: basename(e.paths[0]!), to: basename(e.paths[1]!) });
        }
      }
    })();
  }

  /** Position of the `n`th (from 1) rename onto `to`, once reported. */
  nth(to: string, n: number): Promise<number> {
    return waitFor(`rename #${n} onto ${to}`, () => {
      let seen = 0;
      const at = this.renames.findIndex((r) => r.to === to && ++seen === n);
      return at >= 0 ? at : undefined;
    }, { timeoutMs: 20_000, intervalMs: 10 });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#watcher.close();
    await this.#done;
  }
}

interface Setup extends AsyncDisposable {
  root: string;
  /** The stream's directory, `{root}/{NAME}`. */
  dir: string;
  log: CapturedLog;
  /** A packager on its own hub, as one origin process has; closed on dispose. */
  start(now?: () => number, segmentSeconds?: number): StreamHub;
  /** The packager the last `start()` made. */
  packager(): HlsPackager;
}

/** A temp MEDIA_ROOT shared by the packagers a test starts; removed on dispose. */
async function setup(): Promise<Setup> {
  const root = await Deno.makeTempDir({ prefix: "cascade-packager-" });
  const log = captureLog();
  const started: { hub: StreamHub; packager: HlsPackager }[] = [];
  return {
    root,
    dir: join(root, NAME),
    log,
    start(now, segmentSeconds = SEGMENT_SECONDS) {
      const hub = new StreamHub(log);
      const packager = new HlsPackager(hub, {
        mediaRoot: root,
        segmentSeconds,
        listSize: 10,
        republishGraceSeconds: GRACE_SECONDS,
        log,
        metrics: new MetricsRegistry(),
        now,
      });
      started.push({ hub, packager });
      return hub;
    },
    packager: () => started.at(-1)!.packager,
    async [Symbol.asyncDispose]() {
      for (const { hub, packager } of started) {
        // A test that failed mid-broadcast leaves a stream open; `close()` waits for it to end.
        for (const stream of [...hub.streams()]) hub.close(stream, "test over");
        await packager.close();
      }
      await Deno.remove(root, { recursive: true });
    },
  };
}

/** Opens `NAME` on `hub` with its video config, as an ingest adapter does. */
function openStream(hub: StreamHub): LiveStream {
  const stream = hub.open(NAME, "127.0.0.1");
  stream.config(VIDEO);
  return stream;
}

/** Publishes `gops` GOPs and stops; resolves once the ended playlist is on disk. */
async function broadcast(hub: StreamHub, dir: string, gops: number): Promise<LivePlaylist> {
  const stream = openStream(hub);
  for (let gop = 0; gop < gops; gop++) pushGop(stream, gop);
  hub.close(stream, "publisher stopped");
  return await playlistWhere(dir, "ends", (p) => p.ended);
}

function assertNoWarnings(log: CapturedLog, except: string[] = []): void {
  const bad = log.lines.filter((l) =>
    (l.level === "error" || l.level === "warn") && !except.includes(l.event)
  );
  assert.deepEqual(bad, [], "no warnings or errors logged");
}

Deno.test("HlsPackager renames each segment from .tmp before the playlist lists it", async () => {
  await using t = await setup();
  await Deno.mkdir(t.dir);
  await using events = new RenameLog(t.dir);
  const hub = t.start();
  const stream = openStream(hub);
  const segments = 4;
  let first: number | undefined;
  for (let gop = 0; gop <= segments; gop++) {
    pushGop(stream, gop);
    if (gop === 0) continue;
    const p = await playlistWhere(t.dir, `lists ${gop} segments`, (p) => p.segments.length >= gop);
    first ??= p.segments[0]!.sequence;
    // Nothing more is published until the checks are done: GOP `gop`'s segment stays open.
    assert.deepEqual(
      p.segments.map((s) => s.sequence),
      Array.from({ length: gop }, (_, i) => first! + i),
      "exactly the closed segments are listed",
    );
    assert.equal(p.ended, false);
    await assertListedComplete(t.dir, p);
    const uri = `${first + gop - 1}.ts`;
    const renamed = await events.nth(uri, 1);
    const listed = await events.nth(LIVE_PLAYLIST, gop);
    assert.deepEqual(events.renames[renamed], { from: `${uri}${TEMP_SUFFIX}`, to: uri });
    assert.ok(renamed < listed, `${uri} was in place before the playlist that first lists it`);
  }
  hub.close(stream, "publisher stopped");
  const last = await playlistWhere(t.dir, "ends", (p) => p.ended);
  assert.equal(last.segments.length, segments + 1);
  // What the origin serves from memory is byte for byte the file on disk.
  assert.deepEqual(
    t.packager().livePlaylist(NAME)?.bytes,
    await Deno.readFile(join(t.dir, LIVE_PLAYLIST)),
  );
  await assertListedComplete(t.dir, last);
  assert.deepEqual(
    await listDir(t.dir),
    [LIVE_PLAYLIST, ...last.segments.map((s) => s.uri)].sort(),
    "no temporary file is left",
  );
  assertNoWarnings(t.log);
});

Deno.test("HlsPackager after a restart numbers segments above every sequence the directory listed", async () => {
  await using t = await setup();
  const wallClock = Date.now();
  const before = await broadcast(t.start(() => wallClock), t.dir, 4);
  assert.equal(before.segments.length, 4);
  const oldFiles = new Map<string, Uint8Array>();
  for (const s of before.segments) oldFiles.set(s.uri, await Deno.readFile(join(t.dir, s.uri)));
  const highest = Math.max(...before.segments.map((s) => s.sequence));

  // The restarted origin's clock stepped back an hour: numbering by time alone would reuse
  // the sequence numbers, and so the segment URLs, that players and caches already hold.
  const earlier = wallClock - 3600_000;
  assert.ok(timeBasedSequence(earlier) <= highest, "the clock alone would reuse numbers");
  const hub = t.start(() => earlier);
  const stream = openStream(hub);
  for (let gop = 0; gop < 3; gop++) pushGop(stream, gop);
  const after = await playlistWhere(t.dir, "is the new broadcast's", (p) => !p.ended);
  assert.ok(after.segments.length >= 1);
  for (const s of after.segments) {
    assert.ok(s.sequence > highest, `segment ${s.sequence} is above ${highest}`);
  }
  hub.close(stream, "publisher stopped");
  const ended = await playlistWhere(t.dir, "ends", (p) => p.ended);
  assert.equal(ended.segments.length, 3);
  await assertListedComplete(t.dir, ended);
  for (const [uri, bytes] of oldFiles) {
    assert.deepEqual(await Deno.readFile(join(t.dir, uri)), bytes, `${uri} was not rewritten`);
  }
  assertNoWarnings(t.log);
});

Deno.test("HlsPackager continues the playlist after one discontinuity on a republish within the grace", async () => {
  await using t = await setup();
  const hub = t.start();
  const first = await broadcast(hub, t.dir, 3);
  assert.equal(first.segments.length, 3);
  assert.ok(first.segments.every((s) => !s.discontinuity));

  // The same name again before the grace period ends; its timestamps start from 0 again.
  const stream = openStream(hub);
  for (let gop = 0; gop < 3; gop++) pushGop(stream, gop);
  const live = await playlistWhere(t.dir, "lists the republish", (p) => p.segments.length >= 5);
  assert.equal(live.ended, false, "the republish is live");
  hub.close(stream, "publisher stopped");
  const ended = await playlistWhere(t.dir, "ends again", (p) => p.ended);

  for (const p of [live, ended]) {
    assert.equal(p.mediaSequence, first.mediaSequence, "the playlist continues");
    assert.deepEqual(
      p.segments.map((s) => s.sequence),
      Array.from({ length: p.segments.length }, (_, i) => first.mediaSequence + i),
      "sequence numbers continue without a gap",
    );
    assert.deepEqual(
      p.segments.map((s) => s.discontinuity),
      p.segments.map((_, i) => i === 3),
      "one discontinuity, before the republish's first segment",
    );
  }
  assert.equal(ended.segments.length, 6);
  const text = await Deno.readTextFile(join(t.dir, LIVE_PLAYLIST));
  assert.equal(text.match(/^#EXT-X-DISCONTINUITY$/gm)?.length, 1, text);
  await assertListedComplete(t.dir, ended);
  assertNoWarnings(t.log);
});

Deno.test("HlsPackager continues another origin's playlist on a takeover: renumbered files, one discontinuity", async () => {
  await using t = await setup();
  const hub = t.start();
  const stream = openStream(hub);
  for (let gop = 0; gop < 4; gop++) pushGop(stream, gop);
  const own = await playlistWhere(t.dir, "lists three", (p) => p.segments.length >= 3);
  assert.ok(own.mediaSequence > 1000, "time-based numbers before the takeover");

  const took = t.packager().continueFrom(NAME, {
    lastSequence: 70,
    discontinuitySequence: 4,
    targetDuration: 2,
  });
  pushGop(stream, 4); // the next frame applies it; this GOP closes the open segment
  assert.equal(await took, true);
  const p = await playlistWhere(t.dir, "continues at 71", (p) => p.segments.length >= 2);
  assert.equal(p.mediaSequence, 71);
  assert.equal(p.discontinuitySequence, 4);
  assert.equal(p.targetDuration, 2);
  assert.deepEqual(p.segments.map((s) => [s.uri, s.discontinuity]), [["71.ts", true], [
    "72.ts",
    false,
  ]]);
  await assertListedComplete(t.dir, p);
  const files = (await listDir(t.dir)).filter((f) => f.endsWith(".ts")).sort();
  assert.deepEqual(files, ["71.ts", "72.ts"], "the rest of the old numbering is gone");
  assert.equal(
    await t.packager().continueFrom("nobody", {
      lastSequence: 1,
      discontinuitySequence: 0,
      targetDuration: 2,
    }),
    false,
  );
  assertNoWarnings(t.log);
});

/** Video frames of 100 ms, GOP after GOP, each `gops[i]` frames long. */
function framesWithGops(gops: number[]): MediaFrame[] {
  const out: MediaFrame[] = [];
  for (const gop of gops) {
    for (let i = 0; i < gop; i++) {
      const f = videoFrame(out.length);
      out.push({ ...f, keyframe: i === 0 });
    }
  }
  return out;
}

Deno.test("HlsPackager keeps a vanished publisher's playlist open: its reconnect continues it, ENDLIST comes only at the end", async () => {
  await using t = await setup();
  const hub = t.start();
  const first = openStream(hub);
  for (let gop = 0; gop < 3; gop++) pushGop(first, gop);
  hub.close(first, "disconnected", true);
  // The open segment is listed, but no ENDLIST: the encoder may be back within the grace.
  const paused = await playlistWhere(
    t.dir,
    "lists the open segment",
    (p) => p.segments.length >= 3,
  );
  assert.equal(paused.ended, false);

  const second = openStream(hub);
  for (let gop = 0; gop < 3; gop++) pushGop(second, gop);
  await playlistWhere(t.dir, "lists the reconnect", (p) => p.segments.length >= 5);
  hub.close(second, "connection reset", true);
  const again = await playlistWhere(t.dir, "lists its open segment", (p) => p.segments.length >= 6);
  assert.equal(again.ended, false);
  assert.deepEqual(
    again.segments.map((s) => s.discontinuity),
    again.segments.map((_, i) => i === 3),
    "one discontinuity, before the reconnect's first segment",
  );

  // Shutdown (like the grace running out) ends the playlist it left open.
  await t.packager().close();
  const ended = parsePlaylist(await Deno.readTextFile(join(t.dir, LIVE_PLAYLIST)));
  assert.equal(ended.ended, true);
  assert.deepEqual(ended.segments, again.segments);
  assertNoWarnings(t.log);
});

Deno.test("HlsPackager cuts between keyframes that come too late and says so once, with the fix", async () => {
  await using t = await setup();
  const hub = t.start();
  const stream = openStream(hub);
  // Three 1 s GOPs set the target (2 s for 1 s segments); then 4 s GOPs arrive.
  for (const f of framesWithGops([10, 10, 10, 40, 40, 40])) stream.frame(f);
  const live = await playlistWhere(t.dir, "lists a forced cut", (p) => p.segments.length >= 6);
  assert.equal(live.targetDuration, 2);
  assert.equal(live.independentSegments, false, "no INDEPENDENT-SEGMENTS over a forced cut");
  hub.close(stream, "publisher stopped");
  const ended = await playlistWhere(t.dir, "ends", (p) => p.ended);
  // Each 4 s GOP: cut where one more frame would round above 2 s, then at its keyframe.
  assert.deepEqual(ended.segments.map((s) => s.duration), [1, 1, 1, 2.4, 1.6, 2.4, 1.6, 2.4, 1.6]);
  checkPlaylistText(await Deno.readTextFile(join(t.dir, LIVE_PLAYLIST)));
  // Three forced cuts, one line, once the interval was measured.
  const lines = t.log.events("hls.forced_cut");
  assert.equal(lines.length, 1, JSON.stringify(lines));
  assert.equal(lines[0]!.fields.keyframeIntervalSeconds, 4);
  assert.equal(lines[0]!.fields.targetDuration, 2);
  assert.match(String(lines[0]!.fields.fix), /OBS → Settings → Output → Keyframe Interval/);
  assertNoWarnings(t.log, ["hls.forced_cut"]);
});

Deno.test("HlsPackager closes timestamp jumps of 30 s forward and 20 s back: continuous PTS, every segment decodes", async () => {
  await using t = await setup();
  const clip = join(t.root, "clip.flv");
  const { video, audio, frames } = await clipFrames(clip, { seconds: 10, size: "160x120" });
  const hub = t.start(undefined, 2);
  const stream = hub.open(NAME, "127.0.0.1");
  stream.config({ kind: "video", codec: "h264", avc: video });
  stream.config({ kind: "audio", codec: "aac", aac: audio });
  // The encoder's clock leaps 30 s ahead at 3.5 s and falls 20 s back at 7 s, mid-GOP.
  const jumped = frames.map((f) => {
    const shift = f.dts >= 7000 ? 10_000 : f.dts >= 3500 ? 30_000 : 0;
    return shift === 0 ? f : { ...f, dts: f.dts + shift, pts: f.pts + shift };
  });
  assert.ok(jumped.length < 1000, "within the hub's queue");
  for (const f of jumped) stream.frame(f);
  hub.close(stream, "publisher stopped");
  const p = await playlistWhere(t.dir, "ends", (p) => p.ended);

  checkPlaylistText(await Deno.readTextFile(join(t.dir, LIVE_PLAYLIST)));
  assert.equal(p.targetDuration, 3);
  assert.ok(p.independentSegments);
  const jumps = t.log.events("hls.timestamp_jump").map((l) => Number(l.fields.ms));
  assert.equal(jumps.length, 2, `one line per jump: ${jumps}`);
  assert.ok(Math.abs(jumps[0]! - 30_000) < 100 && Math.abs(jumps[1]! + 20_000) < 100, `${jumps}`);
  const total = p.segments.reduce((sum, s) => sum + s.duration, 0);
  assert.ok(Math.abs(total - 10) < 0.2, `the playlist lasts ${total} s, as the media does`);

  // Each segment decodes, its video PTS step evenly, and it starts where the last one ended.
  let expectedStart: number | undefined;
  for (const s of p.segments) {
    const file = join(t.dir, s.uri);
    assert.equal(await decodeErrors(file), "", s.uri);
    const { stdout } = await probe(file, [
      ...["-select_streams", "v", "-show_entries", "packet=pts_time", "-of", "csv=p=0"],
    ]);
    const pts = stdout.split("\n").filter((l) => l.trim() !== "").map(parseFloat)
      .sort((a, b) => a - b);
    for (let i = 1; i < pts.length; i++) {
      assert.ok(pts[i]! - pts[i - 1]! < 0.05, `${s.uri}: PTS ${pts[i - 1]} → ${pts[i]}`);
    }
    if (expectedStart !== undefined) {
      assert.ok(Math.abs(pts[0]! - expectedStart) < 0.005, `${s.uri} starts at ${pts[0]}`);
    }
    expectedStart = pts[0]! + s.duration;
  }
  assert.equal(await decodeErrors(LIVE_PLAYLIST, { cwd: t.dir }), "");
  assertNoWarnings(t.log, ["hls.timestamp_jump"]);
});
