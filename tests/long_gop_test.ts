/**
 * Spec-valid HLS whatever keyframe interval the encoder uses, in the real chain: three
 * ffmpeg publishers at once (`-c copy` of 45 s clips with a keyframe every 250, 150 and 30
 * frames at 30 fps: OBS's default of 8.33 s, 5 s and 1 s) → one origin process announcing in
 * redis-server → an edge process. Every ~500 ms for the whole broadcast each playlist is
 * reloaded at the origin and through the edge, and every reload passes the strict checker
 * (every `#EXTINF` rounds within `#EXT-X-TARGETDURATION`, which never changes; sequences
 * behave). The targets are the ones the first GOP sets (10, 6 and 3), no segment had to be
 * cut between keyframes, every segment decodes with ffmpeg, and
 * hls.js plays each stream in headless Chromium from the edge's watch page.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { PlaylistChecker } from "../lib/media/hls/testing/check.ts";
import { openBrowser, waitForPlayback } from "./helpers/browser.ts";
import { decodeErrors } from "./helpers/decode.ts";
import { withinDeadline } from "./helpers/edge.ts";
import { makeClip, publish } from "./helpers/media.ts";
import { freePort } from "./helpers/ports.ts";
import { startProcess, type TestProcess } from "./helpers/process.ts";
import { startRedis } from "./helpers/redis.ts";
import { delay, waitFor } from "./helpers/wait.ts";

const ORIGIN_MAIN = fileURLToPath(new URL("../origin/main.ts", import.meta.url));
const EDGE_MAIN = fileURLToPath(new URL("../edge/main.ts", import.meta.url));
const SECONDS = 45;
const FPS = 30;

interface Case {
  name: string;
  key: string;
  /** Keyframe interval, frames. */
  gop: number;
  /** The target its first GOP sets: ceil(GOP) + 1, or the floor of 3. */
  target: number;
}

const CASES: Case[] = [
  { name: "gop250", key: "long_gop_key_250", gop: 250, target: 10 },
  { name: "gop150", key: "long_gop_key_150", gop: 150, target: 6 },
  { name: "gop30", key: "long_gop_key_030", gop: 30, target: 3 },
];

/** Reloads `url` every ~500 ms into `checker` until it lists `#EXT-X-ENDLIST` or `stop`. */
async function pollPlaylist(
  url: string,
  checker: PlaylistChecker,
  stop: AbortSignal,
  onReload: (uris: string[]) => void = () => {},
): Promise<void> {
  while (!stop.aborted) {
    const res = await fetch(url);
    const text = await res.text();
    if (res.status === 200) {
      const p = checker.reload(text);
      onReload(p.segments.map((s) => s.uri));
      if (p.ended) return;
    } else {
      // Before the first playlist: the stream is not there yet, nowhere.
      assert.equal(checker.reloads, 0, `${checker.what} answered ${res.status} after a playlist`);
    }
    await delay(500);
  }
}

