/**
 * The API's endpoint cases, written once and run with `app.request()` against each registry
 * backend: `app_test.ts` over `MemoryRegistry`, `tests/api_redis_test.ts` over a real
 * redis-server. Every endpoint is covered with its good path and each kind of bad input
 * (invalid field, unknown field, malformed or oversized body, wrong media type, unknown
 * stream, missing or wrong token, repeated failures, registry outage). The clock is fake so
 * that rate-limit windows and token expiries are checked without waiting. Recordings are
 * listed from real origin listeners: `/recordings` of the origin on a random port.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Hono } from "hono";
import { loadConfig } from "@cascade/common/config";
import type { LogFields, Logger } from "@cascade/common/log";
import { MetricsRegistry } from "@cascade/common/metrics";
import { verifyPlaybackToken } from "@cascade/common/playback_token";
import { sha256Hex } from "@cascade/common/secrets";
import { box, ftyp, mvhd } from "@cascade/media/mp4/boxes";
import type { NodeRecord, Registry, RegistryEvent, StreamRecord } from "@cascade/registry/types";
import { listRecordings } from "../../recording/api.ts";
import { createRecordingsApp } from "../../recording/http.ts";
import { createApiApp, MAX_BODY_BYTES } from "./app.ts";
import { apiConfigSchema } from "./config.ts";
import { STREAM_KEY_RE } from "./stream_keys.ts";

export const ADMIN_TOKEN = "admin-token-for-tests-0123456789";
export const HOOK_TOKEN = "hook-token-for-tests-0123456789";
export const SIGNING_KEY = "playback-signing-key-for-tests-0123456789";
const START = 1_800_000_000_000;
/** How long the API waits for an origin in these cases. */
const ORIGIN_TIMEOUT_MS = 400;

/** A logger that keeps every line as JSON text, so tests can look for leaked secrets. */
export function recordingLogger(lines: string[], base: LogFields = {}): Logger {
  const write = (level: string) => (event: string, fields?: LogFields) => {
    lines.push(JSON.stringify({ level, event, ...base, ...fields }));
  };
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
    child: (fields) => recordingLogger(lines, { ...base, ...fields }),
  };
}

interface CallOptions {
  method?: string;
  /** Admin bearer token; `null` for none. Default: the right one. */
  token?: string | null;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  /** Client address (sent as X-Forwarded-For; the harness trusts the proxy). */
  ip?: string;
}

export class Harness {
  readonly registry: Registry;
  readonly lines: string[] = [];
  readonly metrics = new MetricsRegistry();
  clock = START;
  app!: ReturnType<typeof createApiApp>;

  constructor(registry: Registry, env: Record<string, string> = {}) {
    this.registry = registry;
    this.configure(env);
  }

  /** Rebuilds the app with the default test environment plus `env`. */
  configure(env: Record<string, string>): void {
    const config = loadConfig(apiConfigSchema, {
      API_ADMIN_TOKEN: ADMIN_TOKEN,
      HOOK_TOKEN,
      TRUST_PROXY: "true",
      API_PUBLIC_URL: "https://api.test",
      ...env,
    });
    this.app = createApiApp({
      registry: this.registry,
      config,
      log: recordingLogger(this.lines),
      metrics: this.metrics,
      now: () => this.clock,
      originTimeoutMs: ORIGIN_TIMEOUT_MS,
    });
  }

  call(path: string, o: CallOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { "x-forwarded-for": o.ip ?? "192.0.2.1" };
    const token = o.token === undefined ? ADMIN_TOKEN : o.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body = o.body;
    if (o.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(o.json);
    }
    return Promise.resolve(
      this.app.request(path, {
        method: o.method ?? (body === undefined ? "GET" : "POST"),
        headers: { ...headers, ...o.headers },
        body,
      }),
    );
  }

  /** Creates `name` over the API and returns its key. */
  async create(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await this.call("/api/v1/streams", { json: { name, ...extra } });
    assert.equal(res.status, 201, await res.clone().text());
    return (await res.json()).streamKey;
  }

  /** Asks the Cascade publish hook for `key`. */
  hook(key: string, clientIp = "198.51.100.7", token: string | null = HOOK_TOKEN) {
    return this.call("/api/v1/hooks/publish", {
      token,
      json: { app: "live", key, clientIp, originId: "o1" },
    });
  }

  /** Marks `name` live on `originId`, as discovery would. */
  async live(name: string, originId = "o1"): Promise<StreamRecord> {
    const originUrl = `http://${originId}.test:8081`;
    const record: StreamRecord = {
      name,
      originId,
      originUrl,
      manifest: `${originUrl}/live/${name}/index.m3u8`,
      startedAt: START - 60_000,
      updatedAt: START - 1000,
      targetDuration: 2,
      mediaSequence: 10,
    };
    const claim = await this.registry.claimStream(record, 60_000);
    assert.ok(claim.ok);
    return record;
  }

  async node(
    kind: "origin" | "edge",
    id: string,
    extra: Partial<NodeRecord> = {},
  ): Promise<NodeRecord> {
    const node: NodeRecord = {
      id,
      kind,
      url: kind === "edge" ? `http://${id}.test:8000` : `http://${id}.test:8081`,
      region: "eu",
      load: 0,
      startedAt: START,
      ...extra,
    };
    await this.registry.announceNode(node, 60_000);
    return node;
  }

