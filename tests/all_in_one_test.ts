/**
 * `deno task start` from a clean directory, as a newcomer runs it: the node prints an
 * ingest URL with a development key and a watch URL; ffmpeg publishes with the printed key;
 * the printed playlist plays through the node's edge; a restart reuses the key; SIGTERM
 * ends the playlist and exits within 5 s. And the same node configured like the lone roles:
 * `API_ADMIN_TOKEN`, `HOOK_TOKEN`, `PUBLISH_KEYS` and `PLAYBACK_SIGNING_KEY` from the
 * environment are honoured, and `/healthz` answers the shape every role answers.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { startAllInOne } from "../node/all_in_one.ts";
import { freePort } from "./helpers/ports.ts";
import { publish } from "./helpers/media.ts";
import { runProcess, startProcess } from "./helpers/process.ts";
import { waitFor } from "./helpers/wait.ts";

const ENTRY = fromFileUrl(new URL("../node/main.ts", import.meta.url));
const CONFIG = fromFileUrl(new URL("../deno.json", import.meta.url));

async function startNode(cwd: string, port: number, rtmpPort: number) {
  const proc = await startProcess(Deno.execPath(), {
    args: ["run", "-A", "--config", CONFIG, ENTRY],
    cwd,
    env: {
      PORT: String(port),
      RTMP_PORT: String(rtmpPort),
      RTMP_HOST: "127.0.0.1",
      HOST: "127.0.0.1",
    },
    readyLine: /Admin token is in/,
    timeoutMs: 60_000,
  });
  try {
    const key = proc.output.match(/Stream Key (\S+)/)?.[1];
    const server = proc.output.match(/Server\s+(rtmp:\/\/\S+)/)?.[1];
    const playlist = proc.output.match(/Playlist:\s+(\S+)/)?.[1];
    const watch = proc.output.match(/Watch:\s+(\S+)/)?.[1];
    assert.ok(key && server && playlist && watch, `banner printed:\n${proc.output}`);
    return Object.assign(proc, { key, server, playlist, watch });
  } catch (err) {
    await proc.stop("SIGKILL");
    throw err;
  }
}

Deno.test("deno task start: publish with the printed key and play the printed URL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-start-" });
  const port = freePort();
  const rtmpPort = freePort();
  try {
    await using first = await startNode(dir, port, rtmpPort);
    assert.match(first.key, /^sk_[A-Za-z0-9_-]{43}$/);
    const secrets = JSON.parse(await Deno.readTextFile(join(dir, ".cascade", "secrets.json")));
    assert.equal((await Deno.stat(join(dir, ".cascade", "secrets.json"))).mode! & 0o077, 0);
    assert.equal(secrets.devKey, first.key);
    // The key is printed once for the person, and appears in no log line.
    const logLines = first.output.split("\n").filter((l) => /\b(INFO|WARN|ERROR)\b/.test(l));
    assert.ok(logLines.every((l) => !l.includes(first.key)), "no log line carries the key");

    // Restarting reuses the same key.
    const status = await first.stop("SIGTERM");
    assert.equal(status.code, 0);
    await using node = await startNode(dir, port, rtmpPort);
    assert.equal(node.key, first.key, "the development key is reused");

    await using ff = publish(`${node.server}/${node.key}`, { seconds: 30 });
    await waitFor("playlist with segments", async () => {
      const res = await fetch(node.playlist);
      const text = await res.text();
      return res.ok && (text.match(/#EXTINF/g)?.length ?? 0) >= 2;
    }, { timeoutMs: 20_000 });
    const decode = await runProcess("ffmpeg", [
      "-v",
      "error",
      "-i",
      node.playlist,
      "-t",
      "3",
      "-f",
      "null",
      "-",
    ]);
    assert.equal(decode.code, 0);
    assert.equal(decode.stderr, "", "the printed playlist decodes cleanly");
    const page = await fetch(node.watch);
    assert.equal(page.status, 200);
    assert.ok(!(await page.text()).includes(node.key), "the watch page carries no key");
    const broadcast = await fetch(new URL("/broadcast", node.watch));
    assert.equal(broadcast.status, 200, "the broadcast page is on the one port");
    assert.match(broadcast.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
    assert.ok(!(await broadcast.text()).includes(node.key), "the broadcast page carries no key");
    assert.match(node.output, /Browser:\s+http:\/\/\S+\/broadcast/, "the banner names it");

    const stoppedAt = Date.now();
    const exit = await node.stop("SIGTERM", 10_000);
    assert.equal(exit.code, 0, "clean exit");
    assert.ok(Date.now() - stoppedAt < 5000, "exits within 5 s");
    const text = await Deno.readTextFile(join(dir, "media", "dev", "index.m3u8"));
    assert.match(text, /#EXT-X-ENDLIST\s*$/, "the playlist is ended");
    await ff.status;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const ADMIN_TOKEN = "env-admin-token-0123456789";
const HOOK_TOKEN = "env-hook-token-0123456789";
const SIGNING_KEY = "env-playback-signing-key-0123456789abcdef";
const PLAYBACK_API_TOKEN = "env-playback-api-token-0123456789";
const STATIC_KEY = "static_key_0123";

/** The all-in-one in this process, configured from `env` like the lone roles. */
async function startInProcess(env: Record<string, string>) {
  const dir = await Deno.makeTempDir({ prefix: "cascade-start-env-" });
  try {
    const node = await startAllInOne({
      HOST: "127.0.0.1",
      PORT: "0",
      RTMP_HOST: "127.0.0.1",
      RTMP_PORT: "0",
      CASCADE_DATA_DIR: join(dir, ".cascade"),
      MEDIA_ROOT: join(dir, "media"),
      RECORD_DIR: join(dir, "recordings"),
      LOG_LEVEL: "warn",
      ...env,
    });
    return Object.assign(node, {
      url: `http://127.0.0.1:${node.port}`,
      dir,
      async [Symbol.asyncDispose]() {
        await node.close();
        await Deno.remove(dir, { recursive: true });
      },
    });
  } catch (err) {
    await Deno.remove(dir, { recursive: true });
    throw err;
  }
}

