/**
 * No single client can take a node down. The all-in-one node runs under `ulimit -n 1024`
 * while Node.js floods its HTTP port and its RTMP port with 1,100 idle connections each from
 * 127.0.0.2, reopening every connection the node closes; meanwhile, from 127.0.0.1, a live
 * stream keeps packaging, a viewer keeps getting new segments and a second publisher gets
 * in. Afterwards the process is alive and `/healthz` answers within 3 s. The lone origin,
 * edge and API roles outlive the same flood on their HTTP ports; 40 connections that declare
 * huge RTMP messages before authorizing anything leave memory where it was; an accept loop
 * past the descriptor limit backs off; a slow-loris client is cut at the request deadline.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { handshakeOver } from "../lib/media/rtmp/testing/client_handshake.ts";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { freePort } from "./helpers/ports.ts";
import { publish } from "./helpers/media.ts";
import { startProcess, TestProcess } from "./helpers/process.ts";
import { startRedis } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";

const ENTRY = fileURLToPath(new URL("../node/main.ts", import.meta.url));
const CONFIG = fileURLToPath(new URL("../deno.json", import.meta.url));
const FLOOD = fileURLToPath(new URL("./helpers/flood.mjs", import.meta.url));
const KEYS = "hardening_key_a=alpha,hardening_key_b=beta";

/** The all-in-one under a descriptor limit, as a small box or container would run it. */
async function startLimitedNode(dir: string, files = 1024, env: Record<string, string> = {}) {
  const port = freePort();
  const rtmpPort = freePort();
  const proc = await startProcess("bash", {
    args: [
      "-c",
      `ulimit -n ${files} && exec "${Deno.execPath()}" run -A --config "${CONFIG}" "${ENTRY}"`,
    ],
    cwd: dir,
    env: {
      HOST: "127.0.0.1",
      PORT: String(port),
      RTMP_HOST: "127.0.0.1",
      RTMP_PORT: String(rtmpPort),
      PUBLISH_KEYS: KEYS,
      LOG_FORMAT: "json",
      ...env,
    },
    readyLine: /Admin token is in/,
    timeoutMs: 60_000,
  });
  return Object.assign(proc, { port, rtmpPort, url: `http://127.0.0.1:${port}` });
}

/** User + system CPU seconds of `pid` so far, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function rssMiB(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function playlist(url: string) {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) {
    await res.body?.cancel();
    return undefined;
  }
  const p = parsePlaylist(await res.text());
  return p.segments.length > 0 ? p : undefined;
}

Deno.test({
  name: "1,100 idle connections per port from one address under ulimit -n 1024 take nothing down",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cascade-hardening-" });
    try {
      await using node = await startLimitedNode(dir);
      const pid = node.child.pid;
      await using _alpha = publish(`rtmp://127.0.0.1:${node.rtmpPort}/live/hardening_key_a`);
      const first = await waitFor(
        "alpha to play through the edge",
        () => playlist(`${node.url}/live/alpha/index.m3u8`),
        { timeoutMs: 30_000 },
      );

      const seconds = 20;
      const cpuBefore = await cpuSeconds(pid);
      const startedAt = performance.now();
      await using httpFlood = new TestProcess("node", {
        args: [FLOOD, "127.0.0.1", String(node.port), "1100", String(seconds), "127.0.0.2"],
      });
      await using rtmpFlood = new TestProcess("node", {
        args: [FLOOD, "127.0.0.1", String(node.rtmpPort), "1100", String(seconds), "127.0.0.2"],
      });

      // During the flood: a new publisher gets in, alpha keeps packaging, a viewer keeps
      // getting new segments.
      await using _beta = publish(`rtmp://127.0.0.1:${node.rtmpPort}/live/hardening_key_b`);
      await waitFor(
        "beta to play through the edge during the flood",
        () => playlist(`${node.url}/live/beta/index.m3u8`),
        { timeoutMs: 15_000 },
      );
      const newer = await waitFor("a newer alpha segment during the flood", async () => {
        const p = await playlist(`${node.url}/live/alpha/index.m3u8`);
        const last = p?.segments.at(-1);
        return last && last.sequence > first.segments.at(-1)!.sequence + 1 ? last : undefined;
      }, { timeoutMs: 15_000 });
      const segment = await fetch(`${node.url}/live/alpha/${newer.uri}`, {
        signal: AbortSignal.timeout(5000),
      });
      assert.equal(segment.status, 200);
      assert.ok((await segment.arrayBuffer()).byteLength > 0);
      assert.equal(httpFlood.exited || rtmpFlood.exited, false, "checked while the flood ran");

      const httpCounts = JSON.parse(
        (await waitFor(
          "the HTTP flood's counts",
          () => httpFlood.exited && httpFlood.output.trim(),
          { timeoutMs: 30_000 },
        )) as string,
      );
      const rtmpCounts = JSON.parse(
        (await waitFor(
          "the RTMP flood's counts",
          () => rtmpFlood.exited && rtmpFlood.output.trim(),
          { timeoutMs: 30_000 },
        )) as string,
      );
      const cpu = (await cpuSeconds(pid) - cpuBefore) /
        ((performance.now() - startedAt) / 1000);
      console.log(
        `flood: http ${JSON.stringify(httpCounts)}, rtmp ${JSON.stringify(rtmpCounts)}; ` +
          `node CPU ${(cpu * 100).toFixed(1)} % of a core`,
      );
      // Each flood held connections and had many closed: it really pressed on the budgets.
      assert.ok(httpCounts.maxOpen > 100 && httpCounts.closedByServer > 1000);
      assert.ok(rtmpCounts.maxOpen > 20 && rtmpCounts.closedByServer > 1000);
      assert.ok(cpu < 0.9, `the node does not spin: ${(cpu * 100).toFixed(1)} % of a core`);

      assert.equal(node.exited, false, "the node survived");
      const health = await fetch(`${node.url}/healthz`, { signal: AbortSignal.timeout(3000) });
      assert.equal(health.status, 200);
      assert.equal((await health.json()).status, "ok");
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

/** The body of a message of `length` bytes in 128-byte chunks (the default chunk size). */
function chunkedBody(length: number): Uint8Array {
  const chunks = Math.ceil(length / 128);
  const out = new Uint8Array(length + chunks - 1);
  for (let c = 1, at = 128; c < chunks; c++, at += 129) out[at] = 0xc3; // fmt 3, chunk stream 3
  return out;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
}

