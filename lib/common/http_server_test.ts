import assert from "node:assert/strict";
import { budgetOf, ConnectionBudget } from "./conn_budget.ts";
import {
  fetchHandler,
  type HttpLimits,
  serveHttp,
  type UpgradeHandler,
  upgradeRoutes,
} from "./http_server.ts";
import { quietLog } from "./testing/log.ts";
import { waitFor } from "../../tests/helpers/wait.ts";

const LIMITS: HttpLimits = {
  budget: { max: 20, perAddress: 4, pending: 10 },
  requestTimeoutMs: 1000,
  idleTimeoutMs: 30_000,
  maxRequestsPerConnection: 3,
  maxHeaderBytes: 16 * 1024,
};

async function start(limits: Partial<HttpLimits> = {}, upgrade?: UpgradeHandler) {
  const server = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler: fetchHandler((req) => new Response(`ok ${new URL(req.url).pathname}`), quietLog),
    upgrade,
    limits: { ...LIMITS, ...limits },
    log: quietLog,
  });
  return Object.assign(server, {
    async [Symbol.asyncDispose]() {
      await server.close(100);
    },
  });
}

/** Resolves with how long `conn` stayed open, reading and discarding whatever arrives. */
async function closedAfter(conn: Deno.Conn, started = performance.now()): Promise<number> {
  const buf = new Uint8Array(1024);
  try {
    while ((await conn.read(buf)) !== null) { /* discard */ }
  } catch { /* reset counts as closed */ }
  conn.close();
  return performance.now() - started;
}

