/**
 * The harness the API's endpoint cases run on: `createApiApp` over a given registry with a
 * test configuration (tokens set, proxy trusted, a public URL), a fake clock so that
 * rate-limit windows and token expiries are checked without waiting, every log line kept,
 * and `call()` to send a request with `app.request()` as a given client address with or
 * without the admin token. Test support only.
 */
import assert from "node:assert/strict";
import { loadConfig } from "@cascade/common/config";
import { MetricsRegistry } from "@cascade/common/metrics";
import type { NodeRecord, Registry, RegistryEvent, StreamRecord } from "@cascade/registry/types";
import { type CapturedLog, captureLog } from "../../tests/helpers/log.ts";
import { createApiApp } from "../src/app.ts";
import { apiConfigSchema } from "../src/config.ts";

export const ADMIN_TOKEN = "admin-token-for-tests-0123456789";
export const HOOK_TOKEN = "hook-token-for-tests-0123456789";
export const SIGNING_KEY = "playback-signing-key-for-tests-0123456789";
/** `PLAYBACK_API_TOKEN`, set only by the cases that configure it. */
export const PLAYBACK_TOKEN = "playback-api-token-for-tests-0123";
/** Where the fake clock starts, in epoch milliseconds. */
export const START = 1_800_000_000_000;
/** How long the API waits for an origin in these cases. */
export const ORIGIN_TIMEOUT_MS = 400;

export interface CallOptions {
  method?: string;
  /** Bearer token; `null` for none. Default: the right admin token. */
  token?: string | null;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
  /** Client address (sent as X-Forwarded-For; the harness trusts the proxy). */
  ip?: string;
}

export class Harness {
  readonly registry: Registry;
  readonly log: CapturedLog = captureLog();
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
      log: this.log,
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

  /** Marks `name` live on `originId`, as discovery would (`extra`: fields an origin adds). */
  async live(
    name: string,
    originId = "o1",
    extra: Partial<StreamRecord> = {},
  ): Promise<StreamRecord> {
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
      ...extra,
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

/** The encoder fields of a stream whose record carries no figures (or that is not live). */
export const NO_ENCODER_FIGURES = {
  keyframeInterval: null,
  frameRate: null,
  codecs: null,
  width: null,
  height: null,
  bitrate: null,
  warnings: [],
};

/** Asserts a JSON error answer `{error: {code, message}}` and returns its body. */
export async function expectError(res: Response, status: number, code?: string, like?: RegExp) {
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

/** Matches the `stream.kick` of `name`. */
export const kickOf = (name: string) => (e: RegistryEvent) =>
  e.type === "stream.kick" && e.name === name;

/** One endpoint case: a name and what it does with a fresh harness. */
export type ApiCase = [name: string, fn: (h: Harness) => Promise<void>];
