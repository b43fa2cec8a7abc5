/**
 * The API's acceptance with real processes: the API served over HTTP on a random port
 * (MemoryRegistry), a Cascade origin with `PUBLISH_AUTH=api` calling its publish hook and
 * joined to the same registry (heartbeat, announcing its streams, kicks), and ffmpeg as encoder
 * and player. A stream
 * created over the admin API is published with the returned key and ingest URL, shows up
 * in `/live` within 2 s of its first playlist, plays through the playback URL; wrong and
 * revoked keys are refused; disabling a live stream publishes `stream.kick`, which the
 * origin obeys: the publisher is gone within 2 s.
 */
import assert from "node:assert/strict";
import { loadConfig } from "@cascade/common/config";
import { MetricsRegistry } from "@cascade/common/metrics";
import { quietLog } from "../lib/common/testing/log.ts";
import { MemoryRegistry } from "@cascade/registry/memory";
import type { RegistryEvent } from "@cascade/registry/types";
import { createApiApp } from "../api/src/app.ts";
import { logText } from "../api/testing/log_text.ts";
import { apiConfigSchema } from "../api/src/config.ts";
import { type CapturedLog, captureLog } from "./helpers/log.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { runProcess, type TestProcess } from "./helpers/process.ts";
import { waitFor } from "./helpers/wait.ts";
import { exists } from "../tools/sys.ts";

const ADMIN_TOKEN = "e2e-admin-token-0123456789";
const HOOK_TOKEN = "e2e-hook-token-0123456789";