Deno.test("deno task start honours API_ADMIN_TOKEN, HOOK_TOKEN and PUBLISH_KEYS from the environment", async () => {
  await using node = await startInProcess({
    API_ADMIN_TOKEN: ADMIN_TOKEN,
    HOOK_TOKEN,
    PUBLISH_KEYS: `${STATIC_KEY}=cam`,
  });
  const saved = JSON.parse(await Deno.readTextFile(join(node.dir, ".cascade", "secrets.json")));
  const list = (token: string) =>
    fetch(`${node.url}/api/v1/streams`, { headers: { authorization: `Bearer ${token}` } });
  const byEnv = await list(ADMIN_TOKEN);
  assert.equal(byEnv.status, 200, "the admin token from the environment is the admin token");
  await byEnv.body?.cancel();
  const bySaved = await list(saved.adminToken);
  assert.equal(bySaved.status, 401, "the saved token is not, while API_ADMIN_TOKEN is set");
  await bySaved.body?.cancel();

  const hook = await fetch(`${node.url}/api/v1/hooks/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${HOOK_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ app: "live", key: saved.devKey, clientIp: "1.2.3.4", originId: "o1" }),
  });
  assert.equal(hook.status, 200, "the publish hook takes HOOK_TOKEN");
  assert.deepEqual(await hook.json(), { name: "dev", record: false });

  await using ff = publish(`rtmp://127.0.0.1:${node.rtmpPort}/live/${STATIC_KEY}`, {
    seconds: 30,
  });
  await waitFor("the PUBLISH_KEYS stream to play", async () => {
    if (ff.exited) throw new Error(`ffmpeg exited:\n${ff.output.slice(-2000)}`);
    const res = await fetch(`${node.url}/live/cam/index.m3u8`);
    return res.ok && (await res.text()).includes("#EXTINF");
  }, { timeoutMs: 20_000 });
});