Deno.test(
  "40 unauthenticated RTMP connections sending big messages before connect cost no memory",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "cascade-hardening-" });
    try {
      await using node = await startLimitedNode(dir, 1024, extraEnv());
      const pid = node.child.pid;
      const before = await rssMiB(pid);
      // A fmt 0 header on chunk stream 3 declaring an 8 MiB - 16 video message (under the
      // 8 MiB limit of publishers), then 4 MiB of it, as if a keyframe were arriving.
      const length = 8 * 1024 * 1024 - 16;
      const header = new Uint8Array([
        0x03,
        0,
        0,
        0,
        (length >> 16) & 0xff,
        (length >> 8) & 0xff,
        length & 0xff,
        9,
        1,
        0,
        0,
        0,
      ]);
      const body = chunkedBody(4 * 1024 * 1024);
      const conns: Deno.Conn[] = [];
      try {
        for (let i = 0; i < 40; i++) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: node.rtmpPort });
          conns.push(conn);
          await handshakeOver(conn);
          await writeAll(conn, header).catch(() => {});
          await writeAll(conn, body).catch(() => {});
        }
        // Measured while every connection is still open on this side.
        const during = await rssMiB(pid);
        assert.ok(during - before < 40, `RSS ${before.toFixed(0)} → ${during.toFixed(0)} MiB`);
        const ended = await Promise.all(conns.map(async (c) => {
          const buf = new Uint8Array(4096);
          const reading = (async () => {
            try {
              while ((await c.read(buf)) !== null) { /* the server's replies, if any */ }
            } catch { /* reset counts as closed */ }
            return true;
          })();
          const timeout = new Promise<false>((r) => setTimeout(() => r(false), 10_000));
          return await Promise.race([reading, timeout]);
        }));
        assert.equal(ended.filter(Boolean).length, 40, "the node closed every such connection");
      } finally {
        for (const c of conns) {
          try {
            c.close();
          } catch { /* already closed */ }
        }
      }
      assert.equal(node.exited, false);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);

/** Extra variables for the memory test (`HARDENING_ENV='{"A":"1"}'` to try other limits). */
function extraEnv(): Record<string, string> {
  return JSON.parse(Deno.env.get("HARDENING_ENV") ?? "{}");
}

