/**
 * `deno task start` from a clean directory, as a newcomer runs it: the node prints an
 * ingest URL with a development key and a watch URL; ffmpeg publishes with the printed key;
 * the printed playlist plays through the node's edge; a restart reuses the key; SIGTERM
 * ends the playlist and exits within 5 s.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { freePort } from "./helpers/ports.ts";
import { publish } from "./helpers/media.ts";
import { runProcess, startProcess } from "./helpers/process.ts";
import { waitFor } from "./helpers/wait.ts";

const ENTRY = fromFileUrl(new URL("../node/all_in_one.ts", import.meta.url));
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
  const key = proc.output.match(/Stream Key (\S+)/)?.[1];
  const server = proc.output.match(/Server\s+(rtmp:\/\/\S+)/)?.[1];
  const playlist = proc.output.match(/Playlist:\s+(\S+)/)?.[1];
  const watch = proc.output.match(/Watch:\s+(\S+)/)?.[1];
  assert.ok(key && server && playlist && watch, `banner printed:\n${proc.output}`);
  return { proc, key, server, playlist, watch };
}

Deno.test("deno task start: publish with the printed key and play the printed URL", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-start-" });
  const port = freePort();
  const rtmpPort = freePort();
  try {
    const first = await startNode(dir, port, rtmpPort);
    assert.match(first.key, /^sk_[A-Za-z0-9_-]{43}$/);
    const secrets = JSON.parse(await Deno.readTextFile(join(dir, ".cascade", "secrets.json")));
    assert.equal((await Deno.stat(join(dir, ".cascade", "secrets.json"))).mode! & 0o077, 0);
    assert.equal(secrets.devKey, first.key);
    // The key is printed once for the person, and appears in no log line.
    const logLines = first.proc.output.split("\n").filter((l) => /\b(INFO|WARN|ERROR)\b/.test(l));
    assert.ok(logLines.every((l) => !l.includes(first.key)), "no log line carries the key");

    // Restarting reuses the same key.
    const status = await first.proc.stop("SIGTERM");
    assert.equal(status.code, 0);
    const node = await startNode(dir, port, rtmpPort);
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

    const stoppedAt = Date.now();
    const exit = await node.proc.stop("SIGTERM", 10_000);
    assert.equal(exit.code, 0, "clean exit");
    assert.ok(Date.now() - stoppedAt < 5000, "exits within 5 s");
    const text = await Deno.readTextFile(join(dir, "media", "dev", "index.m3u8"));
    assert.match(text, /#EXT-X-ENDLIST\s*$/, "the playlist is ended");
    await ff.status;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
