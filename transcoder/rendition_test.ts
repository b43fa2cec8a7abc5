import assert from "node:assert/strict";
import { log } from "@cascade/common/log";
import { MetricsRegistry } from "@cascade/common/metrics";
import { parseProfile } from "@cascade/common/renditions";
import type { HubMessage, MediaFrame } from "@cascade/media/frame";
import { StreamHub } from "@cascade/stream/hub";
import { clipFrames } from "../tests/helpers/media.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { RenditionWorker } from "./rendition.ts";

/** An "ffmpeg" that copies stdin to stdout: the worker's plumbing without an encoder. */
async function catFfmpeg(dir: string): Promise<string> {
  const path = `${dir}/ffmpeg`;
  await Deno.writeTextFile(path, "#!/bin/sh\nexec cat\n");
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("RenditionWorker passes the source through its child into {name}_{rung}, restarts a killed child and ends with the source", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const clip = await clipFrames(`${dir}/clip.flv`, { seconds: 2, gop: 15 });
    const hub = new StreamHub(log);
    const source = hub.open("cam", "test");
    source.config({ kind: "video", codec: "h264", avc: clip.video });
    source.config({ kind: "audio", codec: "aac", aac: clip.audio });
    const restarts = new MetricsRegistry().counter("restarts", "restarts").labels();
    const worker = new RenditionWorker(source, parseProfile("240p")[0]!, {
      hub,
      ffmpeg: await catFfmpeg(dir),
      preset: "veryfast",
      queueFrames: 10_000,
      log,
      restarts,
    });
    const received: HubMessage[] = [];
    let ended = false;
    hub.on(async (e) => {
      if (e.type === "publish.stop" && e.stream.info.name === "cam_240p") ended = true;
      if (e.type !== "publish.start" || e.stream.info.name !== "cam_240p") return;
      for await (const msg of e.stream.subscribe("test", 100_000)) received.push(msg);
    });
    const firstPid = await waitFor("the child", () => worker.pid);
    const half = clip.frames.length >> 1;
    for (const f of clip.frames.slice(0, half)) source.frame(f);
    const frames = () => received.filter((m) => m.type === "frame").length;
    // A child starts at a video keyframe: what comes before it in its slice is not sent.
    const fromKey = (frames: MediaFrame[]) =>
      frames.length - frames.findIndex((f) => f.kind === "video" && f.keyframe);
    const first = fromKey(clip.frames.slice(0, half));
    await waitFor("the first half through the child", () => frames() === first);
    assert.equal(received[0]?.type, "config");

    Deno.kill(firstPid, "SIGKILL");
    await waitFor("a new child", () => worker.pid !== undefined && worker.pid !== firstPid);
    assert.equal(restarts.value, 1);
    for (const f of clip.frames.slice(half)) source.frame(f);
    const second = fromKey(clip.frames.slice(half));
    await waitFor("the second half from its keyframe", () => frames() === first + second);
    assert.ok(hub.get("cam_240p"), "the rendition stayed open across the restart");

    hub.close(source, "test over");
    await worker.done;
    assert.ok(ended, "the rendition ended with its source");
    assert.equal(worker.pid, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
