/**
 * Discovery beside a real nginx-rtmp origin: Debian's nginx with libnginx-mod-rtmp, started
 * with a generated config that writes HLS with `hls_nested on`, fed by ffmpeg. The discovery
 * process must announce the stream the same way it does for Cascade's own origin, and let
 * it go once the publisher stops.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { quietLog } from "../lib/common/testing/log.ts";
import { RedisRegistry } from "@cascade/registry/redis";
import { publish } from "./helpers/media.ts";
import { freePort } from "./helpers/ports.ts";
import { startProcess } from "./helpers/process.ts";
import { startRedis } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

const MAIN = fileURLToPath(new URL("../discovery/main.ts", import.meta.url));
const RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

function nginxConfig(dir: string, port: number): string {
  return `
load_module ${RTMP_MODULE};
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log stderr info;
events { worker_connections 64; }
rtmp {
  server {
    listen 127.0.0.1:${port};
    application live {
      live on;
      hls on;
      hls_path ${dir}/hls;
      hls_nested on;
      hls_fragment 1s;
      hls_playlist_length 6s;
    }
  }
}
`;
}

Deno.test("discovery announces an nginx-rtmp stream (hls_nested on) and releases it after the publisher stops", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-nginx-" });
  const hls = `${dir}/hls`;
  await Deno.mkdir(hls);
  try {
    await runAgainstNginx(dir, hls);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

async function runAgainstNginx(dir: string, hls: string): Promise<void> {
  const rtmpPort = freePort();
  await Deno.writeTextFile(`${dir}/nginx.conf`, nginxConfig(dir, rtmpPort));
  await using redis = await startRedis();
  const registry = new RedisRegistry({ url: redis.url, log: quietLog });
  await using nginx = await startProcess("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`],
    readyPort: rtmpPort,
  });
  await using discovery = await startProcess(Deno.execPath(), {
    args: ["run", "-A", MAIN],
    env: {
      REDIS_URL: redis.url,
      MEDIA_ROOT: hls,
      ORIGIN_PUBLIC_URL: "http://127.0.0.1:18082",
      NODE_ID: "nginx-origin",
      STREAM_TTL_SECONDS: "4",
      LOG_FORMAT: "json",
    },
    readyLine: /"event":"discovery\.started"/,
    timeoutMs: 60_000,
  });
  await using ffmpeg = publish(`rtmp://127.0.0.1:${rtmpPort}/live/cam1`, { seconds: 30 });
  try {
    const record = await waitFor(
      "nginx-rtmp's stream in the registry",
      async () => (await registry.getStream("cam1")) ?? undefined,
      { timeoutMs: 20_000 },
    );
    assert.equal(record.originId, "nginx-origin");
    assert.equal(record.manifest, "http://127.0.0.1:18082/live/cam1/index.m3u8");
    assert.ok(record.targetDuration >= 1);
    await Deno.stat(`${hls}/cam1/index.m3u8`);

    await ffmpeg.stop("SIGINT");
    // nginx-rtmp may not write ENDLIST; then the playlist goes stale after 3 target durations.
    await waitFor(
      "the stream to be released",
      async () => (await registry.getStream("cam1")) === null,
      { timeoutMs: 3 * record.targetDuration * 1000 + 30_000 },
    );
    assert.match(discovery.output, /"event":"discovery\.released"/);
    assert.equal(nginx.exited, false);
  } catch (err) {
    console.error(nginx.output.slice(-3000), discovery.output.slice(-3000), ffmpeg.output);
    throw err;
  } finally {
    await registry.close();
  }
}
