/**
 * `deno task cluster`: Cascade's multi-process topology on loopback, for trying failover,
 * cache affinity and the API the way they behave in production. It starts redis-server
 * (unless `REDIS_URL` or `REDIS_SENTINELS` is set), the API, two origins and two edges,
 * each as a `deno run` of its own `main.ts`; with `--nginx` also an nginx-rtmp origin with
 * its discovery process and the nginx load balancer in front of the edges; with
 * `--transcode 480p,240p` also the transcoder role, the origins leaving renditions to it. It generates the
 * admin and hook tokens (unless `API_ADMIN_TOKEN` / `HOOK_TOKEN` are set), prints a table of
 * endpoints, and writes the same as JSON to `{dir}/cluster.json` for scripts.
 *
 * Every other variable of the environment reaches the roles as is (`LOG_LEVEL`,
 * `STREAM_TTL_SECONDS`, …). A role that dies after start is reported and not restarted, so
 * failover can be watched. SIGINT/SIGTERM stops what this program started, load balancer
 * and edges first and Redis last, and exits 0; a second signal kills at once.
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { edgeServers, prepareNginx, RTMP_MODULE, TEMPLATES } from "../nginx/render.ts";
import { type Child, describeStatus, Supervisor } from "./supervisor.ts";
import { onPath, redisAnswersPing } from "./sys.ts";
import { type RoleTask, taskArgs } from "./tasks.ts";
import { PROFILE_RE } from "../lib/common/renditions.ts";

const USAGE = `Usage: deno task cluster [--dir DIR] [--random-ports] [--nginx] [--transcode RUNGS]

  --dir DIR        state directory: media, configs, cluster.json (default .cascade/cluster)
  --random-ports   use free random ports instead of the usual ones
  --nginx          also run an nginx-rtmp origin with its discovery, and the nginx load
                   balancer in front of the edges (needs nginx and libnginx-mod-rtmp)
  --transcode RUNGS  also run the transcoder role (deno task transcoder) with
                   TRANSCODE_PROFILE=RUNGS, e.g. 480p,240p; the origins run with
                   TRANSCODE_LOCAL=false

Environment: REDIS_URL or REDIS_SENTINELS (else redis-server is started), API_ADMIN_TOKEN,
HOOK_TOKEN (else generated); everything else is passed on to the roles (LOG_LEVEL,
STREAM_TTL_SECONDS, …).`;

/** How long startup may take: the first run also downloads the npm packages. */
const START_TIMEOUT_MS = 120_000;
/** Time each role gets after SIGTERM: edges drain for up to 10 s. */
const STOP_GRACE_MS = 15_000;

export interface ClusterOrigin {
  id: string;
  /** Ingest base; publish to `{rtmp}/{streamKey}`. */
  rtmp: string;
  http: string;
  pid: number;
}

export interface ClusterEdge {
  id: string;
  http: string;
  pid: number;
}

/** The transcoder role of `--transcode`; `http` serves its `/healthz` and `/metrics`. */
export interface ClusterTranscoder {
  id: string;
  http: string;
  profile: string;
  pid: number;
}

/** What `{dir}/cluster.json` holds once every role answers. */
export interface ClusterInfo {
  dir: string;
  /** The registry's URL; unset when the roles use `REDIS_SENTINELS` (which they inherit). */
  redisUrl?: string;
  redisSentinels?: string;
  /** Set when this program started redis-server. */
  redisPid: number | null;
  adminToken: string;
  hookToken: string;
  api: { http: string; docs: string; pid: number };
  origins: ClusterOrigin[];
  edges: ClusterEdge[];
  transcoder: ClusterTranscoder | null;
  nginx: {
    origin: ClusterOrigin;
    discoveryPid: number;
    loadBalancer: { http: string; pid: number };
  } | null;
}

/** Hands out loopback ports: the usual one when free, else any free one; never one twice. */
class Ports {
  readonly #taken = new Set<number>();
  constructor(readonly random: boolean) {}

  pick(usual: number): number {
    if (!this.random && !this.#taken.has(usual) && isFree(usual)) {
      this.#taken.add(usual);
      return usual;
    }
    return this.any();
  }

  any(): number {
    while (true) {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (listener.addr as Deno.NetAddr).port;
      listener.close();
      if (!this.#taken.has(port)) {
        this.#taken.add(port);
        return port;
      }
    }
  }
}

function isFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** 24 random bytes in base64url: 32 characters, above the API's 16-character minimum. */
function generateToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

async function httpAnswersOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

