/**
 * The transcoder as a role of its own, across processes with a real redis-server: an origin
 * with `TRANSCODE_LOCAL=false` takes a 720p ffmpeg publish, `transcoder/main.ts` runs as its
 * own `deno run` with `TRANSCODE_PROFILE=240p` (twice), pulls the source over the origin's internal
 * feed and pushes `alpha_240p` back: the origin's master playlist lists it and ffprobe sees
 * 240 lines in its segments, while the origin itself runs no ffmpeg. The internal WebSockets
 * refuse upgrades without the right `HOOK_TOKEN` (503 when the origin has none). Killing the
 * role with SIGKILL ends the rendition on the origin and leaves the source advancing; a second
 * role, idle until then (the stream ranks to the other), takes the rendition over.
 * `deno task cluster --transcode 240p` runs the role: an edge serves the master and the rendition.
 */
import assert from "node:assert/strict";
import { RedisRegistry } from "@cascade/registry";
import { rankByRendezvous } from "@cascade/registry/rendezvous";
import { FlvHubReader } from "@cascade/stream/flv_feed";
import type { HubMessage } from "@cascade/media/frame";
import { WebSocket } from "ws";
import { startCluster } from "./helpers/cluster.ts";
import { startTestOrigin, type TestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { probeJson } from "./helpers/decode.ts";
import { freePort } from "./helpers/ports.ts";
import { startProcess } from "./helpers/process.ts";
import { RedisServer } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

const TOKEN = "internal-token-0123456789";
const MAIN = new URL("../transcoder/main.ts", import.meta.url).pathname;
const DEADLINE_MS = 30_000;

async function text(url: string): Promise<string | undefined> {
  const res = await fetch(url);
  const body = await res.text();
  return res.ok ? body : undefined;
}

/** Sequence numbers of the segments a media playlist lists. */
function sequences(playlist: string | undefined): number[] {
  return (playlist ?? "").split("\n").filter((l) => /^\d+\.ts$/.test(l)).map((l) => parseInt(l));
}

/** The status code an origin answers a WebSocket upgrade of `path` with. */
async function upgradeStatus(origin: TestOrigin, path: string, auth?: string): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: origin.httpPort! });
  try {
    const head = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${origin.httpPort}`,
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version: 13",
      ...(auth === undefined ? [] : [`Authorization: ${auth}`]),
      "",
      "",
    ].join("\r\n");
    await conn.write(new TextEncoder().encode(head));
    const buf = new Uint8Array(1024);
    const n = await conn.read(buf);
    const reply = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    return Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1]);
  } finally {
    conn.close();
  }
}

/** `transcoder/main.ts` as a process of its own, ready once `/healthz` answers. */
async function startRole(redisUrl: string, id: string) {
  const port = freePort();
  const proc = await startProcess(Deno.execPath(), {
    name: id,
    args: ["run", "-A", MAIN],
    env: {
      REDIS_URL: redisUrl,
      REDIS_PREFIX: "trole:",
      NODE_ID: id,
      HOOK_TOKEN: TOKEN,
      TRANSCODE_PROFILE: "240p",
      TRANSCODER_HOST: "127.0.0.1",
      TRANSCODER_PORT: String(port),
      LOG_FORMAT: "json",
    },
    readyUrl: `http://127.0.0.1:${port}/healthz`,
    timeoutMs: DEADLINE_MS,
  });
  return { port, process: proc };
}