async function request(conn: Deno.Conn, path: string): Promise<string> {
  await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`));
  const buf = new Uint8Array(4096);
  const n = await conn.read(buf);
  return new TextDecoder().decode(buf.subarray(0, n ?? 0));
}

Deno.test("ConnectionBudget admits within total, per-address and pending caps and releases once", () => {
  const b = new ConnectionBudget({ max: 3, perAddress: 2, pending: 2 });
  const a1 = b.admit("a");
  const a2 = b.admit("a");
  assert.ok(a1.ok && a2.ok);
  assert.deepEqual(b.admit("a"), { ok: false, reason: "address" });
  assert.deepEqual(b.admit("b"), { ok: false, reason: "pending" });
  a1.admission.established();
  a1.admission.established();
  assert.equal(b.pending, 1);
  const b1 = b.admit("b");
  assert.ok(b1.ok);
  assert.deepEqual(b.admit("c"), { ok: false, reason: "total" });
  a2.admission.release();
  a2.admission.release();
  assert.equal(b.total, 2);
  assert.equal(b.of("a"), 1);
  assert.equal(b.pending, 1);
});

Deno.test("budgetOf splits a budget without splitting a small one to nothing", () => {
  assert.deepEqual(budgetOf(1000), { max: 1000, perAddress: 250, pending: 500 });
  assert.deepEqual(budgetOf(3), { max: 3, perAddress: 3, pending: 3 });
  assert.deepEqual(budgetOf(100, { perAddress: 7 }), { max: 100, perAddress: 7, pending: 50 });
});

Deno.test("serveHttp closes a slow-loris connection once the request deadline passes", async () => {
  await using server = await start();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  const started = performance.now();
  await conn.write(new TextEncoder().encode("GET / HTTP/1.1\r\n"));
  // One more header byte now and then, each inside the idle timeout: only the deadline cuts it.
  const drip = setInterval(() => conn.write(new TextEncoder().encode("X")).catch(() => {}), 200);
  try {
    const ms = await closedAfter(conn, started);
    assert.ok(ms >= 900 && ms < 10_000, `closed after ${ms.toFixed(0)} ms`);
  } finally {
    clearInterval(drip);
  }
});

Deno.test("serveHttp refuses connections past the per-address cap and serves the admitted ones", async () => {
  await using server = await start();
  const held: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 4; i++) {
      held.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    await waitFor("four admitted connections", () => server.budget.total === 4);
    const extra = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const ms = await closedAfter(extra);
    assert.ok(ms < 900, `the fifth connection from one address is closed at once (${ms} ms)`);
    assert.match(await request(held[0]!, "/a"), /^HTTP\/1\.1 200[\s\S]*ok \/a/);
    assert.equal(server.budget.pending, 3, "a connection that made a request is established");
  } finally {
    for (const c of held) c.close();
  }
  await waitFor("every place released", () => server.budget.total === 0);
});

Deno.test("serveHttp closes a connection after maxRequestsPerConnection requests", async () => {
  await using server = await start();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  for (let i = 1; i <= 3; i++) {
    const head = await request(conn, `/${i}`);
    assert.match(head, /^HTTP\/1\.1 200/);
    if (i === 3) assert.match(head, /connection: close/i);
  }
  const ms = await closedAfter(conn);
  assert.ok(ms < 900, `closed after the third request (${ms} ms)`);
});

/** An upgrade to a made-up protocol that echoes every byte; `established` on the first byte. */
const echoUpgrade: UpgradeHandler = (_req, socket, head, conn) => {
  socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n");
  if (head.length > 0) socket.write(head);
  socket.on("data", (data) => {
    conn.established();
    socket.write(data);
  });
  socket.on("end", () => socket.end());
};

async function upgradeTo(conn: Deno.Conn, path: string): Promise<string> {
  const head = `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n`;
  await conn.write(new TextEncoder().encode(head));
  const buf = new Uint8Array(4096);
  const n = await conn.read(buf);
  return new TextDecoder().decode(buf.subarray(0, n ?? 0));
}

Deno.test("serveHttp hands an upgrade to its route; the socket outlives the request deadline and keeps its budget place", async () => {
  await using server = await start(
    { requestTimeoutMs: 300, idleTimeoutMs: 300 },
    upgradeRoutes({ "/echo": echoUpgrade }),
  );
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    assert.match(await upgradeTo(conn, "/echo"), /^HTTP\/1\.1 101/);
    assert.equal(server.budget.total, 1);
    assert.equal(server.budget.pending, 1, "upgraded but not yet established");
    // Echo for three request deadlines and idle timeouts: neither may cut the upgraded socket.
    const started = performance.now();
    const buf = new Uint8Array(16);
    let rounds = 0;
    while (performance.now() - started < 900) {
      await conn.write(new TextEncoder().encode("ping"));
      const n = await conn.read(buf);
      assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "ping");
      rounds++;
      await waitFor("a tenth of a deadline", () => performance.now() - started > rounds * 100);
    }
    assert.equal(server.budget.total, 1, "the upgraded socket still holds its place");
    assert.equal(server.budget.pending, 0, "the handler established it");
  } finally {
    conn.close();
  }
  await waitFor("the place released on close", () => server.budget.total === 0);
});

Deno.test("serveHttp answers upgrades of other paths, or without a handler, with 404 and closes", async () => {
  for (const upgrade of [upgradeRoutes({ "/echo": echoUpgrade }), undefined]) {
    await using server = await start({}, upgrade);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    assert.match(await upgradeTo(conn, "/other"), /^HTTP\/1\.1 404/);
    const ms = await closedAfter(conn);
    assert.ok(ms < 900, `closed at once (${ms} ms)`);
    await waitFor("the place released", () => server.budget.total === 0);
  }
});

Deno.test("upgradeRoutes() gives a route ending in / every path under it", async () => {
  await using server = await start({}, upgradeRoutes({ "/echo/": echoUpgrade }));
  for (const [path, status] of [["/echo/cam", 101], ["/echo/", 404], ["/echoes/cam", 404]]) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      assert.match(await upgradeTo(conn, path as string), new RegExp(`^HTTP/1\\.1 ${status}`));
    } finally {
      conn.close();
    }
  }
});

Deno.test("serveHttp.close() ends upgraded sockets", async () => {
  const server = await start({}, upgradeRoutes({ "/echo": echoUpgrade }));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  assert.match(await upgradeTo(conn, "/echo"), /^HTTP\/1\.1 101/);
  const closing = closedAfter(conn);
  await server.close(100);
  assert.ok((await closing) < 5000);
  assert.equal(server.budget.total, 0);
});

Deno.test("serveHttp keeps an idle connection for idleTimeoutMs, not node's 5 s, and says so", async () => {
  await using server = await start({ idleTimeoutMs: 30_000 });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    const reply = await request(conn, "/a");
    assert.match(reply, /^HTTP\/1\.1 200/);
    assert.match(reply, /\r\nkeep-alive: timeout=30\r\n/i);
  } finally {
    conn.close();
  }
});