  /** Events published from now on. */
  async events(): Promise<RegistryEvent[]> {
    const seen: RegistryEvent[] = [];
    await this.registry.subscribe((e) => seen.push(e));
    return seen;
  }
}

/** A recording chunk as the recorder names it, with an `mvhd` saying how long it lasts. */
function chunk(seconds: number): Uint8Array {
  const head = mvhd({
    created: new Date(START),
    timescale: 1000,
    duration: seconds * 1000,
    nextTrackId: 2,
  });
  const moov = box("moov", head);
  const out = new Uint8Array(ftyp().length + moov.length);
  out.set(ftyp());
  out.set(moov, ftyp().length);
  return out;
}

interface RecordingsOrigin extends AsyncDisposable {
  url: string;
  dir: string;
}

/**
 * A real origin HTTP listener serving `/recordings` from a temporary `RECORD_DIR` holding
 * `files` (`{name}/{file}` → seconds), with the origin's own listing and download routes.
 */
async function recordingsOrigin(
  files: Record<string, number>,
  listToken?: string,
): Promise<RecordingsOrigin> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-api-rec-" });
  for (const [path, seconds] of Object.entries(files)) {
    await Deno.mkdir(join(dir, path.split("/")[0]!), { recursive: true });
    await Deno.writeFile(join(dir, path), chunk(seconds));
  }
  let url = "";
  const app = new Hono();
  app.route(
    "/recordings",
    createRecordingsApp({
      dir,
      list: (name) => listRecordings(dir, name, { baseUrl: url }),
      listToken,
    }),
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  url = `http://127.0.0.1:${server.addr.port}`;
  return {
    url,
    dir,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** An origin whose every answer is `body` with status 200: not a listing. */
function confusedOrigin(body: string): AsyncDisposable & { url: string } {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(body, { headers: { "Content-Type": "application/json" } }),
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

/** An address that accepts connections and never answers, like a wedged origin. */
function silentOrigin(): AsyncDisposable & { url: string } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) conns.push(conn);
    } catch { /* closed */ }
  })();
  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of conns) conn.close();
      await accepting;
    },
  };
}

async function expectError(res: Response, status: number, code?: string, like?: RegExp) {
  const text = await res.text();
  assert.equal(res.status, status, text);
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  const body = JSON.parse(text);
  assert.equal(typeof body.error?.code, "string", text);
  assert.equal(typeof body.error?.message, "string", text);
  if (code !== undefined) assert.equal(body.error.code, code, text);
  if (like !== undefined) assert.match(body.error.message, like);
  return body;
}

