/**
 * Retention and disk-full acceptance with a real encoder: under `RECORD_MAX_GB` the oldest
 * finished chunks go first while the one being written stays; on a full disk (a real, tiny
 * tmpfs mounted for the test) recording pauses with exactly one log line, the live HLS
 * playlist carries on untouched, and recording resumes once space is freed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { parseChunkName } from "../recording/recorder.ts";
import { startTestRecording } from "../recording/testing/recording.ts";
import { decodeErrors } from "./helpers/decode.ts";
import { listDir } from "./helpers/files.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { runProcess } from "./helpers/process.ts";
import { waitFor } from "./helpers/wait.ts";

const chunkNumber = (file: unknown) => parseChunkName(String(file).split("/").pop()!)!.n;

Deno.test("RECORD_MAX_GB deletes the oldest finished chunks first, never the open one", async () => {
  await using origin = await startTestOrigin();
  await using rec = await startTestRecording(origin.hub, {
    env: {
      RECORD_CHUNK_SECONDS: "2",
      RECORD_MAX_GB: "0.0005", // 500 kB: about three 2 s chunks of this stream
    },
  });
  const { dir, log, recording } = rec;
  const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 16 });
  assert.equal((await ff.status).code, 0, ff.output);
  await waitFor("the recorder to stop", () => log.events("record.stop").length === 1, {
    timeoutMs: 15_000,
  });
  await recording.retention.sweep();
  const finished = log.events("record.chunk").map((l) => chunkNumber(l.fields.file));
  const deleted = log.events("retention.deleted").map((l) => chunkNumber(l.fields.file));
  assert.ok(finished.length >= 6, `chunks: ${finished}`);
  assert.ok(deleted.length >= 2, `deleted: ${deleted}`);
  assert.deepEqual(deleted, finished.slice(0, deleted.length), "oldest first");
  // Each deletion came after that chunk was finished, when a newer one was being written.
  for (const line of log.lines.filter((l) => l.event === "retention.deleted")) {
    const n = chunkNumber(line.fields.file);
    const at = log.lines.indexOf(line);
    const finishedAt = log.lines.findIndex((l) =>
      l.event === "record.chunk" && chunkNumber(l.fields.file) === n
    );
    assert.ok(finishedAt >= 0 && finishedAt < at, `chunk ${n} finished before deletion`);
  }
  const left = (await listDir(join(dir, "alpha"))).map(chunkNumber).sort((a, b) => a - b);
  assert.deepEqual(left, finished.slice(deleted.length), "the newest chunks remain");
  let bytes = 0;
  for (const name of await listDir(join(dir, "alpha"))) {
    bytes += (await Deno.stat(join(dir, "alpha", name))).size;
  }
  assert.ok(bytes <= 500_000, `${bytes} bytes left`);
});

/**
 * Mounts a tmpfs of `size` at a new temp dir; where mounting is not allowed (it needs root
 * or CAP_SYS_ADMIN), says why instead.
 */
async function mountTmpfs(size: string): Promise<{ dir: string } | { why: string }> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-tmpfs-" });
  const r = await runProcess("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir])
    .catch((err: Error) => ({ code: -1, stderr: err.message }));
  if (r.code === 0) return { dir };
  await Deno.remove(dir);
  return { why: r.stderr.trim().split("\n")[0] || `mount exited with ${r.code}` };
}

async function unmount(dir: string): Promise<void> {
  await runProcess("umount", [dir]);
  await Deno.remove(dir);
}

const probe = await mountTmpfs("64k");
if ("dir" in probe) await unmount(probe.dir);
const FULL_DISK_TEST = "a full disk pauses recording with one log line while live HLS carries on";

// A skipped test says why: Deno prints the name of an ignored test beside "ignored".
Deno.test({
  name: "dir" in probe
    ? FULL_DISK_TEST
    : `${FULL_DISK_TEST} (skipped: cannot mount tmpfs: ${probe.why})`,
  ignore: !("dir" in probe),
  async fn() {
    const mounted = await mountTmpfs("600k");
    if (!("dir" in mounted)) throw new Error(`Cannot mount tmpfs: ${mounted.why}`);
    const dir = mounted.dir;
    try {
      await using origin = await startTestOrigin();
      await using rec = await startTestRecording(origin.hub, {
        dir,
        env: { RECORD_CHUNK_SECONDS: "3" },
      });
      const { log } = rec;
      const playlist = async () => {
        const res = await fetch(`${origin.httpUrl}/live/alpha/index.m3u8`);
        return res.ok ? parsePlaylist(await res.text()) : undefined;
      };
      const lastSequence = (p: Awaited<ReturnType<typeof playlist>>) =>
        p ? p.mediaSequence + p.segments.length - 1 : -1;
      // Long enough that the retry after the disk is freed (every 10 s) comes while the
      // broadcast still runs, even on a loaded machine where the disk fills later.
      const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 50 });
      await waitFor("recording to pause on the full disk", () => log.events("record.paused")[0], {
        timeoutMs: 25_000,
      });
      const paused = log.events("record.paused");
      assert.equal(paused[0]!.fields.reason, "disk full");
      const atPause = lastSequence(await playlist());
      await waitFor("the live playlist to gain 3 segments after the pause", async () => {
        return lastSequence(await playlist()) >= atPause + 3;
      }, { timeoutMs: 15_000 });

      // Free the disk: the next attempt (every 10 s) resumes recording and a chunk is
      // finished again. An attempt may already have resumed into the space the dropped
      // chunk left, and paused again when that filled up: count only what follows the
      // freeing.
      const first = (await listDir(join(dir, "alpha"))).filter((n) => n.endsWith(".mp4"));
      assert.ok(first.length >= 1, "chunks finished before the disk filled");
      const freedAt = log.lines.length;
      for (const f of first) await Deno.remove(join(dir, "alpha", f));
      await waitFor(
        "a chunk finished after the disk was freed",
        () => log.lines.slice(freedAt).some((l) => l.event === "record.chunk"),
        { timeoutMs: 30_000 },
      );
      assert.ok(log.events("record.resumed").length >= 1, "recording resumed");

      assert.equal((await ff.status).code, 0, ff.output);
      const ended = await waitFor("the live playlist to end", async () => {
        const p = await playlist();
        return p?.ended ? p : undefined;
      });
      assert.ok(ended.segments.length >= 3);
      await waitFor("the recorder to stop", () => log.events("record.stop").length === 1, {
        timeoutMs: 15_000,
      });
      // One line per pause: none repeated by the failed attempts while paused (the disk
      // may fill up again after resuming, which is a new pause).
      const resumedAt = log.lines.findIndex((l) => l.event === "record.resumed");
      const pausesBefore = log.lines.slice(0, resumedAt).filter((l) => l.event === "record.paused");
      assert.equal(pausesBefore.length, 1, "one log line for the pause");
      // Whatever was recorded after resuming is a complete file, and no .part is left.
      const after = await listDir(join(dir, "alpha"));
      assert.ok(after.some((n) => n.endsWith(".mp4")), `files: ${after}`);
      assert.ok(!after.some((n) => n.endsWith(".part")), `files: ${after}`);
      for (const f of after) {
        assert.equal(await decodeErrors(join(dir, "alpha", f)), "", `${f} decodes cleanly`);
      }
    } finally {
      await unmount(dir);
    }
  },
});
