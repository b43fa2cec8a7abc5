import assert from "node:assert/strict";
import { MetricsRegistry } from "@cascade/common/metrics";
import { loadConfig } from "@cascade/common/config";
import { StreamHub } from "@cascade/stream/hub";
import { avcTrack } from "../lib/media/testing/tracks.ts";
import { quietLog } from "../lib/common/testing/log.ts";
import { type ThumbnailConfig, thumbnailConfigSchema } from "./config.ts";
import { Thumbnails } from "./thumbnails.ts";
import { FfmpegUnavailableError } from "./snapshot.ts";
import { waitFor } from "../tests/helpers/wait.ts";

const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);

function configOf(env: Record<string, string>): ThumbnailConfig {
  return loadConfig(thumbnailConfigSchema, env);
}

function keyframe(hub: StreamHub, name: string, byte: number): void {
  hub.get(name)!.frame({
    kind: "video",
    codec: "h264",
    dts: 0,
    pts: 0,
    keyframe: true,
    data: new Uint8Array([0, 0, 0, 2, 0x65, byte]),
  });
}

/** The answer for `name`'s thumbnail (made first when there is none). */
async function thumbRequest(
  thumbs: Thumbnails,
  name: string,
  headers: HeadersInit = {},
): Promise<Response | undefined> {
  return await thumbs.liveFile(
    name,
    "thumb.jpg",
    new Request(`http://x/live/${name}/thumb.jpg`, { headers }),
  );
}

/** Opens `name` with a keyframe. */
function live(hub: StreamHub, name: string): void {
  hub.open(name, "127.0.0.1").config(avcTrack(0x1f));
  keyframe(hub, name, 1);
}

Deno.test("Thumbnails runs at most THUMBNAIL_CONCURRENCY snapshots at once, one per stream however many ask", async () => {
  const hub = new StreamHub(quietLog);
  let running = 0;
  let most = 0;
  let runs = 0;
  const release: (() => void)[] = [];
  const thumbs = new Thumbnails(configOf({ THUMBNAIL_CONCURRENCY: "2" }), {
    hub,
    log: quietLog,
    metrics: new MetricsRegistry(),
    snapshot: async () => {
      running++;
      runs++;
      most = Math.max(most, running);
      await new Promise<void>((r) => release.push(r));
      running--;
      return JPEG.slice();
    },
  });
  thumbs.start();
  const names = ["a", "b", "c", "d"];
  for (const name of names) live(hub, name);
  const answers = names.flatMap((name) => [thumbRequest(thumbs, name), thumbRequest(thumbs, name)]);
  await waitFor("two runs", () => runs === 2, { intervalMs: 1 });
  while (release.length > 0) {
    release.shift()!();
    await waitFor("the next run", () => release.length > 0 || runs === 4, { intervalMs: 1 });
  }
  const statuses = (await Promise.all(answers)).map((r) => r?.status);
  assert.deepEqual(statuses, Array(8).fill(200));
  assert.equal(most, 2);
  assert.equal(runs, 4, "two requests for one stream share its run");
  await thumbs.close();
});

Deno.test("Thumbnails makes a picture when asked, a newer one only when it is due and a newer keyframe exists, and forgets ended streams", async () => {
  const hub = new StreamHub(quietLog);
  const clock = { now: 1_000_000 };
  let runs = 0;
  const thumbs = new Thumbnails(configOf({ THUMBNAIL_SECONDS: "5" }), {
    hub,
    log: quietLog,
    metrics: new MetricsRegistry(),
    now: () => clock.now,
    snapshot: () => {
      runs++;
      return Promise.resolve(new Uint8Array([0xff, 0xd8, runs]));
    },
  });
  thumbs.start();
  assert.equal((await thumbRequest(thumbs, "a"))?.status, 404, "no such stream");
  assert.equal(thumbs.liveFile("a", "index.m3u8", new Request("http://x/")), undefined);
  live(hub, "a");
  assert.equal(runs, 0, "nothing made before anyone asks");
  const first = (await thumbRequest(thumbs, "a"))!;
  assert.equal(first.status, 200);
  assert.equal(first.headers.get("content-type"), "image/jpeg");
  assert.equal(first.headers.get("cache-control"), "public, max-age=5");
  assert.deepEqual(new Uint8Array(await first.arrayBuffer()), new Uint8Array([0xff, 0xd8, 1]));
  const etag = first.headers.get("etag")!;
  assert.equal((await thumbRequest(thumbs, "a", { "If-None-Match": etag }))?.status, 304);

  keyframe(hub, "a", 2);
  await thumbRequest(thumbs, "a");
  assert.equal(runs, 1, "not due yet");

  clock.now += 5_000;
  const stale = (await thumbRequest(thumbs, "a"))!;
  assert.equal(stale.headers.get("etag"), etag, "the old picture meanwhile");
  await waitFor("the second run", () => runs === 2, { intervalMs: 1 });
  const second = (await thumbRequest(thumbs, "a"))!;
  assert.notEqual(second.headers.get("etag"), etag);

  clock.now += 5_000;
  await thumbRequest(thumbs, "a");
  assert.equal(runs, 2, "the same keyframe is not pictured twice");

  hub.close(hub.get("a")!, "test");
  await waitFor("the picture to go", async () => (await thumbRequest(thumbs, "a"))?.status === 404);
  await thumbs.close();
});

Deno.test("Thumbnails stops trying once ffmpeg cannot be started", async () => {
  const hub = new StreamHub(quietLog);
  const metrics = new MetricsRegistry();
  let runs = 0;
  const thumbs = new Thumbnails(configOf({ THUMBNAIL_SECONDS: "0.001" }), {
    hub,
    log: quietLog,
    metrics,
    snapshot: () => {
      runs++;
      return Promise.reject(new FfmpegUnavailableError("Cannot start ffmpeg: not found"));
    },
  });
  thumbs.start();
  live(hub, "a");
  assert.equal((await thumbRequest(thumbs, "a"))?.status, 404);
  assert.equal(thumbs.available, false);
  keyframe(hub, "a", 2);
  assert.equal((await thumbRequest(thumbs, "a"))?.status, 404);
  assert.equal(runs, 1);
  assert.match(metrics.render(), /^cascade_thumbnails_available 0$/m);
  await thumbs.close();
});
