/**
 * Cached edge throughput beside nginx `proxy_cache` + `proxy_cache_lock` (ISSUE 6's
 * benchmark). One origin (`Deno.serve`, in this process) serves an 800 KB segment and a
 * 6-segment live playlist; nginx (1 worker, proxy_cache on disk, Cache-Control ignored as
 * bench/README.md explains), the edge on `node:http` and the edge on `Deno.serve` each run
 * in their own process in front of it. After a warm-up request, `wrk -t1 -c100` measures
 * each path on each server, the servers taking turns so that background load hits all alike.
 *
 *   deno run -A edge/bench/edge_bench.ts          # BENCH_SECONDS=10 ROUNDS=1 by default
 *
 * Needs `wrk` and `nginx` on PATH. Prints one line per run and the edge/nginx ratios.
 */
import { fileURLToPath } from "node:url";

const SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 10);
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 1);
const SEGMENT_BYTES = 800 * 1024;
const EDGE_SERVER = fileURLToPath(new URL("./edge_server.ts", import.meta.url));

function segment(): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(Math.floor(SEGMENT_BYTES / 188) * 188);
  for (let at = 0; at < out.length; at += 188) {
    out[at] = 0x47; // sync_byte
    out.fill(at & 0xff, at + 1, at + 188);
  }
  return out;
}

function playlist(): string {
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:3",
    "#EXT-X-TARGETDURATION:3",
    "#EXT-X-MEDIA-SEQUENCE:17638000000",
    "#EXT-X-DISCONTINUITY-SEQUENCE:0",
    "#EXT-X-INDEPENDENT-SEGMENTS",
  ];
  for (let i = 0; i < 6; i++) {
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:2026-11-21T20:00:${String(i * 2).padStart(2, "0")}.000Z`);
    lines.push("#EXTINF:2.000,", `${17638000000 + i}.ts`);
  }
  return lines.join("\n") + "\n";
}

function startOrigin(): Deno.HttpServer<Deno.NetAddr> {
  const seg = segment();
  const list = new TextEncoder().encode(playlist());
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/live/bench/index.m3u8") {
      return new Response(list, {
        headers: { "Content-Type": "application/vnd.apple.mpegurl", "Cache-Control": "max-age=1" },
      });
    }
    if (path === "/live/bench/1.ts") {
      return new Response(seg, {
        headers: { "Content-Type": "video/mp2t", "Cache-Control": "max-age=31536000" },
      });
    }
    return new Response("not found", { status: 404 });
  });
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

interface Server {
  name: string;
  url: string;
  stop(): Promise<void>;
}

async function startNginx(originPort: number): Promise<Server> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-bench-nginx-" });
  // Started as root, nginx's workers run as an unprivileged user that must write the cache.
  await Deno.chmod(dir, 0o777);
  const port = freePort();
  const conf = `
worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=edge:10m max_size=1g inactive=10m use_temp_path=off;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location /live/ {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache edge;
      proxy_cache_lock on;
      proxy_ignore_headers Cache-Control Expires Set-Cookie;
      proxy_cache_valid 200 1m;
      add_header X-Cache $upstream_cache_status;
      # Playlists stay fresh for 1 s; the other proxy settings are inherited from /live/.
      location ~ \\.m3u8$ {
        proxy_pass http://origin;
        proxy_cache_valid 200 1s;
      }
    }
  }
}
`;
  await Deno.writeTextFile(`${dir}/nginx.conf`, conf);
  const child = new Deno.Command("nginx", {
    args: ["-p", dir, "-c", `${dir}/nginx.conf`],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  await waitListening(port, () => `nginx did not start`);
  return {
    name: "nginx proxy_cache",
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await child.stderr.cancel();
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function startEdge(originUrl: string, kind: "node" | "deno" | "bare"): Promise<Server> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", EDGE_SERVER, originUrl, kind],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/listening \d+/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Edge (${kind}) exited: ${out}`);
    out += value;
  }
  const port = Number(/listening (\d+)/.exec(out)![1]);
  return {
    name: kind === "bare"
      ? "bare node:http"
      : `edge ${kind === "node" ? "node:http" : "Deno.serve"}`,
    url: `http://127.0.0.1:${port}`,
    async stop() {
      child.kill("SIGTERM");
      await reader.cancel().catch(() => {});
      await child.status;
    },
  };
}

async function waitListening(port: number, why: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(why());
}

interface Run {
  requestsPerSecond: number;
  bytesPerSecond: number;
}

const UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

async function wrk(url: string): Promise<Run> {
  const out = await new Deno.Command("wrk", {
    args: ["-t1", "-c100", `-d${SECONDS}s`, url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const transfer = /Transfer\/sec:\s+([\d.]+)([KMG]?B)/.exec(text);
  if (!out.success || rps === null || transfer === null) throw new Error(`wrk failed: ${text}`);
  if (/Non-2xx/.test(text)) throw new Error(`wrk saw errors against ${url}: ${text}`);
  return {
    requestsPerSecond: Number(rps[1]),
    bytesPerSecond: Number(transfer[1]) * UNITS[transfer[2]!]!,
  };
}

async function warm(url: string): Promise<void> {
  for (let i = 0; i < 3; i++) await (await fetch(url)).arrayBuffer();
}

const origin = startOrigin();
const originUrl = `http://127.0.0.1:${origin.addr.port}`;
const servers = [
  await startNginx(origin.addr.port),
  await startEdge(originUrl, "node"),
  await startEdge(originUrl, "deno"),
  await startEdge(originUrl, "bare"),
];
const results = new Map<string, { segment: Run[]; playlist: Run[] }>();
try {
  for (const s of servers) {
    await warm(`${s.url}/live/bench/1.ts`);
    await warm(`${s.url}/live/bench/index.m3u8`);
    results.set(s.name, { segment: [], playlist: [] });
  }
  for (let round = 1; round <= ROUNDS; round++) {
    for (const path of ["segment", "playlist"] as const) {
      for (const s of servers) {
        const file = path === "segment" ? "1.ts" : "index.m3u8";
        const run = await wrk(`${s.url}/live/bench/${file}`);
        results.get(s.name)![path].push(run);
        console.log(
          `round ${round} ${path.padEnd(8)} ${s.name.padEnd(18)} ` +
            `${Math.round(run.requestsPerSecond).toString().padStart(7)} req/s  ` +
            `${(run.bytesPerSecond / 1e9).toFixed(2)} GB/s`,
        );
      }
    }
  }
} finally {
  for (const s of servers) await s.stop();
  await origin.shutdown();
}

const mean = (runs: Run[], f: (r: Run) => number) =>
  runs.reduce((a, r) => a + f(r), 0) / runs.length;
const nginx = results.get(servers[0]!.name)!;
console.log(`\nmeans over ${ROUNDS} round(s) of ${SECONDS} s, wrk -t1 -c100:`);
for (const s of servers) {
  const r = results.get(s.name)!;
  const segRatio = mean(r.segment, (x) => x.bytesPerSecond) /
    mean(nginx.segment, (x) => x.bytesPerSecond);
  const plRatio = mean(r.playlist, (x) => x.requestsPerSecond) /
    mean(nginx.playlist, (x) => x.requestsPerSecond);
  console.log(
    `${s.name.padEnd(18)} segment ${
      (mean(r.segment, (x) => x.bytesPerSecond) / 1e9).toFixed(2)
    } GB/s` +
      ` (${segRatio.toFixed(2)}× nginx)  playlist ${
        Math.round(mean(r.playlist, (x) => x.requestsPerSecond))
      } req/s (${plRatio.toFixed(2)}× nginx)`,
  );
}
