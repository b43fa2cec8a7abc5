/**
 * Recording acceptance with a real encoder and real ffprobe/ffmpeg: a 40 s broadcast with
 * 15 s chunks becomes three standalone faststart MP4 files that add up to the broadcast and
 * decode without a word, listed with their durations and downloadable with byte ranges.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { boxes } from "@cascade/media/mp4/reader";
import type { RecordingService } from "../recording/mod.ts";
import { startTestRecording } from "../recording/testing/recording.ts";
import { decodeErrors, probeStreams } from "./helpers/decode.ts";
import { listDir } from "./helpers/files.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { waitFor } from "./helpers/wait.ts";

const BROADCAST_SECONDS = 40;

Deno.test("a 40 s broadcast with 15 s chunks is recorded as 3 clean MP4 files", async () => {
  await using origin = await startTestOrigin();
  await using rec = await startTestRecording(origin.hub, {
    env: { RECORD_CHUNK_SECONDS: "15" },
    deps: { publicUrl: origin.httpUrl },
  });
  const { dir, log, recording } = rec;
  const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: BROADCAST_SECONDS });
  // While live, the chunk being written is a .part and only finished files are listed.
  await waitFor("the first chunk to be finished", async () => {
    const list = await recording.list("alpha");
    return list.length === 1 ? list : undefined;
  }, { timeoutMs: 30_000 });
  const open = recording.recorder!.openFiles();
  assert.equal(open.length, 1);
  assert.match(open[0]!, /-2\.mp4\.part$/);
  assert.equal((await ff.status).code, 0, ff.output);
  await waitFor("the recorder to stop", () => log.events("record.stop").length === 1, {
    timeoutMs: 15_000,
  });

  const files = await listDir(join(dir, "alpha"));
  assert.equal(files.length, 3, `files: ${files.join(", ")}`);
  const stamp = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z/.exec(files[0]!)![0];
  assert.deepEqual(files, [1, 2, 3].map((n) => `${stamp}-${n}.mp4`));

  let total = 0;
  for (const file of files) {
    const path = join(dir, "alpha", file);
    assert.equal(await decodeErrors(path), "", `ffmpeg -v error prints nothing for ${file}`);
    const { codecs, seconds } = await probeStreams(path);
    assert.deepEqual(codecs, ["aac", "h264"]);
    total += seconds;
    const head = await Deno.readFile(path);
    const order = [...boxes(head)].map((b) => b.type).filter((t) => t !== "free");
    assert.deepEqual(order, ["ftyp", "moov", "mdat"], `${file} is faststart`);
  }
  assert.ok(
    Math.abs(total - BROADCAST_SECONDS) <= 2,
    `durations sum to ${total.toFixed(2)} s for a ${BROADCAST_SECONDS} s broadcast`,
  );

  const list = await recording.list("alpha");
  assert.deepEqual(list.map((r) => r.file), files);
  for (const r of list) {
    assert.ok(r.durationSeconds > 5, `${r.file}: ${r.durationSeconds} s`);
    assert.ok(!Number.isNaN(Date.parse(r.startedAt)));
    assert.equal(r.url, `${origin.httpUrl}/recordings/alpha/${r.file}`);
    assert.equal(r.archived, false);
  }

  // The download URL's path is served by the recordings app, with ranges.
  const path = `/alpha/${files[1]}`;
  const whole = await recording.app.request(path);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get("content-type"), "video/mp4");
  const bytes = new Uint8Array(await whole.arrayBuffer());
  assert.deepEqual(bytes, await Deno.readFile(join(dir, "alpha", files[1]!)));
  const part = await recording.app.request(path, { headers: { Range: "bytes=4-11" } });
  assert.equal(part.status, 206);
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), bytes.subarray(4, 12));
  assert.equal((await recording.app.request(`/alpha/${files[1]}.part`)).status, 404);
  assert.equal((await recording.app.request("/alpha/.archive.json")).status, 404);
});

/** `startOrigin` runs recording once the origin's config reads the recording variables. */

function recordingOf(origin: object): RecordingService {
  const recording = (origin as { recording?: RecordingService }).recording;
  assert.ok(recording, "the origin exposes its recording service");
  return recording;
}

Deno.test({
  name: "the origin records with RECORD=all and serves the files it lists",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cascade-rec-" });
    try {
      await using origin = await startTestOrigin({
        RECORD: "all",
        RECORD_DIR: dir,
        RECORD_CHUNK_SECONDS: "3",
      });
      const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 8 });
      assert.equal((await ff.status).code, 0, ff.output);
      const list = await waitFor("the last chunk to be listed", async () => {
        const l = await recordingOf(origin).list("alpha");
        return l.length >= 2 && recordingOf(origin).recorder!.openFiles().length === 0
          ? l
          : undefined;
      }, { timeoutMs: 15_000 });
      for (const r of list) {
        assert.ok(r.url.startsWith(`${origin.httpUrl}/recordings/alpha/`), r.url);
        const res = await fetch(r.url);
        assert.equal(res.status, 200);
        const bytes = new Uint8Array(await res.arrayBuffer());
        assert.equal(bytes.length, r.size);
        assert.deepEqual(bytes, await Deno.readFile(join(dir, "alpha", r.file)));
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
