import assert from "node:assert/strict";
import { MetricsRegistry } from "@cascade/common/metrics";
import { StreamHub } from "@cascade/stream/hub";
import { avcTrack } from "../lib/media/testing/tracks.ts";
import { quietLog } from "../lib/common/testing/log.ts";
import { type ThumbnailConfig, thumbnailConfigSchema } from "./config.ts";
import { Thumbnails } from "./thumbnails.ts";
import { FfmpegUnavailableError } from "./snapshot.ts";

const JPEG = new Uint8Array([0xff, 0xd8, 0xff, 0xd9]);

function configOf(env: Record<string, string>): ThumbnailConfig {
  return thumbnailConfigSchema.parse({ THUMBNAIL_SECONDS: "0.05", ...env });
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

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function thumbRequest(thumbs: Thumbnails, name: string): Response | undefined {
  return thumbs.liveFile(name, "thumb.jpg", new Request(`http://x/live/${name}/thumb.jpg`));
}

Deno.test("Thumbnails runs at most THUMBNAIL_CONCURRENCY snapshots at once", async () => {
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
  for (const name of ["a", "b", "c", "d"]) {
    hub.open(name, "127.0.0.1").config(avcTrack(0x1f));
    keyframe(hub, name, 1);
  }
  await until("two runs", () => runs === 2);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(most, 2);
  while (runs < 4 || running > 0) {
    release.shift()?.();
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(most, 2);
  assert.equal(thumbRequest(thumbs, "d")?.status, 200);
  await thumbs.close();
});

Deno.test("Thumbnails serves the latest picture, pictures only new keyframes, forgets ended streams", async () => {
  const hub = new StreamHub(quietLog);
  let runs = 0;
  const thumbs = new Thumbnails(configOf({}), {
    hub,
    log: quietLog,
    metrics: new MetricsRegistry(),
    snapshot: () => {
      runs++;
      return Promise.resolve(new Uint8Array([0xff, 0xd8, runs]));
    },
  });
  thumbs.start();
  const stream = hub.open("a", "127.0.0.1");
  assert.equal(thumbRequest(thumbs, "a")?.status, 404);
  assert.equal(thumbs.liveFile("a", "index.m3u8", new Request("http://x/")), undefined);
  stream.config(avcTrack(0x1f));
  keyframe(hub, "a", 1);
  await until("a picture", () => thumbRequest(thumbs, "a")?.status === 200);
  const first = thumbRequest(thumbs, "a")!;
  assert.equal(first.headers.get("content-type"), "image/jpeg");
  const etag = first.headers.get("etag")!;
  assert.equal(
    thumbs.liveFile(
      "a",
      "thumb.jpg",
      new Request("http://x/", { headers: { "If-None-Match": etag } }),
    )
      ?.status,
    304,
  );
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(runs, 1, "the same keyframe is not pictured twice");
  keyframe(hub, "a", 2);
  await until("a second picture", () => runs === 2);
  hub.close(stream, "test");
  await until("the picture to go", () => thumbRequest(thumbs, "a")?.status === 404);
  await thumbs.close();
});

Deno.test("Thumbnails stops trying once ffmpeg cannot be started", async () => {
  const hub = new StreamHub(quietLog);
  const metrics = new MetricsRegistry();
  let runs = 0;
  const thumbs = new Thumbnails(configOf({}), {
    hub,
    log: quietLog,
    metrics,
    snapshot: () => {
      runs++;
      return Promise.reject(new FfmpegUnavailableError("Cannot start ffmpeg: not found"));
    },
  });
  thumbs.start();
  hub.open("a", "127.0.0.1").config(avcTrack(0x1f));
  keyframe(hub, "a", 1);
  await until("unavailable", () => !thumbs.available);
  keyframe(hub, "a", 2);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(runs, 1);
  assert.match(metrics.render(), /^cascade_thumbnails_available 0$/m);
  await thumbs.close();
});
