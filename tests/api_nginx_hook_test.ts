/**
 * The nginx-rtmp publish hooks over real HTTP: first with the exact form bodies nginx-rtmp
 * 1.2 sends (`application/x-www-form-urlencoded`, `name` = the key), then with a real
 * nginx-rtmp (Debian's libnginx-mod-rtmp) running the shipped `nginx/rtmp-origin.conf`. The ingest
 * application has no HLS and relays allowed streams, under their public name, to a
 * loopback-only HLS application: the HLS directory must be named after the stream name and
 * never after the key, and a wrong key must be refused with nothing written.
 */
import assert from "node:assert/strict";
import { loadConfig } from "@cascade/common/config";
import { MetricsRegistry } from "@cascade/common/metrics";
import { quietLog } from "../lib/common/testing/log.ts";
import { MemoryRegistry } from "@cascade/registry/memory";
import { createApiApp } from "../api/src/app.ts";
import { logText } from "../api/testing/log_text.ts";
import { apiConfigSchema } from "../api/src/config.ts";
import { listDir } from "./helpers/files.ts";
import { type CapturedLog, captureLog } from "./helpers/log.ts";
import { publish } from "./helpers/media.ts";
import { freePort } from "./helpers/ports.ts";
import { startProcess } from "./helpers/process.ts";
import { waitFor } from "./helpers/wait.ts";
import { prepareNginx, RTMP_MODULE, TEMPLATES } from "../nginx/render.ts";

const ADMIN_TOKEN = "nginx-admin-token-0123456789";
const HOOK_TOKEN = "nginx-hook-token-0123456789";

function startApi(log: CapturedLog = captureLog()) {
  const registry = new MemoryRegistry({ log: quietLog });
  const app = createApiApp({
    registry,
    config: loadConfig(apiConfigSchema, { API_ADMIN_TOKEN: ADMIN_TOKEN, HOOK_TOKEN }),
    log,
    metrics: new MetricsRegistry(),
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  const url = `http://127.0.0.1:${server.addr.port}`;
  const create = async (name: string): Promise<string> => {
    const res = await fetch(`${url}/api/v1/streams`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    assert.equal(res.status, 201);
    return (await res.json()).streamKey;
  };
  return {
    url,
    registry,
    create,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await registry.close();
    },
  };
}

/** The form nginx-rtmp 1.2.2 posts for `on_publish` (see ngx_rtmp_notify_module.c). */
function nginxPublishForm(key: string, call = "publish"): string {
  return new URLSearchParams({
    app: "live",
    flashver: "FMLE/3.0 (compatible; Lavf61.7.100)",
    swfurl: "",
    tcurl: "rtmp://127.0.0.1:1935/live",
    pageurl: "",
    addr: "127.0.0.1",
    clientid: "3",
    call,
    name: key,
    type: "live",
  }).toString();
}

async function postForm(url: string, body: string): Promise<Response> {
  return await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body,
    redirect: "manual",
  });
}

Deno.test("nginx on_publish hook answers nginx-rtmp's form bodies over HTTP", async () => {
  await using api = startApi();
  const key = await api.create("cam1");
  const hook = `${api.url}/api/v1/hooks/nginx/on_publish?token=${HOOK_TOKEN}`;
  const relay = "rtmp://127.0.0.1:1935/hls";

  const plain = await postForm(hook, nginxPublishForm(key));
  assert.equal(plain.status, 302);
  assert.equal(plain.headers.get("location"), "cam1");
  await plain.body?.cancel();

  const relayed = await postForm(`${hook}&relay=${relay}`, nginxPublishForm(key));
  assert.equal(relayed.status, 302);
  assert.equal(relayed.headers.get("location"), `${relay}/cam1`);
  await relayed.body?.cancel();

  const wrong = await postForm(`${hook}&relay=${relay}`, nginxPublishForm(`${key}x`));
  assert.equal(wrong.status, 403);
  assert.equal((await wrong.json()).error.code, "unknown_key");

  const noToken = await postForm(`${api.url}/api/v1/hooks/nginx/on_publish`, nginxPublishForm(key));
  assert.equal(noToken.status, 401);
  await noToken.body?.cancel();

  const done = await postForm(
    `${api.url}/api/v1/hooks/nginx/on_publish_done?token=${HOOK_TOKEN}`,
    nginxPublishForm(key, "publish_done"),
  );
  assert.equal(done.status, 200);
  await done.body?.cancel();
});

Deno.test("a real nginx-rtmp publishes under the public name via on_publish and refuses wrong keys", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-nginx-api-" });
  const log = captureLog();
  try {
    await using api = startApi(log);
    const key = await api.create("cam1");
    const rtmpPort = freePort();
    // The configuration operators run: nginx/rtmp-origin.conf.
    await Deno.mkdir(`${dir}/hls`);
    const nginx = await prepareNginx(TEMPLATES.rtmpOrigin, `${dir}/nginx`, {
      RTMP_MODULE,
      BIND: "127.0.0.1",
      RTMP_PORT: String(rtmpPort),
      HTTP_PORT: String(freePort()),
      API_URL: api.url,
      HOOK_TOKEN,
      HLS_PATH: `${dir}/hls`,
    });
    await using nginxProc = await startProcess("nginx", { args: nginx.args, readyPort: rtmpPort });

    await using wrong = publish(`rtmp://127.0.0.1:${rtmpPort}/live/sk_${"B".repeat(43)}`, {
      seconds: 30,
    });
    const wrongExit = await waitFor(
      "nginx-rtmp to refuse a wrong key",
      () => wrong.exited && wrong.status,
      { timeoutMs: 30_000 },
    );
    assert.notEqual(wrongExit.code, 0, "nginx-rtmp must refuse a wrong key");
    assert.ok(log.events("publish.refused").some((l) => l.fields.via === "nginx"));
    assert.deepEqual(await listDir(`${dir}/hls`), []);

    await using ff = publish(`rtmp://127.0.0.1:${rtmpPort}/live/${key}`, { seconds: 30 });
    const playlist = `${dir}/hls/cam1/index.m3u8`;
    await waitFor("nginx-rtmp's HLS playlist under the public name", async () => {
      ff.giveUpIfExited();
      const text = await Deno.readTextFile(playlist).catch(() => "");
      return text.includes("#EXTINF");
    }, { timeoutMs: 20_000 });
    assert.deepEqual(await listDir(`${dir}/hls`), ["cam1"]);
    for (const name of await listDir(`${dir}/hls/cam1`)) {
      assert.ok(!name.includes(key), "the key must not appear in any HLS file name");
    }
    assert.ok(
      log.events("publish.allowed").some((l) =>
        l.fields.stream === "cam1" && l.fields.via === "nginx"
      ),
    );
    assert.ok(!logText(log).includes(key), "the key must not reach the API's log");
    assert.ok(!nginxProc.output.includes(key), "the key must not reach nginx-rtmp's log");
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
