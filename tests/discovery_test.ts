/**
 * The discovery process as operators run it (`deno run discovery/main.ts`) against a real
 * redis-server: announce and release timing, `kill -9`, a Redis restart mid-stream,
 * graceful shutdown, and the exit code for a missing `REDIS_URL`.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { RedisRegistry } from "@cascade/registry/redis";
import { quietLog } from "@cascade/registry/contract";
import { runProcess, startProcess, type TestProcess } from "./helpers/process.ts";
import { type RedisServer, startRedis } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

const MAIN = fileURLToPath(new URL("../discovery/main.ts", import.meta.url));
const PREFIX = "disc:";

function playlist(sequence: number, { target = 2, ended = false } = {}): string {
  const lines = ["#EXTM3U", "#EXT-X-VERSION:3", `#EXT-X-TARGETDURATION:${target}`];
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${sequence}`);
  for (let i = 0; i < 3; i++) lines.push(`#EXTINF:${target}.000,`, `${sequence + i}.ts`);
  if (ended) lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

async function writePlaylist(root: string, name: string, text: string): Promise<void> {
  await Deno.mkdir(`${root}/${name}`, { recursive: true });
  await Deno.writeTextFile(`${root}/${name}/index.m3u8.tmp`, text);
  await Deno.rename(`${root}/${name}/index.m3u8.tmp`, `${root}/${name}/index.m3u8`);
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

Deno.test("discovery announces within 1 s of the first playlist and releases within 1 s of ENDLIST", async () => {
  await using s = await setup();
  const written = Date.now();
  await writePlaylist(s.mediaRoot, "cam1", playlist(10));
  const record = await waitFor("stream:cam1", () => live(s, "cam1"), {
    timeoutMs: 1000,
    intervalMs: 10,
  });
  assert.ok(Date.now() - written <= 1000);
  assert.equal(record?.originId, "origin-a");
  assert.equal(record?.originUrl, "http://127.0.0.1:18081");
  assert.equal(record?.manifest, "http://127.0.0.1:18081/live/cam1/index.m3u8");
  assert.equal(record?.mediaSequence, 10);

  const ended = Date.now();
  await writePlaylist(s.mediaRoot, "cam1", playlist(11, { ended: true }));
  await waitFor("stream:cam1 to go", async () => (await s.registry.getStream("cam1")) === null, {
    timeoutMs: 1000,
    intervalMs: 10,
  });
  assert.ok(Date.now() - ended <= 1000);
});

Deno.test("discovery killed with SIGKILL leaves its streams to expire within the TTL", async () => {
  const ttlSeconds = 2;
  await using s = await setup(ttlSeconds);
  await writePlaylist(s.mediaRoot, "cam1", playlist(1, { target: 10 }));
  await waitFor("stream:cam1", () => live(s, "cam1"));
  await s.discovery.stop("SIGKILL");
  const killed = Date.now();
  await waitFor(
    "stream:cam1 to expire",
    async () => (await s.registry.getStream("cam1")) === null,
    {
      timeoutMs: (ttlSeconds + 1) * 1000,
      intervalMs: 20,
    },
  );
  assert.ok(Date.now() - killed <= (ttlSeconds + 1) * 1000);
});

Deno.test("discovery re-announces within 2 s of Redis returning and never exits", async () => {
  await using s = await setup(5);
  await writePlaylist(s.mediaRoot, "cam1", playlist(1, { target: 30 }));
  await waitFor("stream:cam1", () => live(s, "cam1"));
  await s.redis.kill();
  // The outage outlasts a refresh period, so refreshes fail meanwhile.
  await waitFor(
    "the outage to be noticed",
    () => /"event":"discovery\.registry_unavailable"/.test(s.discovery.output),
    { timeoutMs: 5000 },
  );
  await s.redis.restart();
  const back = Date.now();
  await waitFor("stream:cam1 to return", () => live(s, "cam1"), {
    timeoutMs: 2000,
    intervalMs: 20,
  });
  assert.ok(Date.now() - back <= 2000);
  assert.equal(s.discovery.exited, false);
});

Deno.test("discovery releases its streams on SIGTERM and exits 0", async () => {
  await using s = await setup();
  await writePlaylist(s.mediaRoot, "cam1", playlist(1, { target: 30 }));
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
