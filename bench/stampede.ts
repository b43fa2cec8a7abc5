/**
 * Scenario 5, the stampede: V viewers ask an edge for the same segment that no one has asked
 * for before, all at once. The origin (in this process) counts the requests it gets for each
 * segment and answers after a delay, standing in for a distant origin or a cold disk, so the
 * viewers really do arrive while the first fetch is under way. Each viewer has its
 * connection open before the stampede, so that connection setup is not measured; at the
 * start every one of them sends its request, and the time to last byte of each response is
 * taken on this process's clock. The Cascade edge is `edge/bench/edge_server.ts` on
 * `node:http` (stream `bench` registered at this origin), the peer nginx `proxy_cache` with
 * `proxy_cache_lock`, whose waiters poll the lock every 500 ms.
 */
import { fileURLToPath } from "node:url";
import { startProcess } from "../tests/helpers/process.ts";
import { delay } from "../tests/helpers/wait.ts";
import { summarize, type Summary } from "./latency.ts";
import { startNginxProxyCache } from "./nginx.ts";

export type StampedeServer = "cascade" | "nginx";

export interface StampedeRound {
  server: StampedeServer;
  viewers: number;
  /** Origin requests for the stampeded segment: 1 means the edge coalesced them all. */
  originFetches: number;
  /** Time to last byte, ms, of the viewers that got a whole 200. */
  timeToLastByteMs: Summary;
  /** Responses by status code, and by the server's cache header (`X-Cache`). */
  statuses: Record<string, number>;
  cache: Record<string, number>;
}

export interface StampedeOptions {
  viewers: number;
  originDelayMs: number;
  segmentBytes: number;
}

const EDGE_SERVER = fileURLToPath(new URL("../edge/bench/edge_server.ts", import.meta.url));
const SEGMENT_RE = /^\/live\/bench\/(\d+)\.ts$/;

/** Whole MPEG-TS packets (the edge checks that a segment is), `bytes` long at most. */
function segmentBody(bytes: number): Uint8Array<ArrayBuffer> {
  const body = new Uint8Array(Math.floor(bytes / 188) * 188);
  for (let at = 0; at < body.length; at += 188) body[at] = 0x47; // sync_byte
  return body;
}

/** The origin: counts segment requests by sequence number and answers each after a delay. */
function startCountingOrigin(o: StampedeOptions) {
  const fetches = new Map<number, number>();
  const body = segmentBody(o.segmentBytes);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const m = SEGMENT_RE.exec(new URL(req.url).pathname);
    if (m === null) return new Response("not found", { status: 404 });
    const seq = Number(m[1]);
    fetches.set(seq, (fetches.get(seq) ?? 0) + 1);
    await delay(o.originDelayMs);
    return new Response(body, {
      headers: { "Content-Type": "video/mp2t", "Cache-Control": "max-age=31536000" },
    });
  });
  return { server, fetches };
}

interface ViewerResult {
  status: number;
  cache: string;
  ms: number;
}

const HEAD_END = new Uint8Array([13, 10, 13, 10]);

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** Sends one GET on an open connection and reads the whole response (Content-Length framed). */
async function view(conn: Deno.Conn, request: Uint8Array, t0: number): Promise<ViewerResult> {
  for (let sent = 0; sent < request.length;) sent += await conn.write(request.subarray(sent));
  const buf = new Uint8Array(64 * 1024);
  let head = new Uint8Array(0);
  let bodyLeft = -1;
  let status = 0;
  let cache = "";
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("Connection closed before the response ended");
    if (bodyLeft < 0) {
      const joined = new Uint8Array(head.length + n);
      joined.set(head);
      joined.set(buf.subarray(0, n), head.length);
      const end = indexOf(joined, HEAD_END);
      if (end < 0) {
        head = joined;
        continue;
      }
      const text = new TextDecoder().decode(joined.subarray(0, end));
      status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      cache = /^x-cache:\s*(\S+)/im.exec(text)?.[1] ?? "";
      const length = /^content-length:\s*(\d+)/im.exec(text);
      if (length === null) throw new Error(`Response without Content-Length: ${text}`);
      bodyLeft = Number(length[1]) - (joined.length - end - HEAD_END.length);
    } else {
      bodyLeft -= n;
    }
    if (bodyLeft <= 0) return { status, cache, ms: performance.now() - t0 };
  }
}

async function stampede(port: number, seq: number, viewers: number): Promise<ViewerResult[]> {
  const conns = await Promise.all(
    Array.from({ length: viewers }, () => Deno.connect({ hostname: "127.0.0.1", port })),
  );
  const request = new TextEncoder().encode(
    `GET /live/bench/${seq}.ts HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`,
  );
  try {
    const t0 = performance.now();
    return await Promise.all(conns.map((c) => view(c, request, t0)));
  } finally {
    for (const c of conns) c.close();
  }
}

function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** Runs `rounds` stampedes against each server, taking turns; a new segment every time. */
export async function runStampedes(o: StampedeOptions, rounds: number): Promise<StampedeRound[]> {
  const origin = startCountingOrigin(o);
  const originUrl = `http://127.0.0.1:${origin.server.addr.port}`;
  const edge = await startProcess(Deno.execPath(), {
    args: ["run", "-A", EDGE_SERVER, originUrl, "node"],
    readyLine: /listening \d+/,
  });
  const out: StampedeRound[] = [];
  try {
    await using nginx = await startNginxProxyCache(origin.server.addr.port);
    const ports: Record<StampedeServer, number> = {
      cascade: Number(/listening (\d+)/.exec(edge.output)![1]),
      nginx: nginx.port,
    };
    // Warm what a stampede on a running edge finds warm: the stream lookup, upstream sockets.
    for (const port of Object.values(ports)) {
      await (await fetch(`http://127.0.0.1:${port}/live/bench/1.ts`)).arrayBuffer();
    }
    let seq = 1000;
    for (let round = 0; round < rounds; round++) {
      for (const server of ["cascade", "nginx"] as const) {
        seq++;
        const results = await stampede(ports[server], seq, o.viewers);
        const ok = results.filter((r) => r.status === 200);
        out.push({
          server,
          viewers: o.viewers,
          originFetches: origin.fetches.get(seq) ?? 0,
          timeToLastByteMs: summarize(ok.map((r) => r.ms)),
          statuses: tally(results.map((r) => String(r.status))),
          cache: tally(results.map((r) => r.cache || "none")),
        });
      }
    }
  } finally {
    await edge.stop();
    await origin.server.shutdown();
  }
  return out;
}
