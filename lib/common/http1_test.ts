/**
 * The listener's HTTP/1.1 as clients speak it, over raw loopback connections: framing of
 * request and response bodies, pipelining, HEAD, HTTP/1.0, `100-continue`, malformed heads
 * and a client leaving while its handler waits.
 */
import assert from "node:assert/strict";
import { fetchHandler, type HttpHandler, type HttpLimits, serveHttp } from "./http_server.ts";
import { quietLog } from "./testing/log.ts";
import { waitFor } from "../../tests/helpers/wait.ts";

const LIMITS: HttpLimits = {
  budget: { max: 20, perAddress: 10, pending: 10 },
  requestTimeoutMs: 2000,
  idleTimeoutMs: 5000,
  maxRequestsPerConnection: 100,
  maxHeaderBytes: 1024,
};

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function start(handler: HttpHandler) {
  const server = await serveHttp({
    hostname: "127.0.0.1",
    port: 0,
    handler,
    limits: LIMITS,
    log: quietLog,
  });
  return Object.assign(server, {
    [Symbol.asyncDispose]: () => server.close(100),
  });
}

/** Echoes method, path and body: `POST /x 5 hello`. */
const echo = fetchHandler(async (req) => {
  const body = await req.text();
  return new Response(`${req.method} ${new URL(req.url).pathname} ${body.length} ${body}`);
}, quietLog);

interface Parsed {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** The responses in `text`, bodies de-chunked; a body without framing runs to the end. */
function responses(text: string, bodyless = false): Parsed[] {
  const out: Parsed[] = [];
  let rest = text;
  while (rest.length > 0) {
    const end = rest.indexOf("\r\n\r\n");
    const [statusLine = "", ...lines] = rest.slice(0, end).split("\r\n");
    const headers = new Map(lines.map((l) => {
      const i = l.indexOf(":");
      return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()] as [string, string];
    }));
    const status = Number(statusLine.split(" ")[1]);
    rest = rest.slice(end + 4);
    let body = "";
    if (bodyless || status === 204 || status === 304) { /* none */ }
    else if (headers.get("transfer-encoding") === "chunked") {
      while (true) {
        const eol = rest.indexOf("\r\n");
        const size = parseInt(rest.slice(0, eol), 16);
        rest = rest.slice(eol + 2);
        if (size === 0) {
          rest = rest.slice(2);
          break;
        }
        body += rest.slice(0, size);
        rest = rest.slice(size + 2);
      }
    } else if (headers.has("content-length")) {
      const n = Number(headers.get("content-length"));
      body = rest.slice(0, n);
      rest = rest.slice(n);
    } else {
      body = rest;
      rest = "";
    }
    out.push({ status, headers, body });
  }
  return out;
}

/** Sends `raw`, then reads until the server closes or `until` matches what arrived. */
async function exchange(port: number, raw: string, until?: RegExp): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(encoder.encode(raw));
    let text = "";
    const buf = new Uint8Array(65536);
    while (until === undefined || !until.test(text)) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      text += decoder.decode(buf.subarray(0, n));
    }
    return text;
  } finally {
    conn.close();
  }
}

Deno.test("http1: a chunked request body reaches the handler whole", async () => {
  await using server = await start(echo);
  const reply = await exchange(
    server.port,
    "POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n",
  );
  const [res, ...more] = responses(reply);
  assert.equal(more.length, 0);
  assert.equal(res?.status, 200);
  assert.equal(res?.body, "POST /up 11 hello world");
});

