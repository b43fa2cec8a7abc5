/**
 * SIGTERM to a standalone origin (`origin/main.ts` with a real redis-server, recording every
 * broadcast) while ffmpeg publishes to it: the process exits 0, the live playlist ends with
 * `#EXT-X-ENDLIST` and lists only whole segments, each of which decodes without a word from
 * ffmpeg, the recording's chunk that shutdown cut is a finished `.mp4` (no `.part` left), and
 * the stream's claim is released rather than left to expire.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { RedisRegistry } from "@cascade/registry";
import { LIVE_PLAYLIST } from "@cascade/media/hls/layout";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { decodeErrors } from "./helpers/decode.ts";
import { listDir, readPlaylist } from "./helpers/files.ts";
import { publish } from "./helpers/media.ts";
import { freePort } from "./helpers/ports.ts";
import { startProcess } from "./helpers/process.ts";
import { RedisServer } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

const MAIN = fileURLToPath(new URL("../origin/main.ts", import.meta.url));
const NAME = "alpha";
const PREFIX = "shutdown:";
/** Recording chunks of 4 s: the broadcast has finished one before shutdown cuts the next. */
const CHUNK_SECONDS = 4;
/** Generous: shutdown itself gives up after 5 s, but the machine may be busy. */
const EXIT_DEADLINE_MS = 30_000;

/** Chunk number `n` of a recording file `{startedAt}-{n}.mp4`. */
function chunkNumber(file: string): number {
  const m = file.match(/-(\d+)\.mp4$/);
  assert.ok(m, `${file} is a chunk file name`);
  return Number(m[1]);
}

Deno.test("SIGTERM to a publishing origin: exit 0, ENDLIST, whole segments, a finished recording", async () => {
  await using redis = await RedisServer.start();
  const mediaRoot = await Deno.makeTempDir({ prefix: "cascade-media-" });
  const recordDir = await Deno.makeTempDir({ prefix: "cascade-rec-" });
  const registry = new RedisRegistry({ url: redis.url, prefix: PREFIX });
  try {
    const rtmpPort = freePort();
    const httpPort = freePort();
    await using origin = await startProcess(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      env: {
        REDIS_URL: redis.url,
        REDIS_PREFIX: PREFIX,
        NODE_ID: "origin-shutdown",
        PUBLISH_AUTH: "static",
        PUBLISH_KEYS: `test_key_1234=${NAME}`,
        RTMP_HOST: "127.0.0.1",
        RTMP_PORT: String(rtmpPort),
        ORIGIN_HTTP_HOST: "127.0.0.1",
        ORIGIN_HTTP_PORT: String(httpPort),
        MEDIA_ROOT: mediaRoot,
        RECORD: "all",
        RECORD_DIR: recordDir,
        RECORD_CHUNK_SECONDS: String(CHUNK_SECONDS),
        LOG_FORMAT: "json",
      },
      readyPort: rtmpPort,
      readyUrl: `http://127.0.0.1:${httpPort}/healthz`,
      timeoutMs: 60_000,
    });
    await using ff = publish(`rtmp://127.0.0.1:${rtmpPort}/live/test_key_1234`, { seconds: 120 });

    const streamDir = join(mediaRoot, NAME);
    const recordingDir = join(recordDir, NAME);
    // Live for a while: segments listed, one recording chunk finished and the next one open.
    await waitFor("segments, a finished chunk and an open one", async () => {
      origin.giveUpIfExited();
      ff.giveUpIfExited();
      const playlist = await readPlaylist(join(streamDir, LIVE_PLAYLIST));
      const files = await listDir(recordingDir);
      return (playlist?.segments.length ?? 0) >= 3 &&
        files.some((f) => f.endsWith(".mp4")) && files.some((f) => f.endsWith(".mp4.part"));
    }, { timeoutMs: 60_000, intervalMs: 100 });
    await waitFor(`stream:${NAME} to be announced`, () => registry.getStream(NAME), {
      timeoutMs: 15_000,
    });

    const status = await origin.stop("SIGTERM", EXIT_DEADLINE_MS);
    assert.deepEqual(
      { code: status.code, signal: status.signal },
      { code: 0, signal: null },
      `the origin exits 0 by itself:\n${origin.output.slice(-3000)}`,
    );
    assert.match(origin.output, /"shutdown\.done"/);

    const text = await Deno.readTextFile(join(streamDir, LIVE_PLAYLIST));
    assert.match(text, /#EXT-X-ENDLIST\n$/, "the playlist ends with #EXT-X-ENDLIST");
    const playlist = parsePlaylist(text);
    assert.ok(playlist.segments.length >= 3);
    for (const s of playlist.segments) {
      assert.equal(await decodeErrors(join(streamDir, s.uri)), "", `${s.uri} decodes cleanly`);
    }
    assert.deepEqual(
      (await listDir(streamDir)).filter((f) => f.endsWith(".tmp")),
      [],
      "no segment is left half-written",
    );

    const files = await listDir(recordingDir);
    assert.deepEqual(files.filter((f) => !f.endsWith(".mp4")), [], "no .part is left");
    const chunks = files.map(chunkNumber).sort((a, b) => a - b);
    assert.ok(chunks.length >= 2, `a finished chunk and the one shutdown cut: ${files}`);
    assert.deepEqual(chunks, chunks.map((_, i) => i + 1), "chunks 1…n, none lost");
    for (const f of files) {
      assert.equal(await decodeErrors(join(recordingDir, f)), "", `${f} decodes cleanly`);
    }

    assert.equal(await registry.getStream(NAME), null, "the claim is released at shutdown");
  } finally {
    await registry.close();
    await Deno.remove(mediaRoot, { recursive: true }).catch(() => {});
    await Deno.remove(recordDir, { recursive: true }).catch(() => {});
  }
});