/** The first hub messages of `/internal/feed/{name}` until the first frame. */
function readFeed(origin: TestOrigin, name: string): Promise<HubMessage[]> {
  const ws = new WebSocket(`ws://127.0.0.1:${origin.httpPort}/internal/feed/${name}`, {
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
  const reader = new FlvHubReader();
  const got: HubMessage[] = [];
  return new Promise((resolve, reject) => {
    ws.on("error", reject);
    ws.on("message", (data: Uint8Array) => {
      got.push(...reader.push(new Uint8Array(data)));
      if (got.some((m) => m.type === "frame")) {
        ws.close();
        resolve(got);
      }
    });
  });
}

Deno.test("the internal WebSockets refuse upgrades without the origin's HOOK_TOKEN, and 503 when it has none", async () => {
  await using origin = await startTestOrigin({ HOOK_TOKEN: TOKEN });
  for (const path of ["/internal/feed/alpha", "/internal/renditions/alpha_240p"]) {
    assert.equal(await upgradeStatus(origin, path), 401, `${path} without a token`);
    assert.equal(await upgradeStatus(origin, path, "Bearer wrong-token-0123456789"), 401);
    assert.equal(await upgradeStatus(origin, path, TOKEN), 401, "a token without Bearer");
    assert.equal(await upgradeStatus(origin, path, `Bearer ${TOKEN}`), 404, "not live");
  }
  await using bare = await startTestOrigin();
  assert.equal(await upgradeStatus(bare, "/internal/feed/alpha", `Bearer ${TOKEN}`), 503);
});

Deno.test("transcoder role: an origin's 720p source gets a 240p rendition from the transcoder it ranks first; SIGKILL leaves the source advancing and the other transcoder takes over", async () => {
  await using redis = await RedisServer.start();
  const registry = new RedisRegistry({ url: redis.url, prefix: "trole:" });
  try {
    await using origin = await startTestOrigin({
      NODE_ID: "origin-a",
      HOOK_TOKEN: TOKEN,
      TRANSCODE_LOCAL: "false",
      // Would make the origin transcode by itself were TRANSCODE_LOCAL not false.
      TRANSCODE_PROFILE: "240p",
    }, { registry });
    await using _pub = publish(origin.rtmpUrl("test_key_1234"), { size: "1280x720" });
    await waitFor("alpha live in the registry", () => registry.getStream("alpha"), {
      timeoutMs: DEADLINE_MS,
    });

    // The feed: configs first (the source's 720 lines), then frames from a keyframe.
    const fed = await readFeed(origin, "alpha");
    const video = fed.find((m) => m.type === "config" && m.track.kind === "video");
    assert.equal(
      video?.type === "config" && video.track.kind === "video" && video.track.avc.height,
      720,
    );
    const first = fed.find((m) => m.type === "frame");
    assert.ok(first?.type === "frame" && first.frame.kind === "video" && first.frame.keyframe);
    // A rendition of a live source is refused to a wrong token, a non-rendition name is 404.
    assert.equal(
      await upgradeStatus(origin, "/internal/renditions/alpha_240p", "Bearer nope-nope-nope-nope"),
      401,
    );
    assert.equal(await upgradeStatus(origin, "/internal/renditions/alpha", `Bearer ${TOKEN}`), 404);

    // Two transcoders: the one that ranks first for "alpha" makes its renditions.
    const ids = ["transcoder-1", "transcoder-2"];
    const owner = rankByRendezvous(ids.map((id) => ({ id })), "alpha")[0]!.id;
    const roles = new Map(
      await Promise.all(ids.map(async (id) => [id, await startRole(redis.url, id)] as const)),
    );
    try {
      const node = await waitFor(`node:transcoder:${owner}`, async () => {
        const node = await registry.getNode("transcoder", owner);
        return node?.load === 1 ? node : undefined;
      }, { timeoutMs: DEADLINE_MS });
      assert.equal(node.url, `http://127.0.0.1:${roles.get(owner)!.port}`);

      const master = await waitFor("the master playlist to list alpha_240p", async () => {
        for (const role of roles.values()) role.process.giveUpIfExited();
        const body = await text(`${origin.httpUrl}/live/alpha/master.m3u8`);
        return body?.includes("../alpha_240p/index.m3u8") ? body : undefined;
      }, { timeoutMs: DEADLINE_MS });
      assert.match(master, /RESOLUTION=1280x720[\s\S]*RESOLUTION=426x240/);
      const renditionList = `${origin.httpUrl}/live/alpha_240p/index.m3u8`;
      const last = sequences(await text(renditionList)).at(-1)!;
      const info = await probeJson(
        `${origin.httpUrl}/live/alpha_240p/${last}.ts`,
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=height",
      ) as { streams: { height: number }[] };
      assert.equal(info.streams[0]?.height, 240);
      assert.deepEqual(origin.transcoder.pids(), [], "the origin runs no ffmpeg of its own");
      assert.ok((await registry.getStream("alpha_240p")) !== null, "announced like any stream");
      const other = ids.find((id) => id !== owner)!;
      assert.equal((await registry.getNode("transcoder", other))?.load, 0, "one transcoder each");

      const first = origin.hub.get("alpha_240p");
      const killed = roles.get(owner)!.process;
      killed.child.kill("SIGKILL");
      await killed.status;
      await waitFor(
        "the killed role's alpha_240p to leave the origin's hub",
        () => origin.hub.get("alpha_240p") !== first,
        { timeoutMs: 10_000 },
      );
      const source = `${origin.httpUrl}/live/alpha/index.m3u8`;
      const before = sequences(await text(source)).at(-1)!;
      await waitFor("the source playlist to advance two segments", async () => {
        const now = sequences(await text(source)).at(-1);
        return now !== undefined && now >= before + 2;
      }, { timeoutMs: 15_000 });
      assert.ok(origin.hub.get("alpha"), "the source is still live");

      // Once the dead node's record expires (10 s), the other transcoder takes the stream over.
      const lastBefore = sequences(await text(renditionList)).at(-1) ?? 0;
      await waitFor(`${other} to continue alpha_240p`, async () => {
        roles.get(other)!.process.giveUpIfExited();
        const now = sequences(await text(renditionList)).at(-1);
        return origin.hub.get("alpha_240p") !== undefined && now !== undefined &&
          now > lastBefore;
      }, { timeoutMs: DEADLINE_MS });
    } finally {
      for (const role of roles.values()) await role.process.stop("SIGKILL");
    }
  } finally {
    await registry.close();
  }
});

Deno.test("deno task cluster --transcode 240p: an edge serves the master playlist of a 720p publish and its 240p rendition", async () => {
  await using cluster = await startCluster({ transcode: "240p" });
  const transcoder = cluster.info.transcoder;
  assert.equal(transcoder?.profile, "240p");
  const health = await (await fetch(`${transcoder!.http}/healthz`)).json();
  assert.deepEqual([health.role, health.id, health.status], ["transcoder", "transcoder-1", "ok"]);
  const key = await cluster.createStream("demo");
  await using _pub = publish(`${cluster.info.origins[0]!.rtmp}/${key}`, { size: "1280x720" });
  const edge = cluster.info.edges[0]!.http;
  await waitFor("the edge's master playlist to list demo_240p", async () => {
    const body = await text(`${edge}/live/demo/master.m3u8`);
    return body?.includes("../demo_240p/index.m3u8");
  }, { timeoutMs: DEADLINE_MS });
  await waitFor("the edge to serve the rendition's segments", async () => {
    const last = sequences(await text(`${edge}/live/demo_240p/index.m3u8`)).at(-1);
    if (last === undefined) return false;
    const res = await fetch(`${edge}/live/demo_240p/${last}.ts`);
    await res.body?.cancel();
    return res.ok;
  }, { timeoutMs: DEADLINE_MS });
});