Deno.test({
  name:
    "long keyframe intervals: stable targets within every reload at origin and edge, clean decodes, hls.js plays",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-long-gop-" });
  await using redis = await startRedis();
  const httpPort = freePort();
  const rtmpPort = freePort();
  const edgePort = freePort();
  const procs: TestProcess[] = [];
  const stopPolling = new AbortController();
  try {
    const clips = CASES.map((c) => join(dir, `${c.name}.flv`));
    const made = Promise.all(
      CASES.map((c, i) =>
        makeClip(clips[i]!, {
          seconds: SECONDS,
          fps: FPS,
          gop: c.gop,
          size: "160x120",
          bitrate: "150k",
        })
      ),
    );
    const prefix = "longgop:";
    const origin = await startProcess(Deno.execPath(), {
      args: ["run", "-A", ORIGIN_MAIN],
      env: {
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        NODE_ID: "origin-long-gop",
        RTMP_HOST: "127.0.0.1",
        RTMP_PORT: String(rtmpPort),
        ORIGIN_HTTP_HOST: "127.0.0.1",
        ORIGIN_HTTP_PORT: String(httpPort),
        MEDIA_ROOT: join(dir, "media"),
        PUBLISH_AUTH: "static",
        PUBLISH_KEYS: CASES.map((c) => `${c.key}=${c.name}`).join(","),
        LOG_FORMAT: "json",
      },
      readyPort: httpPort,
      timeoutMs: 60_000,
    });
    procs.push(origin);
    const edge = await startProcess(Deno.execPath(), {
      args: ["run", "-A", EDGE_MAIN],
      env: {
        REDIS_URL: redis.url,
        REDIS_PREFIX: prefix,
        EDGE_HOST: "127.0.0.1",
        EDGE_PORT: String(edgePort),
        NODE_ID: "edge-long-gop",
        LOG_FORMAT: "json",
      },
      readyLine: /"event":"edge\.listening"/,
      timeoutMs: 60_000,
    });
    procs.push(edge);
    assert.match(origin.output, /"event":"hls\.config".*"maxTargetSeconds":12/);
    await made;

    const publishers = CASES.map((c, i) =>
      publish(`rtmp://127.0.0.1:${rtmpPort}/live/${c.key}`, { clip: clips[i]!, seconds: SECONDS })
    );
    procs.push(...publishers);
    const originUrl = (c: Case) => `http://127.0.0.1:${httpPort}/live/${c.name}/index.m3u8`;
    const edgeBase = `http://127.0.0.1:${edgePort}`;
    const edgeUrl = (c: Case) => `${edgeBase}/live/${c.name}/index.m3u8`;

    // Every segment is fetched once from the origin, to decode at the end. (Not through the
    // edge: once a publisher stops, its stream is no longer live there, and the segments only
    // the ended playlist lists are not found.)
    const fetched = new Map<string, Promise<string>>();
    const fetchSegment = (c: Case, uri: string) => {
      const key = `${c.name}/${uri}`;
      if (fetched.has(key)) return;
      const path = (async () => {
        const res = await fetch(`http://127.0.0.1:${httpPort}/live/${key}`);
        assert.equal(res.status, 200, key);
        const path = join(dir, `${c.name}-${uri}`);
        await Deno.writeFile(path, new Uint8Array(await res.arrayBuffer()));
        return path;
      })();
      // Awaited after the broadcast; a failure must not go unhandled meanwhile.
      path.catch(() => {});
      fetched.set(key, path);
    };
    const checkers = CASES.flatMap((c) => [
      { c, checker: new PlaylistChecker(`origin ${c.name}`), url: originUrl(c) },
      { c, checker: new PlaylistChecker(`edge ${c.name}`), url: edgeUrl(c) },
    ]);
    const polls = checkers.map(({ c, checker, url }) =>
      pollPlaylist(
        url,
        checker,
        stopPolling.signal,
        checker.what.startsWith("origin")
          ? (uris) => uris.forEach((u) => fetchSegment(c, u))
          : undefined,
      )
    );
    // A failed check ends the test at once rather than when the broadcast does.
    const polled = Promise.all(polls);
    polled.catch(() => stopPolling.abort());

    // hls.js plays each stream from the edge's watch page while it is live.
    {
      await using browser = await openBrowser();
      const context = browser.page.context();
      const pages = [browser.page, await context.newPage(), await context.newPage()];
      await Promise.race([
        polled.then(() => assert.fail("the broadcasts ended before playback was checked")),
        Promise.all(CASES.map(async (c, i) => {
          const page = pages[i]!;
          await waitFor(
            `${c.name} at the edge`,
            async () => (await fetch(edgeUrl(c))).status === 200,
            {
              timeoutMs: 30_000,
              intervalMs: 200,
            },
          );
          await page.goto(`${edgeBase}/watch/${c.name}`);
          await waitForPlayback(page, 4, { what: `${c.name} playback`, timeoutMs: 30_000 });
          assert.equal(await page.getAttribute("#watch", "data-engine"), "hls.js");
          assert.equal(await page.getAttribute("#watch", "data-fatal-errors"), "0", c.name);
        })),
      ]);
      assert.deepEqual(browser.pageErrors, []);
    }

    for (const p of publishers) {
      const status = await waitFor("a publisher to finish", () => p.exited && p.status, {
        timeoutMs: (SECONDS + 30) * 1000,
        intervalMs: 200,
      });
      assert.equal(status.code, 0, p.output);
    }
    await withinDeadline(polled, 30_000, "the playlists to end at origin and edge");

    for (const { c, checker } of checkers) {
      assert.equal(checker.targetDuration, c.target, `${checker.what}: target`);
      assert.ok(checker.reloads >= 20, `${checker.what}: ${checker.reloads} reloads`);
      const listed = [...checker.segments.values()];
      const total = listed.reduce((sum, s) => sum + s.duration, 0);
      assert.ok(total > SECONDS - 3, `${checker.what} listed ${total} s in all`);
    }
    assert.doesNotMatch(origin.output, /hls\.forced_cut|hls\.timestamp_jump/);
    // ffmpeg decodes every segment, two at a time.
    const paths = await Promise.all(fetched.values());
    assert.ok(paths.length >= 6 + 9 + 15, `${paths.length} segments`);
    for (let i = 0; i < paths.length; i += 2) {
      const errors = await Promise.all(paths.slice(i, i + 2).map((p) => decodeErrors(p)));
      errors.forEach((e, j) => assert.equal(e, "", paths[i + j]));
    }
  } finally {
    stopPolling.abort();
    for (const p of procs.reverse()) await p.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
