/**
 * Compares the HTTP clients an edge could use to reach origins: Deno's `fetch` and undici's
 * `Pool`, for the two shapes an edge sees: a cold 800 KB segment (latency of one request, and
 * throughput with 8 in parallel) and a 600 B playlist (latency). The origin is a `node:http`
 * server in a child process so the client's event loop is measured alone.
 *
 *   deno run -A edge/bench/origin_client_bench.ts
 */
import { Pool } from "undici";

const SEGMENT_BYTES = 800 * 1024;
const ROUNDS = Number(Deno.env.get("ROUNDS") ?? 3);

/** The origin server: `Deno.serve` (Cascade's origin) or `node:http` (ORIGIN=node). */
const DENO_SERVER = `
const segment = new Uint8Array(${SEGMENT_BYTES}).fill(0x47);
const playlist = new TextEncoder().encode("#EXTM3U\\n" + "#EXTINF:2.000,\\n1234567890.ts\\n".repeat(20));
Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: (a) => console.log("port " + a.port) }, (req) =>
  new Response(req.url.endsWith(".m3u8") ? playlist : segment, { headers: { "content-type": "video/mp2t" } }));
`;

const NODE_SERVER = `
import http from "node:http";
import { Buffer } from "node:buffer";
const segment = Buffer.alloc(${SEGMENT_BYTES}, 0x47);
const playlist = Buffer.from("#EXTM3U\\n" + "#EXTINF:2.000,\\n1234567890.ts\\n".repeat(20));
const server = http.createServer((req, res) => {
  const body = req.url.endsWith(".m3u8") ? playlist : segment;
  res.writeHead(200, { "content-length": body.length, "content-type": "video/mp2t" });
  res.end(body);
});
server.listen(0, "127.0.0.1", () => console.log("port " + server.address().port));
`;

type Get = (path: string) => Promise<number>;

/** Counts body bytes chunk by chunk, as the edge reads bodies. */
async function drain(body: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of body) n += chunk.byteLength;
  return n;
}

function fetchClient(base: string, collect: "stream" | "arrayBuffer"): Get {
  return async (path) => {
    const res = await fetch(base + path);
    return collect === "stream" ? await drain(res.body!) : (await res.arrayBuffer()).byteLength;
  };
}

function undiciClient(base: string): { get: Get; close: () => Promise<void> } {
  const pool = new Pool(base, { connections: 16, pipelining: 1 });
  return {
    get: async (path) => {
      const res = await pool.request({ path, method: "GET" });
      return await drain(res.body);
    },
    close: () => pool.close(),
  };
}

async function latency(get: Get, path: string, n: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await get(path);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function throughput(get: Get, parallel: number, ms: number): Promise<number> {
  let bytes = 0;
  const end = performance.now() + ms;
  const worker = async () => {
    while (performance.now() < end) {
      const n = await get("/live/a/1.ts");
      bytes += n;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: parallel }, worker));
  return (bytes * 8) / ((performance.now() - start) / 1000) / 1e9;
}

const file = await Deno.makeTempFile({ suffix: ".mjs" });
await Deno.writeTextFile(file, Deno.env.get("ORIGIN") === "node" ? NODE_SERVER : DENO_SERVER);
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", file],
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
const first = (await reader.read()).value ?? "";
const port = /port (\d+)/.exec(first)?.[1];
if (port === undefined) throw new Error(`Origin did not start: ${first}`);
const base = `http://127.0.0.1:${port}`;

try {
  const undici = undiciClient(base);
  const clients: [string, Get][] = [
    ["fetch", fetchClient(base, "stream")],
    ["fetch+arrayBuffer", fetchClient(base, "arrayBuffer")],
    ["undici Pool", undici.get],
  ];
  for (const [, get] of clients) await latency(get, "/live/a/1.ts", 20);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, get] of clients) {
      const seg = await latency(get, "/live/a/1.ts", 100);
      const pl = await latency(get, "/live/a/index.m3u8", 300);
      const gbps1 = await throughput(get, 1, 2000);
      const gbps = await throughput(get, 8, 2000);
      console.log(
        `round ${round} ${name.padEnd(17)} segment p50 ${seg.toFixed(2)} ms  ` +
          `playlist p50 ${pl.toFixed(3)} ms  1-conn ${gbps1.toFixed(2)}, 8-parallel ${
            gbps.toFixed(2)
          } Gbit/s`,
      );
    }
  }
  await undici.close();
} finally {
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel().catch(() => {});
  await Deno.remove(file);
}