async function eventually<T>(what: string, check: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + 3000;
  while (true) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const kickOf = (name: string) => (e: RegistryEvent) => e.type === "stream.kick" && e.name === name;

export type ApiCase = [name: string, fn: (h: Harness) => Promise<void>];

export const apiCases: ApiCase[] = [
  ["POST /streams creates a stream whose key is shown once and stored as SHA-256", async (h) => {
    await h.node("origin", "o2", { rtmpUrl: "rtmp://10.0.0.2:1935/live/" });
    await h.node("origin", "o1", { rtmpUrl: "rtmp://10.0.0.1:1935/live" });
    await h.node("origin", "o3");
    h.configure({ RTMP_INGEST_URLS: "rtmp://ingest.test/live" });
    const res = await h.call("/api/v1/streams", { json: { name: "cam1" } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.headers.get("location"), "/api/v1/streams/cam1");
    const body = await res.json();
    assert.match(body.streamKey, STREAM_KEY_RE);
    assert.deepEqual(body, {
      name: "cam1",
      streamKey: body.streamKey,
      ingestUrls: [
        `rtmp://ingest.test/live/${body.streamKey}`,
        `rtmp://10.0.0.1:1935/live/${body.streamKey}`,
        `rtmp://10.0.0.2:1935/live/${body.streamKey}`,
      ],
      playbackUrl: "https://api.test/api/v1/streams/cam1/playback",
    });
    const cfg = await h.registry.getStreamConfig("cam1");
    assert.deepEqual(cfg, {
      name: "cam1",
      keyHash: await sha256Hex(body.streamKey),
      createdAt: h.clock,
      disabled: false,
      record: false,
    });
    assert.equal(await h.registry.resolveKeyHash(await sha256Hex(body.streamKey)), "cam1");
    const other = await h.create("cam2", { record: true });
    assert.notEqual(other, body.streamKey);
    assert.equal((await h.registry.getStreamConfig("cam2"))?.record, true);
  }],

  ["POST /streams refuses an existing name with 409 and leaves its key alone", async (h) => {
    const key = await h.create("cam1");
    await expectError(
      await h.call("/api/v1/streams", { json: { name: "cam1" } }),
      409,
      "conflict",
      /cam1/,
    );
    assert.equal((await (await h.hook(key)).json()).name, "cam1");
  }],

  ["POST /streams answers bad bodies with 400 naming the field, 413 and 415", async (h) => {
    const cases: [unknown, RegExp][] = [
      [{}, /"name": required/],
      [{ name: "Cam 1" }, /"name"/],
      [{ name: "" }, /"name"/],
      [{ name: "a".repeat(65) }, /"name"/],
      [{ name: "-cam" }, /"name"/],
      [{ name: 42 }, /"name"/],
      [{ name: "cam1", record: "yes" }, /"record"/],
      [{ name: "cam1", disable: true }, /Unknown body field: "disable"/],
      [[{ name: "cam1" }], /body/],
      ["cam1", /body/],
    ];
    for (const [json, like] of cases) {
      await expectError(await h.call("/api/v1/streams", { json }), 400, "invalid_request", like);
    }
    await expectError(
      await h.call("/api/v1/streams", {
        body: '{"name": "cam1"',
        headers: { "content-type": "application/json" },
      }),
      400,
    );
    await expectError(
      await h.call("/api/v1/streams", {
        body: "name=cam1",
        headers: { "content-type": "text/plain" },
      }),
      415,
    );
    await expectError(
      await h.call("/api/v1/streams", {
        json: { name: "cam1", pad: "x".repeat(MAX_BODY_BYTES) },
      }),
      413,
      "payload_too_large",
    );
    // Without Content-Length the limit is enforced while the body streams in.
    const chunk = new TextEncoder().encode("x".repeat(16 * 1024));
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    await expectError(
      await h.call("/api/v1/streams", {
        body: stream,
        headers: { "content-type": "application/json" },
      }),
      413,
    );
    assert.deepEqual(await h.registry.listStreamConfigs(), []);
  }],

  ["admin routes answer 401 without the right bearer token", async (h) => {
    const key = await h.create("cam1");
    const routes: [string, CallOptions][] = [
      ["/api/v1/streams", { method: "GET" }],
      ["/api/v1/streams", { json: { name: "cam2" } }],
      ["/api/v1/streams/cam1", { method: "GET" }],
      ["/api/v1/streams/cam1/rotate-key", { method: "POST" }],
      ["/api/v1/streams/cam1/recordings", {}],
      ["/api/v1/streams/cam1", { method: "PATCH", json: { disabled: true } }],
      ["/api/v1/streams/cam1", { method: "DELETE" }],
    ];
    let n = 0;
    for (const [path, o] of routes) {
      for (const token of [null, "wrong-token-0123456789", HOOK_TOKEN]) {
        // A new address each time, so that the rate limit does not kick in here.
        const res = await h.call(path, { ...o, token, ip: `203.0.113.${++n}` });
        await expectError(res, 401, "unauthorized");
        assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="admin"/);
      }
    }
    const basic = await h.call("/api/v1/streams", {
      token: null,
      headers: { authorization: `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}` },
      ip: "203.0.113.99",
    });
    await expectError(basic, 401);
    assert.equal((await h.registry.getStreamConfig("cam1"))?.disabled, false);
    assert.equal((await (await h.hook(key)).json()).name, "cam1");
    assert.equal(await h.registry.getStreamConfig("cam2"), null);
  }],

  ["admin routes refuse with 503 naming API_ADMIN_TOKEN when it is not set", async (h) => {
    h.configure({ API_ADMIN_TOKEN: "" });
    for (const token of [null, ADMIN_TOKEN]) {
      await expectError(
        await h.call("/api/v1/streams", { json: { name: "cam1" }, token }),
        503,
        "not_configured",
        /API_ADMIN_TOKEN/,
      );
    }
    assert.equal(await h.registry.getStreamConfig("cam1"), null);
  }],

  [
    "repeated failed admin auth from one address is answered 429 until the window passes",
    async (h) => {
      h.configure({ AUTH_FAILURE_LIMIT: "3", AUTH_FAILURE_WINDOW_SECONDS: "60" });
      const attacker = "203.0.113.50";
      for (let i = 0; i < 3; i++) {
        await expectError(
          await h.call("/api/v1/streams", { token: `guess-${i}`, ip: attacker }),
          401,
        );
      }
      const blocked = await h.call("/api/v1/streams", { ip: attacker });
      await expectError(blocked, 429, "too_many_requests");
      assert.equal(blocked.headers.get("retry-after"), "60");
      assert.equal((await h.call("/api/v1/streams", { ip: "203.0.113.51" })).status, 200);
      h.clock += 59_000;
      await expectError(await h.call("/api/v1/streams", { ip: attacker }), 429);
      h.clock += 1_000;
      assert.equal((await h.call("/api/v1/streams", { ip: attacker })).status, 200);
    },
  ],

  ["GET /streams and /streams/{name} show state and liveness, never a key", async (h) => {
    const k1 = await h.create("cam1");
    h.clock += 1000;
    const k2 = await h.create("cam0", { record: true });
    await h.live("cam1", "o7");
    const res = await h.call("/api/v1/streams");
    assert.equal(res.status, 200);
    const text = await res.text();
    for (const secret of [k1, k2, await sha256Hex(k1), await sha256Hex(k2)]) {
      assert.ok(!text.includes(secret), "a key or its hash leaked into the list");
    }
    assert.deepEqual(JSON.parse(text), {
      streams: [
        {
          name: "cam0",
          createdAt: new Date(h.clock).toISOString(),
          disabled: false,
          record: true,
          live: false,
          originId: null,
          startedAt: null,
          playbackUrl: "https://api.test/api/v1/streams/cam0/playback",
        },
        {
          name: "cam1",
          createdAt: new Date(h.clock - 1000).toISOString(),
          disabled: false,
          record: false,
          live: true,
          originId: "o7",
          startedAt: new Date(h.clock - 1000 - 60_000).toISOString(),
          playbackUrl: "https://api.test/api/v1/streams/cam1/playback",
        },
      ],
    });
    const one = await h.call("/api/v1/streams/cam1");
    assert.equal(one.status, 200);
    const oneText = await one.text();
    assert.ok(!oneText.includes(k1));
    assert.equal(JSON.parse(oneText).live, true);
    await expectError(await h.call("/api/v1/streams/nope"), 404, "not_found", /nope/);
    await expectError(
      await h.call("/api/v1/streams/Bad.Name"),
      400,
      "invalid_request",
      /path parameter "name"/,
    );
  }],

  ["POST /streams/{name}/rotate-key replaces the key: the old one is refused", async (h) => {
    await h.node("origin", "o1", { rtmpUrl: "rtmp://10.0.0.1:1935/live" });
    const old = await h.create("cam1", { record: true });
    const res = await h.call("/api/v1/streams/cam1/rotate-key", { method: "POST" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assert.match(body.streamKey, STREAM_KEY_RE);
    assert.notEqual(body.streamKey, old);
    assert.deepEqual(body.ingestUrls, [`rtmp://10.0.0.1:1935/live/${body.streamKey}`]);
    await expectError(await h.hook(old), 403, "unknown_key");
    assert.deepEqual(await (await h.hook(body.streamKey)).json(), { name: "cam1", record: true });
    const cfg = await h.registry.getStreamConfig("cam1");
    assert.equal(cfg?.record, true);
    assert.equal(await h.registry.resolveKeyHash(await sha256Hex(old)), null);
    await expectError(
      await h.call("/api/v1/streams/nope/rotate-key", { method: "POST" }),
      404,
    );
    await expectError(
      await h.call("/api/v1/streams/NOPE/rotate-key", { method: "POST" }),
      400,
    );
  }],

  [
    "PATCH /streams/{name} disabling kicks the stream and refuses its key until enabled",
    async (h) => {
      const key = await h.create("cam1");
      await h.live("cam1", "o1");
      const events = await h.events();
      const res = await h.call("/api/v1/streams/cam1", {
        method: "PATCH",
        json: { disabled: true },
      });
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.disabled, true);
      assert.equal(body.live, true);
      const kick = await eventually("stream.kick", () => events.find(kickOf("cam1")));
      assert.equal(kick.originId, "o1");
      await expectError(await h.hook(key), 403, "stream_disabled");
      const enable = await h.call("/api/v1/streams/cam1", {
        method: "PATCH",
        json: { disabled: false, record: true },
      });
      assert.equal(enable.status, 200);
      assert.deepEqual(await (await h.hook(key)).json(), { name: "cam1", record: true });
      assert.equal(events.filter(kickOf("cam1")).length, 1, "enabling must not kick");
    },
  ],

  ["PATCH /streams/{name} validates its body and the name", async (h) => {
    await h.create("cam1");
    const bad: [unknown, RegExp][] = [
      [{}, /at least one/],
      [{ disabled: "true" }, /"disabled"/],
      [{ record: 1 }, /"record"/],
      [{ disabled: true, name: "x" }, /Unknown body field: "name"/],
    ];
    for (const [json, like] of bad) {
      await expectError(
        await h.call("/api/v1/streams/cam1", { method: "PATCH", json }),
        400,
        "invalid_request",
        like,
      );
    }
    assert.equal((await h.registry.getStreamConfig("cam1"))?.disabled, false);
    await expectError(
      await h.call("/api/v1/streams/nope", { method: "PATCH", json: { disabled: true } }),
      404,
    );
    await expectError(
      await h.call("/api/v1/streams/x%2Fy", { method: "PATCH", json: { disabled: true } }),
      400,
    );
  }],

  ["DELETE /streams/{name} deletes the stream and its key and kicks it", async (h) => {
    const key = await h.create("cam1");
    await h.live("cam1", "o1");
    const events = await h.events();
    const res = await h.call("/api/v1/streams/cam1", { method: "DELETE" });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), "");
    await eventually("stream.kick", () => events.find(kickOf("cam1")));
    assert.equal(await h.registry.getStreamConfig("cam1"), null);
    assert.equal(await h.registry.resolveKeyHash(await sha256Hex(key)), null);
    await expectError(await h.hook(key), 403, "unknown_key");
    await expectError(await h.call("/api/v1/streams/cam1"), 404);
    await expectError(await h.call("/api/v1/streams/cam1", { method: "DELETE" }), 404);
  }],

  ["POST /hooks/publish answers 200 {name} for a good key and 403 otherwise", async (h) => {
    const key = await h.create("cam1", { record: true });
    const ok = await h.hook(key);
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { name: "cam1", record: true });
    for (const wrong of [`${key}x`, "sk_wrong", "cam1", "x".repeat(512)]) {
      await expectError(await h.hook(wrong, "198.51.100.1"), 403, "unknown_key");
    }
    const extra = await h.call("/api/v1/hooks/publish", {
      token: HOOK_TOKEN,
      json: { app: "live", key, clientIp: "198.51.100.2", originId: "o1", future: 1 },
    });
    assert.equal(extra.status, 200, "unknown hook fields are ignored");
  }],

  ["POST /hooks/publish checks HOOK_TOKEN and its body", async (h) => {
    const key = await h.create("cam1");
    for (const token of [null, "wrong-hook-token-0123", ADMIN_TOKEN]) {
      const res = await h.hook(key, "198.51.100.7", token);
      await expectError(res, 401, "unauthorized");
      assert.match(res.headers.get("www-authenticate") ?? "", /realm="hooks"/);
    }
    const bad: [unknown, RegExp][] = [
      [{ app: "live", clientIp: "1.2.3.4", originId: "o1" }, /"key": required/],
      [{ app: "live", key: "", clientIp: "1.2.3.4", originId: "o1" }, /"key"/],
      [{ app: "live", key: 5, clientIp: "1.2.3.4", originId: "o1" }, /"key"/],
      [{ app: "live", key, clientIp: "1".repeat(200), originId: "o1" }, /"clientIp"/],
      [{ app: "live", key: "k".repeat(513), clientIp: "1.2.3.4", originId: "o1" }, /"key"/],
    ];
    for (const [json, like] of bad) {
      const res = await h.call("/api/v1/hooks/publish", { token: HOOK_TOKEN, json });
      const body = await expectError(res, 400, "invalid_request", like);
      assert.ok(!JSON.stringify(body).includes(key), "a key was echoed in an error");
    }
    h.configure({ HOOK_TOKEN: "" });
    await expectError(await h.hook(key), 503, "not_configured", /HOOK_TOKEN/);
  }],

  [
    "POST /hooks/publish throttles one publisher address that keeps sending wrong keys",
    async (h) => {
      h.configure({ AUTH_FAILURE_LIMIT: "3" });
      const key = await h.create("cam1");
      for (let i = 0; i < 3; i++) {
        await expectError(await h.hook(`sk_guess_${i}`, "198.51.100.66"), 403);
      }
      const blocked = await h.hook(key, "198.51.100.66");
      await expectError(blocked, 429, "too_many_requests");
      assert.ok(Number(blocked.headers.get("retry-after")) > 0);
      // The origin itself is not blocked: other publishers behind it still get through.
      assert.equal((await h.hook(key, "198.51.100.67")).status, 200);
      h.clock += 60_000;
      assert.equal((await h.hook(key, "198.51.100.66")).status, 200);
    },
  ],

  [
    "POST /hooks/nginx/on_publish redirects to the public name or the relay, 403 otherwise",
    async (h) => {
      const key = await h.create("cam1");
      const form = (name: string) =>
        new URLSearchParams({
          call: "publish",
          app: "live",
          name,
          type: "live",
          addr: "198.51.100.9",
          tcurl: "rtmp://127.0.0.1:1935/live",
          clientid: "7",
        });
      const url = `/api/v1/hooks/nginx/on_publish?token=${HOOK_TOKEN}`;
      const plain = await h.call(url, { token: null, body: form(key) });
      assert.equal(plain.status, 302);
      assert.equal(plain.headers.get("location"), "cam1");
      const relayed = await h.call(
        `${url}&relay=${encodeURIComponent("rtmp://127.0.0.1:1935/hls")}`,
        { token: null, body: form(key) },
      );
      assert.equal(relayed.status, 302);
      assert.equal(relayed.headers.get("location"), "rtmp://127.0.0.1:1935/hls/cam1");
      const multipart = new FormData();
      multipart.set("name", key);
      const viaMultipart = await h.call(url, { token: null, body: multipart });
      assert.equal(viaMultipart.headers.get("location"), "cam1");
      await expectError(await h.call(url, { token: null, body: form("sk_wrong") }), 403);
      await expectError(
        await h.call(`${url}&relay=http://evil.test/x`, { token: null, body: form(key) }),
        400,
        "invalid_request",
        /"relay"/,
      );
      await expectError(
        await h.call(url, { token: null, body: new URLSearchParams({ app: "live" }) }),
        400,
        "invalid_request",
        /form field "name"/,
      );
      await expectError(
        await h.call("/api/v1/hooks/nginx/on_publish", { token: null, body: form(key) }),
        401,
      );
      await expectError(
        await h.call("/api/v1/hooks/nginx/on_publish?token=wrong", {
          token: null,
          body: form(key),
        }),
        401,
      );
      await h.call("/api/v1/streams/cam1", { method: "PATCH", json: { disabled: true } });
      await expectError(
        await h.call(url, { token: null, body: form(key) }),
        403,
        "stream_disabled",
      );
    },
  ],

  ["POST /hooks/nginx/on_publish_done is accepted with the token only", async (h) => {
    const form = new URLSearchParams({ call: "publish_done", app: "live", name: "sk_whatever" });
    const url = "/api/v1/hooks/nginx/on_publish_done";
    assert.equal(
      (await h.call(`${url}?token=${HOOK_TOKEN}`, { token: null, body: form })).status,
      200,
    );
    await expectError(await h.call(`${url}?token=nope`, { token: null, body: form }), 401);
  }],

  ["GET /live lists live streams with origin, start time and playback URLs", async (h) => {
    const empty = await h.call("/api/v1/live", { token: null });
    assert.equal(empty.status, 200);
    assert.deepEqual(await empty.json(), { streams: [] });
    await h.live("cam2", "o2");
    await h.live("cam1", "o1");
    await h.node("edge", "e1", { region: "eu" });
    const res = await h.call("/api/v1/live", { token: null });
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.deepEqual(await res.json(), {
      streams: ["cam1", "cam2"].map((name, i) => ({
        name,
        originId: `o${i + 1}`,
        startedAt: new Date(h.clock - 60_000).toISOString(),
        playbackUrl: `https://api.test/api/v1/streams/${name}/playback`,
        hls: `http://e1.test:8000/live/${name}/index.m3u8`,
      })),
    });
    await expectError(await h.call("/api/v1/live?region=a%20b", { token: null }), 400);
  }],

  [
    "GET /streams/{name}/playback is 404 when not live and the origin only without edges",
    async (h) => {
      await h.create("cam1");
      await expectError(
        await h.call("/api/v1/streams/cam1/playback", { token: null }),
        404,
        "not_live",
      );
      await expectError(await h.call("/api/v1/streams/Cam1/playback", { token: null }), 400);
      const record = await h.live("cam1", "o1");
      const res = await h.call("/api/v1/streams/cam1/playback", { token: null });
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), {
        name: "cam1",
        live: true,
        region: null,
        hls: record.manifest,
        edges: [],
        expiresAt: null,
      });
    },
  ],

  [
    "GET /streams/{name}/playback picks an edge by region: query, header, CIDR, default",
    async (h) => {
      h.configure({
        REGION_CIDRS: "10.0.0.0/8=eu,10.9.0.0/16=us,2001:db8::/32=us",
        DEFAULT_REGION: "ap",
      });
      await h.live("cam1");
      await h.node("edge", "eu1", { region: "eu" });
      await h.node("edge", "us1", { region: "us" });
      await h.node("edge", "ap1", { region: "ap" });
      const regionOf = async (path: string, o: CallOptions = {}) => {
        const res = await h.call(`/api/v1/streams/cam1/playback${path}`, { token: null, ...o });
        assert.equal(res.status, 200);
        const body = await res.json();
        assert.equal(body.hls, body.edges[0].hls);
        return [body.region, body.edges[0].id];
      };
      assert.deepEqual(await regionOf("?region=us"), ["us", "us1"]);
      assert.deepEqual(
        await regionOf("?region=us", { headers: { "x-viewer-region": "eu" } }),
        ["us", "us1"],
      );
      assert.deepEqual(await regionOf("", { headers: { "X-Viewer-Region": "eu" } }), ["eu", "eu1"]);
      assert.deepEqual(await regionOf("", { ip: "10.1.2.3" }), ["eu", "eu1"]);
      assert.deepEqual(await regionOf("", { ip: "10.9.2.3" }), ["us", "us1"]);
      assert.deepEqual(await regionOf("", { ip: "::ffff:10.9.2.3" }), ["us", "us1"]);
      assert.deepEqual(await regionOf("", { ip: "2001:db8::5" }), ["us", "us1"]);
      assert.deepEqual(await regionOf("", { ip: "192.0.2.1" }), ["ap", "ap1"]);
      await expectError(
        await h.call("/api/v1/streams/cam1/playback", {
          token: null,
          headers: { "x-viewer-region": "no way" },
        }),
        400,
        "invalid_request",
        /header "x-viewer-region"/,
      );
    },
  ],

  ["GET /streams/{name}/playback falls back to other regions and skips loaded edges", async (h) => {
    h.configure({ EDGE_LOAD_THRESHOLD: "100" });
    await h.live("cam1");
    await h.node("edge", "eu1", { region: "eu", load: 500 });
    await h.node("edge", "us1", { region: "us", load: 10 });
    const body = await (await h.call("/api/v1/streams/cam1/playback?region=eu", { token: null }))
      .json();
    assert.deepEqual(body.edges.map((e: { id: string }) => e.id), ["us1", "eu1"]);
    assert.equal(body.hls, "http://us1.test:8000/live/cam1/index.m3u8");
    const nowhere = await (await h.call("/api/v1/streams/cam1/playback?region=sa", { token: null }))
      .json();
    assert.equal(nowhere.edges[0].id, "us1");
  }],

  [
    "GET /streams/{name}/playback spreads streams over edges but keeps each stream on one",
    async (h) => {
      for (const id of ["e1", "e2", "e3", "e4"]) await h.node("edge", id, { region: "eu" });
      const chosen = new Map<string, string>();
      for (let i = 0; i < 24; i++) {
        const name = `cam${i}`;
        await h.live(name);
        const first = await (await h.call(`/api/v1/streams/${name}/playback?region=eu`, {
          token: null,
        })).json();
        const again = await (await h.call(`/api/v1/streams/${name}/playback?region=eu`, {
          token: null,
          ip: "192.0.2.200",
        })).json();
        assert.equal(again.hls, first.hls, "one stream's viewers must land on one edge");
        assert.equal(first.edges.length, 3);
        chosen.set(name, first.edges[0].id);
      }
      assert.ok(new Set(chosen.values()).size >= 3, "streams should spread over the edges");
    },
  ],

  ["GET /streams/{name}/playback signs HLS URLs when PLAYBACK_SIGNING_KEY is set", async (h) => {
    h.configure({ PLAYBACK_SIGNING_KEY: SIGNING_KEY, PLAYBACK_TOKEN_TTL_SECONDS: "600" });
    await h.live("cam1");
    await h.node("edge", "e1");
    await h.node("edge", "e2");
    const body = await (await h.call("/api/v1/streams/cam1/playback", { token: null })).json();
    const expires = Math.floor(h.clock / 1000) + 600;
    assert.equal(body.expiresAt, new Date(expires * 1000).toISOString());
    for (const url of [body.hls, ...body.edges.map((e: { hls: string }) => e.hls)]) {
      const token = new URL(url).searchParams.get("token");
      assert.ok(token, `no token in ${url}`);
      assert.deepEqual(await verifyPlaybackToken(SIGNING_KEY, "cam1", token, h.clock), {
        valid: true,
        expiresAt: expires,
      });
      assert.equal((await verifyPlaybackToken(SIGNING_KEY, "cam2", token, h.clock)).valid, false);
    }
    const live = await (await h.call("/api/v1/live", { token: null })).json();
    assert.match(live.streams[0].hls, /\?token=\d+\.[A-Za-z0-9_-]{43}$/);
  }],

  ["GET /streams/{name}/recordings merges every origin's chunks with download URLs", async (h) => {
    const a1 = "2026-01-15T08-00-00.000Z-1.mp4";
    const a2 = "2026-01-15T08-00-00.000Z-2.mp4";
    const b1 = "2026-01-15T09-30-00.000Z-1.mp4";
    await using o1 = await recordingsOrigin({
      [`cam1/${a2}`]: 4.5,
      [`cam1/${b1}`]: 7,
      [`cam2/${a1}`]: 1,
    });
    // The second origin guards its listing with HOOK_TOKEN, which the API presents.
    await using o2 = await recordingsOrigin({ [`cam1/${a1}`]: 15 }, HOOK_TOKEN);
    await h.node("origin", "o1", { url: o1.url });
    await h.node("origin", "o2", { url: `${o2.url}/` });
    await h.node("edge", "e1", { url: "http://127.0.0.1:1" });
    await h.create("cam1");
    await h.create("cam3");

    const res = await h.call("/api/v1/streams/cam1/recordings");
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get("cache-control"), "no-store");
    const body = await res.json();
    assert.equal(body.name, "cam1");
    assert.equal(body.partial, false);
    assert.deepEqual(body.unreachable, []);
    const size = chunk(1).length;
    assert.deepEqual(
      body.recordings.map((r: Record<string, unknown>) => [r.file, r.originId, r.durationSeconds]),
      [[a1, "o2", 15], [a2, "o1", 4.5], [b1, "o1", 7]],
    );
    for (const r of body.recordings) {
      assert.equal(r.size, size);
      assert.equal(r.archived, false);
      assert.equal(r.startedAt, new Date(START).toISOString());
      const origin = r.originId === "o1" ? o1 : o2;
      assert.equal(r.url, `${origin.url}/recordings/cam1/${r.file}`);
    }
    const download = await fetch(body.recordings[0].url);
    assert.equal(download.status, 200);
    assert.deepEqual(
      new Uint8Array(await download.arrayBuffer()),
      await Deno.readFile(join(o2.dir, "cam1", a1)),
    );

    // A known stream with nothing recorded lists nothing.
    const empty = await (await h.call("/api/v1/streams/cam3/recordings")).json();
    assert.deepEqual(empty, { name: "cam3", recordings: [], partial: false, unreachable: [] });
    await expectError(await h.call("/api/v1/streams/nope/recordings"), 404, "not_found");
    await expectError(await h.call("/api/v1/streams/Bad!/recordings"), 400, "invalid_request");
    await expectError(await h.call("/api/v1/streams/cam1/recordings", { token: null }), 401);
  }],

  [
    "GET /streams/{name}/recordings skips origins that fail and says the list is partial",
    async (h) => {
      const file = "2026-01-15T08-00-00.000Z-1.mp4";
      await using good = await recordingsOrigin({ [`cam1/${file}`]: 3 });
      await using guarded = await recordingsOrigin(
        { [`cam1/${file}`]: 3 },
        "another-hook-token-0123",
      );
      await using silent = silentOrigin();
      const closed = silentOrigin();
      const closedUrl = closed.url;
      await closed[Symbol.asyncDispose]();
      await using garbage = confusedOrigin(JSON.stringify({ recordings: [{ file: 5 }] }));
      await h.node("origin", "good", { url: good.url });
      await h.node("origin", "guarded", { url: guarded.url });
      await h.node("origin", "silent", { url: silent.url });
      await h.node("origin", "refused", { url: closedUrl });
      await h.node("origin", "garbage", { url: garbage.url });
      await h.create("cam1");

      const started = performance.now();
      const res = await h.call("/api/v1/streams/cam1/recordings");
      const took = performance.now() - started;
      assert.equal(res.status, 200);
      const body = await res.json();
      assert.equal(body.partial, true);
      assert.deepEqual(body.unreachable, ["garbage", "guarded", "refused", "silent"]);
      assert.deepEqual(body.recordings.map((r: { originId: string }) => r.originId), ["good"]);
      assert.ok(took < ORIGIN_TIMEOUT_MS + 1500, `took ${took.toFixed(0)} ms`);
      const logged = h.lines.filter((l) => l.includes("recordings.origin_failed"));
      assert.equal(logged.length, 4);
      assert.ok(!logged.join("\n").includes(HOOK_TOKEN));
    },
  ],

  ["every route answers 503 JSON while the registry is unreachable", async (h) => {
    const key = await h.create("cam1");
    await h.registry.close();
    const calls: [string, CallOptions][] = [
      ["/api/v1/streams", { json: { name: "cam2" } }],
      ["/api/v1/streams", {}],
      ["/api/v1/streams/cam1", {}],
      ["/api/v1/streams/cam1/rotate-key", { method: "POST" }],
      ["/api/v1/streams/cam1", { method: "PATCH", json: { disabled: true } }],
      ["/api/v1/streams/cam1", { method: "DELETE" }],
      ["/api/v1/live", { token: null }],
      ["/api/v1/streams/cam1/playback", { token: null }],
    ];
    for (const [path, o] of calls) {
      const res = await h.call(path, o);
      await expectError(res, 503, "unavailable");
      assert.equal(res.headers.get("retry-after"), "1");
    }
    await expectError(await h.hook(key), 503, "unavailable");
  }],

  ["no stream key or token ever reaches a log line", async (h) => {
    h.configure({ LOG_LEVEL: "debug", PLAYBACK_SIGNING_KEY: SIGNING_KEY });
    const key = await h.create("cam1");
    const rotated = await (await h.call("/api/v1/streams/cam1/rotate-key", { method: "POST" }))
      .json();
    await h.hook(key);
    await h.hook(rotated.streamKey);
    await h.call(`/api/v1/hooks/nginx/on_publish?token=${HOOK_TOKEN}`, {
      token: null,
      body: new URLSearchParams({ name: rotated.streamKey, addr: "198.51.100.3" }),
    });
    await h.call(`/api/v1/hooks/nginx/on_publish_done?token=${HOOK_TOKEN}`, {
      token: null,
      body: new URLSearchParams({ name: rotated.streamKey }),
    });
    await h.call("/api/v1/streams", { token: "a-wrong-admin-token-123" });
    await h.call("/api/v1/hooks/publish", { token: HOOK_TOKEN, json: { key: 5 } });
    await h.live("cam1");
    await h.call("/api/v1/streams/cam1/playback", { token: null });
    const logged = h.lines.join("\n");
    assert.match(logged, /publish\.allowed/);
    assert.match(logged, /publish\.refused/);
    for (const secret of [key, rotated.streamKey, ADMIN_TOKEN, HOOK_TOKEN, SIGNING_KEY]) {
      assert.ok(!logged.includes(secret), "a secret reached the log");
    }
    assert.ok(!logged.includes("a-wrong-admin-token-123"));
  }],

  ["the OpenAPI document and the docs page describe every route", async (h) => {
    const res = await h.call("/api/v1/openapi.json", { token: null });
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.match(doc.openapi, /^3\./);
    const operations = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.deepEqual(operations, [
      "DELETE /api/v1/streams/{name}",
      "GET /api/v1/live",
      "GET /api/v1/streams",
      "GET /api/v1/streams/{name}",
      "GET /api/v1/streams/{name}/playback",
      "GET /api/v1/streams/{name}/recordings",
      "PATCH /api/v1/streams/{name}",
      "POST /api/v1/hooks/nginx/on_publish",
      "POST /api/v1/hooks/nginx/on_publish_done",
      "POST /api/v1/hooks/publish",
      "POST /api/v1/streams",
      "POST /api/v1/streams/{name}/rotate-key",
    ]);
    assert.deepEqual(doc.paths["/api/v1/streams"].post.security, [{ adminToken: [] }]);
    assert.ok(doc.components.schemas.CreateStream.properties.name.pattern);
    const page = await h.call("/api/v1/docs", { token: null });
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    assert.match(page.headers.get("content-security-policy") ?? "", /default-src 'none'/);
    const html = await page.text();
    for (const op of operations) {
      const [method, path] = op.split(" ") as [string, string];
      assert.ok(html.includes(`>${method}</span> <code>${path}</code>`), `docs miss ${op}`);
    }
    assert.ok(html.includes('id="schema-StreamKeyGrant"'));
    assert.ok(!/<script/i.test(html));
  }],

  ["unknown routes are 404 JSON and public routes send CORS headers", async (h) => {
    await expectError(await h.call("/api/v1/nope", { token: null }), 404, "not_found");
    await expectError(
      await h.call("/api/v1/live", { token: null, method: "DELETE" }),
      404,
    );
    const res = await h.call("/api/v1/live", {
      token: null,
      headers: { origin: "https://player.test" },
    });
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    const admin = await h.call("/api/v1/streams", { headers: { origin: "https://player.test" } });
    assert.equal(admin.headers.get("access-control-allow-origin"), null);
  }],

  ["requests are counted per route pattern in the metrics", async (h) => {
    await h.create("cam1");
    await h.call("/api/v1/streams/nope");
    const text = h.metrics.render();
    assert.match(text, /cascade_api_requests_total\{route="\/api\/v1\/streams",status="201"\} 1/);
    assert.match(
      text,
      /cascade_api_requests_total\{route="\/api\/v1\/streams\/:name",status="404"\} 1/,
    );
  }],
];

/** A source of fresh, empty registries on one store; disposed after the last case. */
export interface ApiBackend extends AsyncDisposable {
  open(): Promise<Registry>;
}

/** Registers the cases as one test with a step each, each on a fresh registry. */
export function apiSuite(name: string, backend: () => Promise<ApiBackend>): void {
  Deno.test(name, async (t) => {
    await using source = await backend();
    for (const [caseName, fn] of apiCases) {
      await t.step(caseName, async () => {
        const registry = await source.open();
        try {
          await fn(new Harness(registry));
        } finally {
          await registry.close();
        }
      });
    }
  });
}