Deno.test("http1: pipelined requests are answered in order on one connection", async () => {
  await using server = await start(echo);
  const reply = await exchange(
    server.port,
    "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
      "POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
      "GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  const all = responses(reply);
  assert.deepEqual(all.map((r) => r.body), ["GET /a 0 ", "POST /b 3 abc", "GET /c 0 "]);
  assert.deepEqual(all.map((r) => r.headers.get("connection")), [
    "keep-alive",
    "keep-alive",
    "close",
  ]);
});

Deno.test("http1: HEAD gets the length and no body; a stream without length goes chunked", async () => {
  await using server = await start(fetchHandler((req) => {
    if (new URL(req.url).pathname === "/fixed") {
      return new Response("twelve bytes", { headers: { "content-length": "12" } });
    }
    const parts = ["one ", "two"];
    return new Response(
      new ReadableStream({
        pull(c) {
          const next = parts.shift();
          if (next === undefined) c.close();
          else c.enqueue(encoder.encode(next));
        },
      }),
    );
  }, quietLog));
  const head = await exchange(
    server.port,
    "HEAD /fixed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.match(head, /content-length: 12\r\n/);
  assert.ok(head.endsWith("\r\n\r\n"), head);
  const streamed = await exchange(
    server.port,
    "GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.match(streamed, /transfer-encoding: chunked\r\n/);
  assert.ok(streamed.endsWith("\r\n\r\n4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n"), streamed);
  const fixed = responses(
    await exchange(server.port, "GET /fixed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
  );
  assert.equal(fixed[0]?.body, "twelve bytes");
  assert.equal(fixed[0]?.headers.has("transfer-encoding"), false);
  // HTTP/1.0 knows no chunks: the body ends with the connection.
  const old = await exchange(server.port, "GET /stream HTTP/1.0\r\n\r\n");
  assert.match(old, /connection: close\r\n/);
  assert.doesNotMatch(old, /transfer-encoding/);
  assert.ok(old.endsWith("\r\n\r\none two"), old);
});

Deno.test("http1: Expect: 100-continue is answered when the handler reads the body", async () => {
  await using server = await start(echo);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await conn.write(encoder.encode(
      "PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    ));
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf);
    assert.equal(decoder.decode(buf.subarray(0, n ?? 0)), "HTTP/1.1 100 Continue\r\n\r\n");
    await conn.write(encoder.encode("data"));
    let text = "";
    while (!text.endsWith("0\r\n\r\n")) {
      const m = await conn.read(buf);
      if (m === null) break;
      text += decoder.decode(buf.subarray(0, m));
    }
    assert.equal(responses(text)[0]?.body, "PUT /p 4 data");
  } finally {
    conn.close();
  }
});

Deno.test("http1: malformed or smuggling heads get 400, long ones 431, and the connection closes", async () => {
  await using server = await start(echo);
  const cases: [string, number][] = [
    ["GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["GET /a HTTP/1.1\r\nHost: x\r\n folded: value\r\n\r\n", 400],
    ["GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400],
    ["GET /a HTTP/2.0\r\nHost: x\r\n\r\n", 400],
    ["POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400],
    ["POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501],
    [`GET /a HTTP/1.1\r\nHost: x\r\nX-Big: ${"y".repeat(2000)}\r\n\r\n`, 431],
  ];
  for (const [raw, status] of cases) {
    const reply = await exchange(server.port, raw);
    assert.match(reply, new RegExp(`^HTTP/1\\.1 ${status} `), JSON.stringify(raw.slice(0, 60)));
    assert.match(reply, /connection: close/);
  }
  await waitFor("every place released", () => server.budget.total === 0);
});

Deno.test("http1: a client that leaves aborts its request's signal", async () => {
  let aborted = false;
  let started = () => {};
  const waiting = new Promise<void>((resolve) => started = resolve);
  await using server = await start(fetchHandler((req) =>
    new Promise<Response>((resolve) => {
      started();
      req.signal.addEventListener("abort", () => {
        aborted = true;
        resolve(new Response("late"));
      });
    }), quietLog));
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await conn.write(encoder.encode("GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"));
  await waiting;
  conn.close();
  await waitFor("the handler told", () => aborted);
  await waitFor("nothing in flight", () => server.inFlight === 0);
});

Deno.test("http1: a handler that throws gets 500 and the connection serves on", async () => {
  let calls = 0;
  await using server = await start(() => {
    if (calls++ === 0) throw new Error("boom");
    return { status: 204, headers: {}, body: null };
  });
  const reply = await exchange(
    server.port,
    "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  const [failed, empty, ...more] = responses(reply);
  assert.equal(more.length, 0);
  assert.equal(failed?.status, 500);
  assert.equal(empty?.status, 204);
  assert.equal(empty?.headers.has("content-length"), false, "no length on a 204");
});