/** Polls `check` until it holds; fails when `child` exits first or the deadline passes. */
async function waitReady(child: Child, what: string, check: () => Promise<boolean>) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await check())) {
    if (child.exited) {
      throw new Error(
        `${child.name} exited (${describeStatus(await child.status)}) while starting`,
      );
    }
    if (Date.now() > deadline) throw new Error(`${child.name} did not ${what} in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Options {
  dir: string;
  randomPorts: boolean;
  nginx: boolean;
  /** `--transcode`: the transcoder role's profile. */
  transcode: string | undefined;
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      dir: { type: "string", default: ".cascade/cluster" },
      "random-ports": { type: "boolean", default: false },
      nginx: { type: "boolean", default: false },
      transcode: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const transcode = values.transcode?.trim().toLowerCase();
  if (transcode !== undefined && (!PROFILE_RE.test(transcode) || transcode === "none")) {
    throw new TypeError(
      `Invalid --transcode: ${JSON.stringify(values.transcode)} (e.g. 480p,240p)`,
    );
  }
  return {
    dir: resolve(values.dir),
    randomPorts: values["random-ports"],
    nginx: values.nginx,
    transcode,
  };
}

/** Starts every role and resolves once all answer; throws on the first that fails. */
async function startCluster(sup: Supervisor, opts: Options): Promise<ClusterInfo> {
  const { dir } = opts;
  // Only what this program itself creates is cleared: the directory may hold other files.
  for (const sub of ["media", "redis", "nginx-rtmp", "nginx-lb", "cluster.json"]) {
    await Deno.remove(`${dir}/${sub}`, { recursive: true }).catch(() => {});
  }
  await Deno.mkdir(`${dir}/media`, { recursive: true });
  if (opts.nginx && !(await onPath("nginx"))) {
    throw new Error("--nginx needs nginx: apt-get install nginx libnginx-mod-rtmp");
  }

  const ports = new Ports(opts.randomPorts);
  const env = Deno.env.toObject();
  const adminToken = env.API_ADMIN_TOKEN || generateToken();
  const hookToken = env.HOOK_TOKEN || generateToken();
  const deno = (name: string, task: RoleTask, wave: number, roleEnv: Record<string, string>) =>
    sup.start({ name, cmd: Deno.execPath(), args: taskArgs(task), wave, env: roleEnv });

  // REDIS_SENTINELS reaches the roles with the rest of the environment and wins over REDIS_URL.
  const redisSentinels = env.REDIS_SENTINELS || undefined;
  let redisUrl = redisSentinels === undefined ? env.REDIS_URL || undefined : undefined;
  let redisPid: number | null = null;
  if (redisUrl === undefined && redisSentinels === undefined) {
    // Never 6379: a Redis of the machine's own may be expected there later.
    const port = ports.any();
    await Deno.mkdir(`${dir}/redis`, { recursive: true });
    const redis = sup.start({
      name: "redis",
      cmd: "redis-server",
      // Throwaway state; expirations are published so edges hear of dead streams at once.
      args: [
        ...["--port", String(port), "--bind", "127.0.0.1", "--dir", `${dir}/redis`],
        ...["--save", "", "--appendonly", "no", "--notify-keyspace-events", "Ex"],
      ],
      wave: 0,
    });
    redisPid = redis.pid;
    redisUrl = `redis://127.0.0.1:${port}`;
    await waitReady(redis, "answer PING", () => redisAnswersPing(port));
  }
  const redisEnv: Record<string, string> = redisUrl === undefined ? {} : { REDIS_URL: redisUrl };

  const apiPort = ports.pick(8080);
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const api = deno("api", "api", 1, {
    ...redisEnv,
    API_HOST: "127.0.0.1",
    API_PORT: String(apiPort),
    API_ADMIN_TOKEN: adminToken,
    HOOK_TOKEN: hookToken,
  });

  const origins = [1, 2].map((n) => {
    const rtmpPort = ports.pick(1934 + n);
    const httpPort = ports.pick(8080 + n);
    const id = `origin-${n}`;
    const http = `http://127.0.0.1:${httpPort}`;
    const rtmp = `rtmp://127.0.0.1:${rtmpPort}/live`;
    const child = deno(id, "origin", 1, {
      ...redisEnv,
      NODE_ID: id,
      RTMP_HOST: "127.0.0.1",
      RTMP_PORT: String(rtmpPort),
      RTMP_APP: "live",
      RTMP_PUBLIC_URL: rtmp,
      ORIGIN_HTTP_HOST: "127.0.0.1",
      ORIGIN_HTTP_PORT: String(httpPort),
      ORIGIN_PUBLIC_URL: http,
      MEDIA_ROOT: `${dir}/media/${id}`,
      PUBLISH_AUTH: "api",
      API_URL: apiUrl,
      HOOK_TOKEN: hookToken,
      ...(opts.transcode === undefined ? {} : { TRANSCODE_LOCAL: "false" }),
    });
    return { child, info: { id, rtmp, http, pid: child.pid } };
  });

  const edges = [1, 2].map((n) => {
    const port = ports.pick(7999 + n);
    const id = `edge-${n}`;
    const http = `http://127.0.0.1:${port}`;
    const child = deno(id, "edge", 2, {
      ...redisEnv,
      NODE_ID: id,
      EDGE_HOST: "127.0.0.1",
      EDGE_PORT: String(port),
      EDGE_PUBLIC_URL: http,
    });
    return { child, info: { id, http, pid: child.pid } };
  });

  const transcoder = opts.transcode === undefined ? undefined : (() => {
    const port = ports.pick(8085);
    const id = "transcoder-1";
    const http = `http://127.0.0.1:${port}`;
    const child = deno(id, "transcoder", 2, {
      ...redisEnv,
      NODE_ID: id,
      HOOK_TOKEN: hookToken,
      TRANSCODE_PROFILE: opts.transcode,
      TRANSCODER_HOST: "127.0.0.1",
      TRANSCODER_PORT: String(port),
      TRANSCODER_PUBLIC_URL: http,
    });
    return { child, info: { id, http, profile: opts.transcode, pid: child.pid } };
  })();

  await Promise.all([
    waitReady(api, "answer /healthz", () => httpAnswersOk(`${apiUrl}/healthz`)),
    ...[...origins, ...edges, ...(transcoder ? [transcoder] : [])].map(({ child, info }) =>
      waitReady(child, "answer /healthz", () => httpAnswersOk(`${info.http}/healthz`))
    ),
  ]);

  const info: ClusterInfo = {
    dir,
    redisUrl,
    redisSentinels,
    redisPid,
    adminToken,
    hookToken,
    api: { http: apiUrl, docs: `${apiUrl}/api/v1/docs`, pid: api.pid },
    origins: origins.map((o) => o.info),
    edges: edges.map((e) => e.info),
    transcoder: transcoder?.info ?? null,
    nginx: opts.nginx
      ? await startNginx(sup, ports, dir, { redisEnv, apiUrl, hookToken }, edges)
      : null,
  };
  return info;
}

