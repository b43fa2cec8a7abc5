/**
 * The nginx peers of the benchmark, each one process (`master_process off`, which does the
 * work of one worker) in a temporary prefix directory: nginx-rtmp packaging HLS
 * (`nginx_rtmp.conf`) and nginx `proxy_cache` with `proxy_cache_lock` (`nginx_proxy_cache.conf`).
 * The templates are filled in with `prepareNginx` from `nginx/render.ts`.
 */
import { prepareNginx, RTMP_MODULE } from "../nginx/render.ts";
import { startProcess, type TestProcess } from "../tests/helpers/process.ts";
import { freePort } from "../tests/helpers/ports.ts";

export interface NginxPeer extends AsyncDisposable {
  readonly proc: TestProcess;
  readonly pid: number;
  readonly port: number;
}

async function start(
  template: URL,
  vars: Record<string, string>,
  port: number,
): Promise<NginxPeer> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-bench-nginx-" });
  const setup = await prepareNginx(template, dir, vars);
  let proc: TestProcess;
  try {
    proc = await startProcess("nginx", { args: setup.args, readyPort: port });
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  return {
    proc,
    pid: proc.child.pid,
    port,
    async [Symbol.asyncDispose]() {
      await proc.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

/** nginx-rtmp writing `hlsPath/{name}/index.m3u8`; publish to `rtmp://127.0.0.1:{port}/live/{name}`. */
export function startNginxRtmp(hlsPath: string): Promise<NginxPeer> {
  const port = freePort();
  return start(new URL("./nginx_rtmp.conf", import.meta.url), {
    RTMP_MODULE,
    RTMP_PORT: String(port),
    HLS_PATH: hlsPath,
  }, port);
}

/** nginx `proxy_cache` in front of the HTTP origin on `originPort`. */
export function startNginxProxyCache(originPort: number): Promise<NginxPeer> {
  const port = freePort();
  return start(new URL("./nginx_proxy_cache.conf", import.meta.url), {
    ORIGIN_PORT: String(originPort),
    PORT: String(port),
  }, port);
}