Deno.test("deno task start with PLAYBACK_SIGNING_KEY refuses a playlist without a valid token", async () => {
  await using node = await startInProcess({
    PLAYBACK_SIGNING_KEY: SIGNING_KEY,
    PLAYBACK_API_TOKEN,
    PUBLISH_KEYS: `${STATIC_KEY}=cam`,
  });
  for (const query of ["", "?token=", "?token=1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]) {
    const res = await fetch(`${node.url}/live/dev/index.m3u8${query}`);
    assert.equal(res.status, 403, `playlist${query} is refused`);
    await res.body?.cancel();
  }

  const saved = JSON.parse(await Deno.readTextFile(join(node.dir, ".cascade", "secrets.json")));
  await using ff = publish(`rtmp://127.0.0.1:${node.rtmpPort}/live/${saved.devKey}`, {
    seconds: 30,
  });
  await using ffCam = publish(`rtmp://127.0.0.1:${node.rtmpPort}/live/${STATIC_KEY}`, {
    seconds: 30,
  });
  /** The HLS URL the API signs for `name`, once it is live. */
  const playbackUrl = (name: string, token: string, query = "") =>
    waitFor(`the API to hand out a playback URL of ${name}`, async () => {
      for (const p of [ff, ffCam]) {
        if (p.exited) throw new Error(`ffmpeg exited:\n${p.output.slice(-2000)}`);
      }
      const res = await fetch(`${node.url}/api/v1/streams/${name}/playback${query}`, {
        headers: { authorization: `Bearer ${token}` },
      });
      return res.ok ? await res.json() as { hls: string; expiresAt: string } : undefined;
    }, { timeoutMs: 20_000 });
  const askedAt = Date.now();
  const dev = await playbackUrl("dev", PLAYBACK_API_TOKEN, "?ttl=120");
  const hls = dev.hls;
  assert.match(hls, /\?token=/);
  const expiresAt = Date.parse(dev.expiresAt);
  assert.ok(
    expiresAt >= askedAt + 119_000 && expiresAt <= Date.now() + 120_000,
    `token of ?ttl=120 expires at ${dev.expiresAt}`,
  );
  await waitFor("the signed URL to play", async () => {
    const res = await fetch(hls);
    return res.ok && (await res.text()).includes("#EXTINF");
  }, { timeoutMs: 20_000 });

  // Nobody else is handed a token: the playback endpoint refuses, the directory lists no URL.
  const anonymous = await fetch(`${node.url}/api/v1/streams/dev/playback`);
  assert.equal(anonymous.status, 401);
  assert.match((await anonymous.json()).error.message, /^Playback signing is on: /);
  // Both publishers live (the second may still be starting on a loaded machine).
  const text = await waitFor("both streams in the directory", async () => {
    const listed = await fetch(`${node.url}/api/v1/live`);
    const body = await listed.text();
    assert.equal(listed.status, 200);
    return JSON.parse(body).streams.length === 2 ? body : undefined;
  }, { timeoutMs: 20_000 });
  assert.ok(!text.includes("token"), `anonymous /api/v1/live holds a token: ${text}`);
  assert.deepEqual(
    JSON.parse(text).streams.map((s: { name: string; hls: string | null }) => [s.name, s.hls]),
    [["cam", null], ["dev", null]],
  );
  const byAdmin = await playbackUrl("cam", saved.adminToken);
  assert.match(byAdmin.hls, /\/live\/cam\/index\.m3u8\?token=/, "the admin token signs too");

  // A token plays its own stream only, playlist and segments alike.
  const devToken = new URL(hls).searchParams.get("token")!;
  const camToken = new URL(byAdmin.hls).searchParams.get("token")!;
  const camPlaylist = await waitFor("cam to play with its own token", async () => {
    const res = await fetch(`${node.url}/live/cam/index.m3u8?token=${camToken}`);
    const body = await res.text();
    return res.ok && body.includes("#EXTINF") ? body : undefined;
  }, { timeoutMs: 20_000 });
  const camSegment = camPlaylist.split("\n").find((l) => /^\d+\.ts/.test(l))!.split("?")[0];
  for (
    const path of [
      `/live/cam/index.m3u8?token=${devToken}`,
      `/live/cam/${camSegment}?token=${devToken}`,
      `/live/dev/index.m3u8?token=${camToken}`,
    ]
  ) {
    const res = await fetch(`${node.url}${path}`);
    assert.equal(res.status, 403, `${path} is refused`);
    assert.equal((await res.json()).error.code, "token_invalid");
  }
  const own = await fetch(`${node.url}/live/cam/${camSegment}?token=${camToken}`);
  assert.equal(own.status, 200);
  await own.body?.cancel();
});

Deno.test("deno task start answers /healthz like every role", async () => {
  await using node = await startInProcess({ NODE_ID: "laptop" });
  const res = await fetch(`${node.url}/healthz`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual({ ...body, uptimeSeconds: 0 }, {
    status: "ok",
    role: "all-in-one",
    id: "laptop",
    uptimeSeconds: 0,
  });
  const metrics = await fetch(`${node.url}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(await metrics.text(), /^# TYPE cascade_publishers gauge$/m);
});