async function startNginx(
  sup: Supervisor,
  ports: Ports,
  dir: string,
  ctx: { redisEnv: Record<string, string>; apiUrl: string; hookToken: string },
  edges: { info: ClusterEdge }[],
): Promise<NonNullable<ClusterInfo["nginx"]>> {
  const rtmpPort = ports.pick(1937);
  const httpPort = ports.pick(8083);
  const hlsPath = `${dir}/media/nginx-rtmp`;
  await Deno.mkdir(hlsPath, { recursive: true });
  const origin = await prepareNginx(TEMPLATES.rtmpOrigin, `${dir}/nginx-rtmp`, {
    RTMP_MODULE,
    BIND: "127.0.0.1",
    RTMP_PORT: String(rtmpPort),
    HTTP_PORT: String(httpPort),
    API_URL: ctx.apiUrl,
    HOOK_TOKEN: ctx.hookToken,
    HLS_PATH: hlsPath,
  });
  const http = `http://127.0.0.1:${httpPort}`;
  const rtmp = sup.start({ name: "nginx-rtmp", cmd: "nginx", args: origin.args, wave: 2 });
  const discovery = sup.start({
    name: "discovery",
    cmd: Deno.execPath(),
    args: taskArgs("discovery"),
    wave: 2,
    env: {
      ...ctx.redisEnv,
      NODE_ID: "nginx-rtmp",
      MEDIA_ROOT: hlsPath,
      ORIGIN_HTTP_PORT: String(httpPort),
      ORIGIN_PUBLIC_URL: http,
    },
  });

  const lbPort = ports.pick(8088);
  const lbHttp = `http://127.0.0.1:${lbPort}`;
  const balancer = await prepareNginx(TEMPLATES.edgeLb, `${dir}/nginx-lb`, {
    BIND: "127.0.0.1",
    HTTP_PORT: String(lbPort),
    EDGE_SERVERS: edgeServers(edges.map((e) => new URL(e.info.http).host)),
  });
  const lb = sup.start({ name: "nginx-lb", cmd: "nginx", args: balancer.args, wave: 3 });

  await Promise.all([
    waitReady(rtmp, "answer /healthz", () => httpAnswersOk(`${http}/healthz`)),
    discovery.waitForLine(/discovery\.started/),
    waitReady(lb, "answer /healthz", () => httpAnswersOk(`${lbHttp}/healthz`)),
  ]);
  return {
    origin: { id: "nginx-rtmp", rtmp: `rtmp://127.0.0.1:${rtmpPort}/live`, http, pid: rtmp.pid },
    discoveryPid: discovery.pid,
    loadBalancer: { http: lbHttp, pid: lb.pid },
  };
}

