/**
 * Low-Latency HLS through edges, end to end with real processes: redis-server, `origin/main.ts`
 * and two `edge/main.ts` (one open, one with signed playback), ffmpeg publishing 2 s GOPs.
 * - ffmpeg decodes `ll.m3u8` through the edge;
 * - 50 identical blocking reloads for the hinted part, and 50 GETs of that part before it
 *   exists, cost the origin one request each (the edge's `cascade_edge_origin_requests_total`);
 * - the edge's watch page plays LL-HLS with hls.js less than 3 s behind live (wall clock
 *   against the playhead's program date time);
 * - with signed playback the token opens `ll.m3u8` and every URI it lists carries the token;
 *   without it the edge answers 403.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseLlPlaylist } from "@cascade/media/hls/ll_playlist";
import { signPlaybackToken } from "@cascade/common/playback_token";
import { openBrowser, videoTime } from "./helpers/browser.ts";
import { decodeErrors } from "./helpers/decode.ts";
import { publish } from "./helpers/media.ts";
import { freePort } from "./helpers/ports.ts";
import { startProcess, type TestProcess } from "./helpers/process.ts";
import { startRedis } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

const ORIGIN_MAIN = fileURLToPath(new URL("../origin/main.ts", import.meta.url));
const EDGE_MAIN = fileURLToPath(new URL("../edge/main.ts", import.meta.url));
const NAME = "lowlat";
const KEY = "ll_edge_key_1234";
const SIGNING_KEY = "ll-edge-test-signing-key-0123456789abcdef";

/** `cascade_edge_origin_requests_total{kind}` of the edge at `base`. */
async function originRequests(base: string, kind: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^cascade_edge_origin_requests_total\\{kind="${kind}"\\} (\\d+)`, "m")
    .exec(text);
  return m === null ? 0 : Number(m[1]);
}

Deno.test({
  name:
    "LL-HLS through edges: ffmpeg decodes, 50 identical blocking reloads and part GETs cost the origin one request each, hls.js plays under 3 s behind, signed playback holds",
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-ll-edge-" });
  const procs: TestProcess[] = [];
  try {
    await using redis = await startRedis();
    const httpPort = freePort();
    const rtmpPort = freePort();
    const origin = await startProcess(Deno.execPath(), {
      args: ["run", "-A", ORIGIN_MAIN],
      env: {
        REDIS_URL: redis.url,
        NODE_ID: "origin-ll",
        RTMP_HOST: "127.0.0.1",
        RTMP_PORT: String(rtmpPort),
        ORIGIN_HTTP_HOST: "127.0.0.1",
        ORIGIN_HTTP_PORT: String(httpPort),
        MEDIA_ROOT: join(dir, "media"),
        PUBLISH_AUTH: "static",
        PUBLISH_KEYS: `${KEY}=${NAME}`,
        HLS_LL: "true",
        RECORD: "none",
      },
      readyPort: httpPort,
      timeoutMs: 60_000,
    });
    procs.push(origin);
    const startEdge = async (id: string, env: Record<string, string> = {}) => {
      const port = freePort();
      procs.push(
        await startProcess(Deno.execPath(), {
          args: ["run", "-A", EDGE_MAIN],
          env: {
            REDIS_URL: redis.url,
            EDGE_HOST: "127.0.0.1",
            EDGE_PORT: String(port),
            NODE_ID: id,
            LOG_FORMAT: "json",
            ...env,
          },
          readyLine: /"event":"edge\.listening"/,
          timeoutMs: 60_000,
        }),
      );
      return `http://127.0.0.1:${port}`;
    };
    const edge = await startEdge("edge-ll-open");
    const signed = await startEdge("edge-ll-signed", { PLAYBACK_SIGNING_KEY: SIGNING_KEY });
    procs.push(publish(`rtmp://127.0.0.1:${rtmpPort}/live/${KEY}`, { seconds: 60 }));
    const ll = `${edge}/live/${NAME}/ll.m3u8`;
    const first = await waitFor("ll.m3u8 through the edge", async () => {
      const res = await fetch(ll);
      const text = await res.text();
      return res.ok && parseLlPlaylist(text).segments.length >= 1 ? text : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.match(first, /#EXT-X-PRELOAD-HINT:TYPE=PART/);

    // ffmpeg reads the playlist, the init segment and the fMP4 segments through the edge.
    assert.equal(await decodeErrors(ll, { seconds: 3 }), "");

    // 50 viewers ask at once for the part the playlist hints at: one blocking reload and one
    // part request reach the origin.
    const text = await (await fetch(ll)).text();
    const hint = parseLlPlaylist(text).preloadHint!;
    const [, msn, part] = /_p(\d+)\.(\d+)\.m4s$/.exec(hint)!;
    const blockingBefore = await originRequests(edge, "blocking_playlist");
    const partsBefore = await originRequests(edge, "part");
    const blocking = `${ll}?_HLS_msn=${msn}&_HLS_part=${part}`;
    const hintUrl = new URL(hint, ll).href;
    const answers = await Promise.all([
      ...Array.from({ length: 50 }, () => fetch(blocking)),
      ...Array.from({ length: 50 }, () => fetch(hintUrl)),
    ]);
    const bodies = await Promise.all(answers.map(async (r) => [r.status, await r.text()] as const));
    const playlists = bodies.slice(0, 50);
    const parts = bodies.slice(50);
    assert.deepEqual(new Set(playlists.map(([s]) => s)), new Set([200]));
    assert.equal(new Set(playlists.map(([, b]) => b)).size, 1, "every viewer got one answer");
    assert.ok(playlists[0]![1].includes(hint.split("/").at(-1)!), "the answer lists the part");
    assert.deepEqual(new Set(parts.map(([s]) => s)), new Set([200]));
    assert.equal(await originRequests(edge, "blocking_playlist") - blockingBefore, 1);
    assert.equal(await originRequests(edge, "part") - partsBefore, 1);

    // The edge's watch page plays LL-HLS with hls.js, close behind live.
    {
      await using browser = await openBrowser();
      const page = browser.page;
      await page.goto(`${edge}/watch/${NAME}`);
      const seconds = await waitFor("a latency readout after playback advanced", async () => {
        const protocol = await page.getAttribute("#watch", "data-protocol");
        const t = await videoTime(page);
        const latency = await page.getAttribute("#latency", "data-seconds");
        return protocol === "llhls" && t > 3 && latency !== null ? Number(latency) : undefined;
      }, { timeoutMs: 40_000, intervalMs: 500 });
      assert.ok(seconds > 0 && seconds < 3, `hls.js plays ${seconds} s behind live`);
      assert.equal(await page.getAttribute("#watch", "data-fatal-errors"), "0");
      assert.deepEqual(browser.pageErrors, []);
    }

    // Signed playback: no token → 403; the token opens the playlist and rides on every URI.
    const refused = await fetch(`${signed}/live/${NAME}/ll.m3u8`);
    await refused.body?.cancel();
    assert.equal(refused.status, 403);
    const token = await signPlaybackToken(SIGNING_KEY, NAME, Math.floor(Date.now() / 1000) + 600);
    const signedLl = `${signed}/live/${NAME}/ll.m3u8?token=${token}`;
    const signedText = await waitFor("the signed playlist", async () => {
      const res = await fetch(signedLl);
      const body = await res.text();
      return res.ok ? body : undefined;
    });
    const uris = [
      ...signedText.matchAll(/URI="([^"]+)"/g).map((m) => m[1]!),
      ...signedText.split("\n").filter((l) => l !== "" && !l.startsWith("#")),
    ];
    assert.ok(uris.length > 3, signedText);
    for (const uri of uris) assert.match(uri, new RegExp(`[?&]token=${token}`), uri);
    const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(signedText)![1]!;
    const init = await fetch(new URL(map, signedLl));
    await init.body?.cancel();
    assert.equal(init.status, 200, "the init segment opens with the token on its URI");
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