Deno.test({
  name: "an RTMP listener whose budget exceeds the descriptor limit backs off instead of spinning",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "cascade-hardening-" });
    try {
      // A budget the process cannot honour: accepting itself fails once descriptors run out.
      await using node = await startLimitedNode(dir, 256, {
        RTMP_MAX_CONNECTIONS: "2000",
        RTMP_MAX_CONNECTIONS_PER_ADDRESS: "2000",
        RTMP_MAX_PENDING_CONNECTIONS: "2000",
      });
      const pid = node.child.pid;
      const seconds = 8;
      const cpuBefore = await cpuSeconds(pid);
      const startedAt = performance.now();
      await using flood = new TestProcess("node", {
        args: [FLOOD, "127.0.0.1", String(node.rtmpPort), "400", String(seconds), "127.0.0.2"],
      });
      await waitFor("the flood to end", () => flood.exited, { timeoutMs: 30_000 });
      const cpu = (await cpuSeconds(pid) - cpuBefore) /
        ((performance.now() - startedAt) / 1000);
      const acceptErrors = node.output.split("\n").filter((l) =>
        l.includes('"event":"rtmp.accept_failed"')
      );
      console.log(`accept errors logged: ${acceptErrors.length}; CPU ${(cpu * 100).toFixed(1)} %`);
      assert.ok(acceptErrors.length >= 1, "the descriptor limit was really reached");
      assert.ok(
        acceptErrors.length <= seconds / 10 + 2,
        "accept errors are logged at a bounded rate",
      );
      assert.ok(cpu < 0.5, `the accept loop does not spin: ${(cpu * 100).toFixed(1)} % of a core`);
      assert.equal(node.exited, false);
      const health = await fetch(`${node.url}/healthz`, { signal: AbortSignal.timeout(3000) });
      assert.equal(health.status, 200);
      await health.body?.cancel();
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test("a slow-loris client is cut at HTTP_REQUEST_TIMEOUT_SECONDS on the node's port", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-hardening-" });
  try {
    await using node = await startLimitedNode(dir, 1024, { HTTP_REQUEST_TIMEOUT_SECONDS: "2" });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: node.port });
    const started = performance.now();
    const encoder = new TextEncoder();
    await conn.write(encoder.encode("GET /healthz HTTP/1.1\r\n"));
    // A header byte every half second: never idle, never finished.
    const drip = setInterval(() => conn.write(encoder.encode("X")).catch(() => {}), 500);
    let ms: number;
    try {
      const buf = new Uint8Array(1024);
      try {
        while ((await conn.read(buf)) !== null) { /* discard */ }
      } catch { /* reset counts as closed */ }
      ms = performance.now() - started;
    } finally {
      clearInterval(drip);
      conn.close();
    }
    assert.ok(ms >= 1900 && ms < 15_000, `cut after ${ms.toFixed(0)} ms`);
    const health = await fetch(`${node.url}/healthz`, { signal: AbortSignal.timeout(3000) });
    assert.equal(health.status, 200);
    await health.body?.cancel();
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/** `deno run -A {role}/main.ts` under `ulimit -n 1024`, ready once its HTTP port listens. */
function startLimitedRole(role: string, env: Record<string, string>) {
  const main = fileURLToPath(new URL(`../${role}/main.ts`, import.meta.url));
  return startProcess("bash", {
    args: ["-c", `ulimit -n 1024 && exec "${Deno.execPath()}" run -A "${main}"`],
    env: { LOG_FORMAT: "json", ...env },
    readyLine: role === "edge" ? /"event":"edge\.listening"/ : /"event":"http\.listening"/,
    timeoutMs: 60_000,
  });
}

Deno.test({
  name: "the origin, edge and API roles each outlive 1,100 idle connections to their HTTP port",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using redis = await startRedis();
    const media = await Deno.makeTempDir({ prefix: "cascade-hardening-" });
    try {
      const ports = { origin: freePort(), edge: freePort(), api: freePort() };
      const common = { REDIS_URL: redis.url, REDIS_PREFIX: "hard:" };
      await using origin = await startLimitedRole("origin", {
        ...common,
        RTMP_HOST: "127.0.0.1",
        RTMP_PORT: String(freePort()),
        ORIGIN_HTTP_HOST: "127.0.0.1",
        ORIGIN_HTTP_PORT: String(ports.origin),
        MEDIA_ROOT: media,
        RECORD_DIR: `${media}/rec`,
        PUBLISH_AUTH: "static",
        PUBLISH_KEYS: KEYS,
      });
      await using edge = await startLimitedRole("edge", {
        ...common,
        EDGE_HOST: "127.0.0.1",
        EDGE_PORT: String(ports.edge),
      });
      await using api = await startLimitedRole("api", {
        ...common,
        API_HOST: "127.0.0.1",
        API_PORT: String(ports.api),
      });
      const seconds = 12;
      const floods = Object.values(ports).map((port) =>
        new TestProcess("node", {
          args: [FLOOD, "127.0.0.1", String(port), "1100", String(seconds), "127.0.0.2"],
        })
      );
      try {
        await waitFor("the floods to end", () => floods.every((f) => f.exited), {
          timeoutMs: 60_000,
        });
        for (const f of floods) {
          const counts = JSON.parse(f.output.trim());
          assert.ok(counts.closedByServer > 1000, `each flood pressed on a budget: ${f.output}`);
        }
      } finally {
        for (const f of floods) await f.stop();
      }
      for (const [role, proc] of [["origin", origin], ["edge", edge], ["api", api]] as const) {
        assert.equal(proc.exited, false, `${role} survived`);
        const port = ports[role];
        const health = await fetch(`http://127.0.0.1:${port}/healthz`, {
          signal: AbortSignal.timeout(3000),
        });
        assert.equal(health.status, 200, `${role} /healthz`);
        assert.equal((await health.json()).role, role);
      }
    } finally {
      await Deno.remove(media, { recursive: true }).catch(() => {});
    }
  },
});