/** The endpoint table and a first-steps example, as printed on start. */
function describeCluster(info: ClusterInfo): string {
  const rows: [string, string, string][] = [];
  rows.push([
    "redis",
    info.redisUrl ?? `sentinels ${info.redisSentinels}`,
    info.redisPid === null ? "(environment)" : String(info.redisPid),
  ]);
  rows.push(["api", `${info.api.http}/api/v1  docs ${info.api.docs}`, String(info.api.pid)]);
  for (const o of info.origins) {
    rows.push([o.id, `${o.rtmp}/{streamKey}  HLS ${o.http}/live/{name}/index.m3u8`, String(o.pid)]);
  }
  for (const e of info.edges) {
    rows.push([e.id, `${e.http}/live/{name}/index.m3u8`, String(e.pid)]);
  }
  if (info.transcoder) {
    const t = info.transcoder;
    rows.push([t.id, `renditions ${t.profile}  health ${t.http}/healthz`, String(t.pid)]);
  }
  if (info.nginx) {
    const o = info.nginx.origin;
    rows.push([o.id, `${o.rtmp}/{streamKey}  HLS ${o.http}/live/{name}/index.m3u8`, String(o.pid)]);
    rows.push([
      "discovery",
      `watches ${info.dir}/media/nginx-rtmp`,
      String(info.nginx.discoveryPid),
    ]);
    const lb = info.nginx.loadBalancer;
    rows.push(["nginx-lb", `${lb.http}/live/{name}/index.m3u8`, String(lb.pid)]);
  }
  const width = Math.max(...rows.map((r) => r[0].length)) + 2;
  const table = rows.map(([name, url, pid]) => `  ${name.padEnd(width)}${url}  [pid ${pid}]`);
  const ingest = info.origins[0]!.rtmp;
  const edge = info.edges[0]!.http;
  return [
    "",
    `Cascade cluster is up (state in ${info.dir}; Ctrl-C stops it)`,
    "",
    ...table,
    "",
    `  API_ADMIN_TOKEN=${info.adminToken}`,
    `  HOOK_TOKEN=${info.hookToken}`,
    "",
    "Try it:",
    `  curl -s ${info.api.http}/api/v1/streams -H 'authorization: Bearer ${info.adminToken}' \\`,
    `    -H 'content-type: application/json' -d '{"name":"demo"}'`,
    "  ffmpeg -re -f lavfi -i testsrc2=size=1280x720:rate=30 -f lavfi -i sine -c:v libx264 \\",
    `    -preset veryfast -g 60 -c:a aac -f flv ${ingest}/STREAM_KEY_FROM_ABOVE`,
    `  ffplay ${edge}/live/demo/index.m3u8    # or: curl ${info.api.http}/api/v1/streams/demo/playback`,
    ...(info.transcoder
      ? [`  ffplay ${edge}/live/demo/master.m3u8   # renditions by ${info.transcoder.id}`]
      : []),
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseOptions(Deno.args);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    Deno.exit(2);
  }
  let up = false;
  const sup = new Supervisor({
    nameWidth: "nginx-rtmp".length,
    onExit: (child, status) => {
      // While starting, the failed readiness check reports it and everything stops.
      if (!up) return;
      sup.log(
        "cluster",
        `${child.name} exited (${describeStatus(status)}); not restarted, the rest keep running`,
      );
    },
  });

  let stopping: Promise<void> | undefined;
  let firstSignalAt = 0;
  const stop = (signal: Deno.Signal) => {
    if (stopping) {
      // `deno task` forwards the terminal's SIGINT, which this process also got itself: only
      // a signal that comes later is a second Ctrl-C.
      if (performance.now() - firstSignalAt < 1000) return;
      sup.log("cluster", `${signal} again: killing everything now`);
      void sup.stopAll(0, true).then(() => Deno.exit(130));
      return;
    }
    firstSignalAt = performance.now();
    sup.log("cluster", `${signal}: stopping`);
    stopping = sup.stopAll(STOP_GRACE_MS).then(() => {
      sup.log("cluster", "stopped");
      Deno.exit(0);
    });
  };
  Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));

  let info: ClusterInfo;
  try {
    info = await startCluster(sup, opts);
  } catch (err) {
    if (stopping) return;
    sup.log("cluster", `Cannot start the cluster: ${(err as Error).message}`);
    await sup.stopAll(STOP_GRACE_MS);
    Deno.exit(1);
  }
  if (stopping) return;
  up = true;
  await Deno.writeTextFile(`${opts.dir}/cluster.json`, JSON.stringify(info, null, 2) + "\n", {
    mode: 0o600,
  });
  console.log(describeCluster(info));
}

if (import.meta.main) await main();
