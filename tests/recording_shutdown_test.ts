/**
 * Recording when a shutdown cuts a broadcast: `origin.close()` while ffmpeg is still
 * publishing stops the RTMP server first and the recording after it, so the chunk being
 * written is finished like any other — renamed from `.part` to a faststart MP4 that
 * ffprobe reads and ffmpeg decodes without a word — and no `.part` is left behind for
 * retention to clean up ten minutes later.
 */
import assert from "node:assert/strict";
import { basename, join } from "node:path";
import { boxes } from "@cascade/media/mp4/reader";
import { decodeErrors, probeStreams } from "./helpers/decode.ts";
import { listDir } from "./helpers/files.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { waitFor } from "./helpers/wait.ts";

/** More than the chunk's `moov` reserve (19 KiB for 3 s chunks): media has been written. */
const SOME_MEDIA_BYTES = 64 * 1024;

Deno.test("origin.close() mid-broadcast finishes the open recording chunk as a playable MP4", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-rec-" });
  const origin = await startTestOrigin({
    RECORD: "all",
    RECORD_DIR: dir,
    RECORD_CHUNK_SECONDS: "3",
  });
  let closed = false;
  try {
    await using ff = publish(origin.rtmpUrl("test_key_1234")); // until stopped
    const recorder = origin.recording.recorder!;
    const part = await waitFor("a finished chunk and media in the next one", async () => {
      ff.giveUpIfExited();
      const [open] = recorder.openFiles();
      if (!open || (await origin.recording.list("alpha")).length === 0) return undefined;
      const st = await Deno.stat(open).catch(() => undefined);
      return st && st.size > SOME_MEDIA_BYTES ? open : undefined;
    }, { timeoutMs: 30_000 });
    assert.match(part, /\.mp4\.part$/);
    assert.equal(ff.exited, false, "ffmpeg is still publishing when the origin closes");

    await origin.close();
    closed = true;

    const finished = part.slice(0, -".part".length);
    const files = await listDir(join(dir, "alpha"));
    assert.ok(files.includes(basename(finished)), `the open chunk was finished: ${files}`);
    assert.deepEqual(files.filter((f) => f.endsWith(".part")), [], "no .part is left");
    assert.deepEqual(recorder.openFiles(), []);
    assert.ok(files.length >= 2, `files: ${files}`);

    const order = [...boxes(await Deno.readFile(finished))].map((b) => b.type)
      .filter((t) => t !== "free");
    assert.deepEqual(order, ["ftyp", "moov", "mdat"], "the cut chunk is faststart");
    const { codecs, seconds } = await probeStreams(finished);
    assert.deepEqual(codecs, ["aac", "h264"]);
    assert.ok(seconds > 0.5, `the cut chunk lasts ${seconds} s`);
    for (const f of files) {
      const errors = await decodeErrors(join(dir, "alpha", f));
      assert.equal(errors, "", `ffmpeg -v error prints nothing for ${f}`);
    }
    const listed = await origin.recording.list("alpha");
    assert.deepEqual(listed.map((r) => r.file), files, "every chunk, the cut one too, is listed");
  } finally {
    if (!closed) await origin.close();
    await Deno.remove(origin.mediaRoot, { recursive: true }).catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