function serveApi(registry: MemoryRegistry, log: CapturedLog) {
  const config = loadConfig(apiConfigSchema, {
    API_ADMIN_TOKEN: ADMIN_TOKEN,
    HOOK_TOKEN,
    LOG_LEVEL: "debug",
  });
  const app = createApiApp({
    registry,
    config,
    log,
    metrics: new MetricsRegistry(),
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** Waits for an ffmpeg publisher to give up and returns its exit code. */
async function refused(ff: TestProcess): Promise<number> {
  const status = await Promise.race([
    ff.status,
    new Promise<null>((r) => setTimeout(() => r(null), 15_000)),
  ]);
  if (status === null) {
    await ff.stop("SIGKILL");
    assert.fail("ffmpeg kept publishing with a key that should be refused");
  }
  return status.code;
}

Deno.test("API end to end: create, publish with the key, list, play, refuse, disable", async () => {
  const registry = new MemoryRegistry({ log: quietLog });
  const log = captureLog();
  await using _closeRegistry = { [Symbol.asyncDispose]: () => registry.close() };
  await using api = serveApi(registry, log);
  // The origin joins the registry as in a deployment: heartbeat with its ingest URL,
  // announcing its playlists from its packager, and obedience to `stream.kick`.
  await using origin = await startTestOrigin({
    PUBLISH_AUTH: "api",
    API_URL: api.url,
    HOOK_TOKEN,
    HLS_SEGMENT_SECONDS: "1",
    STREAM_TTL_SECONDS: "4",
  }, { registry, log: quietLog });
  const events: RegistryEvent[] = [];
  const unsubscribe = await registry.subscribe((e) => void events.push(e));
  const publishers: TestProcess[] = [];
  const start = (url: string) => {
    const ff = publish(url, { seconds: 120 });
    publishers.push(ff);
    return ff;
  };
  const admin = (path: string, init: RequestInit = {}) =>
    fetch(`${api.url}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        "content-type": "application/json",
        ...init.headers,
      },
    });

  try {
    const created = await admin("/api/v1/streams", {
      method: "POST",
      body: JSON.stringify({ name: "cam1" }),
    });
    assert.equal(created.status, 201);
    const { streamKey, ingestUrls } = await created.json() as {
      streamKey: string;
      ingestUrls: string[];
    };
    const ingestUrl = `rtmp://127.0.0.1:${origin.rtmpPort}/live/${streamKey}`;
    assert.deepEqual(ingestUrls, [ingestUrl]);

    const ff = start(ingestUrl);
    await waitFor("the origin to accept cam1", () => origin.hub.get("cam1") !== undefined, {
      timeoutMs: 15_000,
    });
    assert.equal(origin.hub.size, 1);

    const playlist = `${origin.mediaRoot}/cam1/index.m3u8`;
    await waitFor("the first playlist", () => exists(playlist), { timeoutMs: 15_000 });
    const playlistAt = performance.now();
    await waitFor("cam1 in /api/v1/live", async () => {
      const live = await (await fetch(`${api.url}/api/v1/live`)).json();
      return live.streams.some((s: { name: string }) => s.name === "cam1");
    }, { timeoutMs: 2000, intervalMs: 20 });
    const listedAfter = performance.now() - playlistAt;
    assert.ok(listedAfter <= 2000, `listed ${listedAfter.toFixed(0)} ms after the playlist`);
    const live = await (await fetch(`${api.url}/api/v1/live`)).json();
    assert.equal(live.streams[0].originId, origin.id);
    assert.equal(live.streams[0].playbackUrl, `${api.url}/api/v1/streams/cam1/playback`);

    const playback = await (await fetch(live.streams[0].playbackUrl)).json();
    assert.equal(playback.live, true);
    assert.equal(playback.hls, `${origin.httpUrl}/live/cam1/index.m3u8`);
    const decoded = await runProcess("ffmpeg", [
      "-v",
      "error",
      "-i",
      playback.hls,
      "-t",
      "2",
      "-map",
      "0:v",
      "-f",
      "framemd5",
      "-",
    ]);
    assert.equal(decoded.code, 0, decoded.stderr);
    const frames = decoded.stdout.split("\n").filter((l) => /^\s*0,/.test(l)).length;
    assert.ok(frames >= 30, `decoded ${frames} video frames`);

    const wrong = start(`rtmp://127.0.0.1:${origin.rtmpPort}/live/sk_${"A".repeat(43)}`);
    assert.notEqual(await refused(wrong), 0);
    assert.equal(origin.hub.size, 1, "a wrong key must not publish anything");
    assert.ok(
      log.events("publish.refused").some((l) =>
        l.fields.role === "api" && l.fields.reason === "unknown_key"
      ),
      "the API logs the refused key's reason",
    );

    const disabledAt = performance.now();
    const patch = await admin("/api/v1/streams/cam1", {
      method: "PATCH",
      body: JSON.stringify({ disabled: true }),
    });
    assert.equal(patch.status, 200);
    const kick = await waitFor(
      "stream.kick",
      () => events.find((e) => e.type === "stream.kick" && e.name === "cam1"),
      { timeoutMs: 2000, intervalMs: 10 },
    );
    assert.equal(kick.originId, origin.id);
    await waitFor("the publisher to be dropped", () => origin.hub.get("cam1") === undefined, {
      timeoutMs: 2000,
      intervalMs: 20,
    });
    await Promise.race([
      ff.status,
      waitFor("ffmpeg to stop", () => ff.exited, { timeoutMs: 2000, intervalMs: 20 }),
    ]);
    const stoppedAfter = performance.now() - disabledAt;
    assert.ok(stoppedAfter <= 2000, `publisher stopped ${stoppedAfter.toFixed(0)} ms after`);

    const disabled = start(ingestUrl);
    assert.notEqual(await refused(disabled), 0, "a disabled stream's key must be refused");
    assert.ok(log.lines.some((l) => l.fields.reason === "stream_disabled"));

    const rotated = await (await admin("/api/v1/streams/cam1/rotate-key", { method: "POST" }))
      .json();
    await admin("/api/v1/streams/cam1", {
      method: "PATCH",
      body: JSON.stringify({ disabled: false }),
    });
    const revoked = start(ingestUrl);
    assert.notEqual(await refused(revoked), 0, "the revoked key must be refused");
    assert.equal(origin.hub.get("cam1"), undefined);
    start(rotated.ingestUrls[0]);
    await waitFor("the new key to publish", () => origin.hub.get("cam1") !== undefined, {
      timeoutMs: 15_000,
    });

    const logged = logText(log);
    for (const secret of [streamKey, rotated.streamKey, ADMIN_TOKEN, HOOK_TOKEN]) {
      assert.ok(!logged.includes(secret), "a secret reached the API's log");
    }
    assert.ok(log.events("publish.allowed").some((l) => l.fields.stream === "cam1"));
  } finally {
    for (const ff of publishers) await ff.stop("SIGKILL");
    unsubscribe();
  }
});
