/**
 * The discovery process as operators run it (`deno run discovery/main.ts`) against a real
 * redis-server: announce and release, `kill -9` (the claim expires by TTL), a Redis restart
 * mid-stream, graceful shutdown, and the exit code for a missing `REDIS_URL`. How soon each
 * happens is the bench's business; the deadlines here are generous and the assertions are
 * about what happened and why (a release, not an expiry).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { RedisRegistry } from "@cascade/registry/redis";
import { quietLog } from "../lib/common/testing/log.ts";
import type { RegistryEvent } from "@cascade/registry/types";
import { playlistText as playlist, writePlaylist } from "../lib/media/hls/testing/playlists.ts";
import { runProcess, startProcess, type TestProcess } from "./helpers/process.ts";
import { type RedisServer, startRedis } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

const MAIN = fileURLToPath(new URL("../discovery/main.ts", import.meta.url));
const PREFIX = "disc:";

/** Generous: under `--parallel` on two busy cores a second can become ten. */
const DEADLINE_MS = 20_000;

type StreamDownEvent = Extract<RegistryEvent, { type: "stream.down" }>;

/** `stream.down` events from now on, as the registry publishes them. */
async function streamDowns(s: Setup): Promise<StreamDownEvent[]> {
  const downs: StreamDownEvent[] = [];
  await s.registry.subscribe((e) => {
    if (e.type === "stream.down") downs.push(e);
  });
  return downs;
}

/** The stream's record, or undefined (which `waitFor` takes as "not yet"). */
async function live(s: Setup, name: string) {
  return (await s.registry.getStream(name)) ?? undefined;
}

interface Setup extends AsyncDisposable {
  redis: RedisServer;
  registry: RedisRegistry;
  mediaRoot: string;
  discovery: TestProcess;
}

async function setup(ttlSeconds = 2): Promise<Setup> {
  const redis = await startRedis();
  const mediaRoot = await Deno.makeTempDir({ prefix: "cascade-discovery-proc-" });
  const registry = new RedisRegistry({ url: redis.url, prefix: PREFIX, log: quietLog });
  let discovery: TestProcess | undefined;
  try {
    discovery = await startProcess(Deno.execPath(), {
      args: ["run", "-A", MAIN],
      env: {
        REDIS_URL: redis.url,
        REDIS_PREFIX: PREFIX,
        MEDIA_ROOT: mediaRoot,
        ORIGIN_PUBLIC_URL: "http://127.0.0.1:18081",
        NODE_ID: "origin-a",
        STREAM_TTL_SECONDS: String(ttlSeconds),
        LOG_FORMAT: "json",
      },
      readyLine: /"event":"discovery\.started"/,
      timeoutMs: 60_000,
    });
  } catch (err) {
    await registry.close();
    await redis[Symbol.asyncDispose]();
    throw err;
  }
  const proc = discovery;
  return {
    redis,
    registry,
    mediaRoot,
    discovery: proc,
    async [Symbol.asyncDispose]() {
      await proc.stop("SIGKILL");
      await registry.close();
      await redis[Symbol.asyncDispose]();
      await Deno.remove(mediaRoot, { recursive: true });
    },
  };
}

Deno.test("discovery announces the first playlist and releases the stream on ENDLIST", async () => {
  await using s = await setup();
  const downs = await streamDowns(s);
  await writePlaylist(s.mediaRoot, "cam1", playlist({ sequence: 10 }));
  const record = await waitFor("stream:cam1", () => live(s, "cam1"), {
    timeoutMs: DEADLINE_MS,
    intervalMs: 10,
  });
  assert.equal(record?.originId, "origin-a");
  assert.equal(record?.originUrl, "http://127.0.0.1:18081");
  assert.equal(record?.manifest, "http://127.0.0.1:18081/live/cam1/index.m3u8");
  assert.equal(record?.mediaSequence, 10);

  await writePlaylist(s.mediaRoot, "cam1", playlist({ sequence: 11, ended: true }));
  const down = await waitFor("stream.down of cam1", () => downs.find((e) => e.name === "cam1"), {
    timeoutMs: DEADLINE_MS,
    intervalMs: 10,
  });
  assert.equal(down.reason, "released", "released on ENDLIST, not left to expire");
  assert.equal(await s.registry.getStream("cam1"), null);
});

Deno.test("discovery killed with SIGKILL leaves its streams to expire by TTL", async () => {
  const ttlSeconds = 2;
  await using s = await setup(ttlSeconds);
  const downs = await streamDowns(s);
  await writePlaylist(s.mediaRoot, "cam1", playlist({ sequence: 1, target: 10 }));
  await waitFor("stream:cam1", () => live(s, "cam1"));
  await s.discovery.stop("SIGKILL");
  const down = await waitFor("stream.down of cam1", () => downs.find((e) => e.name === "cam1"), {
    timeoutMs: DEADLINE_MS,
    intervalMs: 20,
  });
  assert.equal(down.reason, "expired");
  assert.equal(await s.registry.getStream("cam1"), null);
});

Deno.test("discovery re-announces after Redis returns and never exits", async () => {
  await using s = await setup(5);
  await writePlaylist(s.mediaRoot, "cam1", playlist({ sequence: 1, target: 30 }));
  await waitFor("stream:cam1", () => live(s, "cam1"));
  await s.redis.kill();
  // The outage outlasts a refresh period, so refreshes fail meanwhile.
  await waitFor(
    "the outage to be noticed",
    () => /"event":"discovery\.registry_unavailable"/.test(s.discovery.output),
    { timeoutMs: DEADLINE_MS },
  );
  await s.redis.restart();
  // The restarted Redis is empty: the record can only come from announcing again.
  await waitFor("stream:cam1 to return", () => live(s, "cam1"), {
    timeoutMs: DEADLINE_MS,
    intervalMs: 20,
  });
  assert.equal(s.discovery.exited, false);
});

Deno.test("discovery releases its streams on SIGTERM and exits 0", async () => {
  await using s = await setup();
  await writePlaylist(s.mediaRoot, "cam1", playlist({ sequence: 1, target: 30 }));
  await waitFor("stream:cam1", () => live(s, "cam1"));
  const status = await s.discovery.stop("SIGTERM");
  assert.equal(status.code, 0);
  assert.equal(await s.registry.getStream("cam1"), null);
});

Deno.test("discovery without REDIS_URL exits 2 with one line naming it", async () => {
  // An empty value counts as unset; the rest of the environment is inherited.
  const { code, stderr } = await runProcess(Deno.execPath(), ["run", "-A", MAIN], {
    env: { REDIS_URL: "" },
  });
  assert.equal(code, 2);
  const lines = stderr.trim().split("\n");
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /^Invalid REDIS_URL: required/);
});
