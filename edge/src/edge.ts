/**
 * The edge's request logic, independent of any HTTP server: `Edge.handle` takes a method,
 * a request target and headers and returns status, headers and a body held in memory. Both
 * server adapters (`app.ts` for Hono / `Deno.serve`, `node_server.ts` for `node:http`) are
 * thin wrappers around it, so they behave identically.
 *
 * A media request is checked (path, file, playback token) before anything else, then the
 * stream is looked up (`lookup.ts`), then answered from the cache or from one origin fetch
 * that concurrent misses share (`cache.ts`). An origin failure triggers a fresh lookup and
 * one retry against whoever owns the stream now; a stream gone from the registry is a 404
 * at once, and a playlist may be served stale for at most one target duration while its
 * origin cannot be reached. Bodies are validated before they are cached (a segment must be
 * whole MPEG-TS packets, a playlist must parse), so a truncated or garbled origin answer
 * is a 502 for the viewers waiting on it and is never served again.
 */
import { log as rootLog, type Logger } from "@cascade/common/log";
import { errorBody, HttpError } from "@cascade/common/http_errors";
import {
  type CounterChild,
  MetricsRegistry,
  PROMETHEUS_CONTENT_TYPE,
} from "@cascade/common/metrics";
import { verifyPlaybackToken } from "@cascade/common/playback_token";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import { type Registry, RegistryUnavailableError, type StreamRecord } from "@cascade/registry";
import { parseRange } from "../../origin/src/http.ts";
import {
  broadcastKey,
  ByteLru,
  type CachedObject,
  cacheKey,
  type CacheResult,
  Coalescer,
  entrySize,
} from "./cache.ts";
import { LoadMeter } from "./load.ts";
import { type LookupOutcome, StreamLookup, type StreamLookupOptions } from "./lookup.ts";
import { OriginClient, type OriginErrorReason, OriginFetchError } from "./origin_client.ts";
import {
  MAX_TARGET_LENGTH,
  type MediaKind,
  type MediaTarget,
  parseMediaTarget,
  splitTarget,
} from "./paths.ts";
import { addTokenToUris } from "./playlist_edit.ts";
import { Timelines } from "./timeline.ts";

/** A request as the edge needs it. */
export interface EdgeRequest {
  method: string;
  /** Request target as sent: path and query, still percent-encoded. */
  target: string;
  /** A request header by lower-case name. */
  header(name: string): string | null | undefined;
  /** Size of the request line and headers, when the server does not enforce the limit. */
  headBytes?: number;
}

/** A complete answer; `body` is null for HEAD, 204 and 304. */
export interface EdgeReply {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array<ArrayBuffer> | null;
}

export interface EdgeOptions {
  registry: Registry;
  /** Byte budget of the cache (`EDGE_CACHE_MB` × 2^20). */
  cacheBytes: number;
  metrics?: MetricsRegistry;
  log?: Logger;
  /** `PLAYBACK_SIGNING_KEY`: when set, every media request needs a valid `?token=`. */
  signingKey?: string | undefined;
  /** `Access-Control-Allow-Origin`; `"*"` when omitted, no CORS headers when `""`. */
  corsOrigin?: string;
  connectTimeoutMs?: number;
  playlistTimeoutMs?: number;
  segmentTimeoutMs?: number;
  /** The origin client (default: one built from the timeouts above, closed with the edge). */
  client?: OriginClient;
  lookup?: Pick<StreamLookupOptions, "positiveMs" | "negativeMs" | "retryMs" | "clock">;
  /** Liveness beyond draining, for `/healthz`. */
  healthy?: () => boolean;
  /** Wall clock, epoch milliseconds (token expiry, `Age`, playlist freshness). */
  now?: () => number;
}

/** Largest request head accepted: request line plus headers. */
export const MAX_HEAD_BYTES = 16 * 1024;

const PLAYLIST_TYPE = "application/vnd.apple.mpegurl";
const SEGMENT_TYPE = "video/mp2t";
const SEGMENT_CACHE = "public, max-age=31536000, immutable";
const EXPOSED = "Content-Length, Content-Range, Age, ETag, X-Cache";
const ALLOWED_METHODS = "GET, HEAD, OPTIONS";
const DEFAULT_ALLOWED_HEADERS = "Range, If-None-Match, If-Range";
const TOKEN_LIST_RE = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+(\s*,\s*[A-Za-z0-9!#$%&'*+.^_`|~-]+)*$/;
const TS_PACKET = 188;
/** Target duration assumed when neither the playlist nor the registry gives one. */
const FALLBACK_TARGET_SECONDS = 2;
/** Verified tokens remembered, so steady viewers cost no HMAC per request. */
const TOKEN_MEMO_LIMIT = 10_000;
const ORIGIN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** What a media request was answered from. */
interface Got {
  obj: CachedObject | null;
  result: CacheResult;
  record: StreamRecord;
}

export class Edge {
  readonly cache: ByteLru<CachedObject>;
  readonly lookup: StreamLookup;
  readonly load: LoadMeter;
  readonly metrics: MetricsRegistry;
  readonly #log: Logger;
  readonly #client: OriginClient;
  readonly #ownsClient: boolean;
  readonly #flights = new Coalescer<CachedObject | null>();
  readonly #timelines = new Timelines();
  readonly #signingKey: string | undefined;
  readonly #cors: string;
  readonly #playlistTimeoutMs: number;
  readonly #segmentTimeoutMs: number;
  readonly #healthy: () => boolean;
  readonly #now: () => number;
  readonly #tokens = new Map<string, number>();
  readonly #m: ReturnType<typeof registerMetrics>;
  #draining = false;
  #active = 0;

  constructor(opts: EdgeOptions) {
    this.#log = (opts.log ?? rootLog).child({ component: "edge" });
    this.#now = opts.now ?? Date.now;
    this.cache = new ByteLru<CachedObject>(opts.cacheBytes, entrySize);
    this.lookup = new StreamLookup({ registry: opts.registry, log: this.#log, ...opts.lookup });
    this.load = new LoadMeter();
    this.#ownsClient = opts.client === undefined;
    this.#client = opts.client ?? new OriginClient({ connectTimeoutMs: opts.connectTimeoutMs });
    this.#signingKey = opts.signingKey;
    this.#cors = opts.corsOrigin ?? "*";
    this.#playlistTimeoutMs = opts.playlistTimeoutMs ?? 2000;
    this.#segmentTimeoutMs = opts.segmentTimeoutMs ?? 10_000;
    this.#healthy = opts.healthy ?? (() => true);
    this.metrics = opts.metrics ?? new MetricsRegistry();
    this.#m = registerMetrics(this.metrics, this);
    const lookups = new Map<LookupOutcome, CounterChild>();
    this.lookup.onOutcome = (outcome) => {
      let child = lookups.get(outcome);
      if (child === undefined) {
        child = this.#m.lookups.labels(outcome);
        lookups.set(outcome, child);
      }
      child.inc();
    };
  }

  /** Subscribes to stream events; call once before serving. */
  async start(): Promise<void> {
    await this.lookup.start();
  }

  /** Stops listening to the registry and closes the origin connections (when owned). */
  async close(): Promise<void> {
    this.lookup.stop();
    if (this.#ownsClient) await this.#client.close();
  }

  /** From now on `/healthz` answers 503, so load balancers stop sending viewers. */
  drain(): void {
    this.#draining = true;
  }

  get draining(): boolean {
    return this.#draining;
  }

  /** Requests being handled now. */
  get active(): number {
    return this.#active;
  }

  /** Origin fetches in flight. */
  get fetching(): number {
    return this.#flights.size;
  }

  /** Answers one request; never throws. */
  async handle(req: EdgeRequest): Promise<EdgeReply> {
    this.#active++;
    let reply: EdgeReply;
    try {
      reply = await this.#route(req);
    } catch (err) {
      reply = this.#errorReply(req, err);
    } finally {
      this.#active--;
    }
    if (this.#cors !== "") {
      reply.headers["Access-Control-Allow-Origin"] = this.#cors;
      reply.headers["Access-Control-Expose-Headers"] = EXPOSED;
    }
    this.#m.status(reply.status).inc();
    if (reply.body !== null && req.method !== "HEAD") {
      this.#m.bytesOut.inc(reply.body.byteLength);
      this.load.sent(reply.body.byteLength);
    }
    return reply;
  }

  async #route(req: EdgeRequest): Promise<EdgeReply> {
    if (req.target.length > MAX_TARGET_LENGTH) {
      throw new HttpError(414, "uri_too_long", `URI too long: at most ${MAX_TARGET_LENGTH} bytes`);
    }
    if ((req.headBytes ?? 0) > MAX_HEAD_BYTES) {
      throw new HttpError(
        431,
        "headers_too_large",
        `Request headers too large: at most ${MAX_HEAD_BYTES} bytes`,
      );
    }
    const { path } = splitTarget(req.target);
    if (path === "/healthz") return this.#health(req);
    if (path === "/metrics") return this.#metricsReply(req);
    if (!path.startsWith("/live/")) throw new HttpError(404, "not_found", "Not found");
    if (req.method === "OPTIONS") return this.#preflight(req);
    if (req.method !== "GET" && req.method !== "HEAD") {
      throw new HttpError(405, "method_not_allowed", "Method not allowed: use GET or HEAD", {
        headers: { Allow: ALLOWED_METHODS },
      });
    }
    const target = parseMediaTarget(req.target);
    await this.#authorize(target);
    const record = await this.#find(target.name);
    const got = await this.#obtain(target, record);
    return target.kind === "segment"
      ? this.#segmentReply(req, got)
      : this.#playlistReply(req, target, got);
  }

  #health(req: EdgeRequest): EdgeReply {
    allowGetHead(req);
    const ok = !this.#draining && this.#healthy();
    return json(ok ? 200 : 503, { ok, draining: this.#draining });
  }

  #metricsReply(req: EdgeRequest): EdgeReply {
    allowGetHead(req);
    return {
      status: 200,
      headers: { "Content-Type": PROMETHEUS_CONTENT_TYPE, "Cache-Control": "no-cache" },
      body: encoder.encode(this.metrics.render()),
    };
  }

  #preflight(req: EdgeRequest): EdgeReply {
    const headers: Record<string, string> = { Allow: ALLOWED_METHODS };
    if (this.#cors !== "") {
      const asked = req.header("access-control-request-headers")?.trim();
      headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS;
      headers["Access-Control-Allow-Headers"] = asked && TOKEN_LIST_RE.test(asked)
        ? asked
        : DEFAULT_ALLOWED_HEADERS;
      headers["Access-Control-Max-Age"] = "86400";
      headers["Vary"] = "Access-Control-Request-Headers";
    }
    return { status: 204, headers, body: null };
  }

  async #authorize(target: MediaTarget): Promise<void> {
    const key = this.#signingKey;
    if (key === undefined) return;
    const token = target.token;
    if (token === null || token === "") {
      throw new HttpError(
        403,
        "token_required",
        "Playback token required: use the API's playback URL",
      );
    }
    const now = this.#now();
    const memoKey = `${target.name} ${token}`;
    const expires = this.#tokens.get(memoKey);
    if (expires !== undefined && expires * 1000 + 999 >= now) return;
    const check = await verifyPlaybackToken(key, target.name, token, now);
    if (!check.valid) {
      if (check.reason === "expired") {
        throw new HttpError(
          403,
          "token_expired",
          "Playback token expired: ask the API for a new URL",
        );
      }
      throw new HttpError(403, "token_invalid", "Playback token invalid for this stream");
    }
    if (this.#tokens.size >= TOKEN_MEMO_LIMIT) this.#tokens.clear();
    this.#tokens.set(memoKey, check.expiresAt);
  }

  async #find(name: string, since?: number): Promise<StreamRecord> {
    let record: StreamRecord | null;
    try {
      record = since === undefined
        ? await this.lookup.get(name)
        : await this.lookup.refresh(name, since);
    } catch (err) {
      if (err instanceof RegistryUnavailableError) {
        throw new HttpError(
          503,
          "registry_unavailable",
          "Stream registry unavailable: retry shortly",
          {
            headers: { "Retry-After": "1" },
          },
        );
      }
      throw err;
    }
    if (record === null) throw new HttpError(404, "stream_not_found", `Stream not live: ${name}`);
    return record;
  }

  /**
   * The object for `target`: from the cache, from a fetch in flight, or from a new fetch;
   * after an origin failure from the stream's current owner (one retry), and for a playlist
   * from a stale copy when nothing fresher can be had.
   */
  async #obtain(target: MediaTarget, record: StreamRecord): Promise<Got> {
    const since = this.lookup.now();
    let failure: OriginFetchError | null = null;
    try {
      const got = await this.#through(target, record);
      if (got.obj !== null) return got;
      // A segment the origin does not have is simply not there (it left the window); a
      // playlist missing on the origin the registry names means the stream may have moved.
      if (target.kind === "segment") throw new HttpError(404, "not_found", "Segment not found");
    } catch (err) {
      if (!(err instanceof OriginFetchError)) throw err;
      failure = err;
    }
    const current = await this.#find(target.name, since);
    const moved = broadcastKey(current) !== broadcastKey(record);
    // Retrying a timed-out origin that still owns the stream would double the wait, and a
    // stale playlist is only allowed for one target duration: go straight to the fallback.
    if (moved || failure?.reason !== "timeout") {
      try {
        const got = await this.#through(target, current);
        if (got.obj !== null) return got;
        failure = null;
      } catch (err) {
        if (!(err instanceof OriginFetchError)) throw err;
        failure = err;
      }
    }
    if (failure === null) {
      throw new HttpError(404, "not_found", `Not found on origin: ${target.file}`);
    }
    if (target.kind === "playlist") {
      const stale = this.#staleCopy(target, current) ?? this.#staleCopy(target, record);
      if (stale !== null) {
        this.#m.result(target.kind, "STALE").inc();
        return { obj: stale, result: "STALE", record: current };
      }
    }
    throw failure;
  }

  #staleCopy(target: MediaTarget, record: StreamRecord): CachedObject | null {
    const obj = this.cache.peek(cacheKey(record, target.file));
    if (obj === undefined) return null;
    const age = this.#now() - obj.fetchedAt;
    return age <= targetSeconds(obj, record) * 1000 ? obj : null;
  }

  /** Cache, or a shared fetch; counts the outcome. */
  async #through(target: MediaTarget, record: StreamRecord): Promise<Got> {
    const key = cacheKey(record, target.file);
    const cached = this.cache.get(key);
    if (cached !== undefined && this.#fresh(target.kind, cached, record)) {
      this.#m.result(target.kind, "HIT").inc();
      return { obj: cached, result: "HIT", record };
    }
    const { promise, leader } = this.#flights.run(key, () => this.#fetch(target, record, key));
    const obj = await promise;
    const result: CacheResult = leader ? "MISS" : "COALESCED";
    this.#m.result(target.kind, result).inc();
    return { obj, result, record };
  }

  #fresh(kind: MediaKind, obj: CachedObject, record: StreamRecord): boolean {
    if (kind === "segment") return true;
    return this.#now() - obj.fetchedAt < (targetSeconds(obj, record) * 1000) / 2;
  }

  /** One origin request; stores and returns the validated object, null for a 404. */
  async #fetch(
    target: MediaTarget,
    record: StreamRecord,
    key: string,
  ): Promise<CachedObject | null> {
    const segment = target.kind === "segment";
    const started = performance.now();
    let body: Uint8Array<ArrayBuffer>;
    try {
      const res = await this.#client.get(
        record.originUrl,
        `/live/${target.name}/${target.file}`,
        segment ? this.#segmentTimeoutMs : this.#playlistTimeoutMs,
      );
      if (res.status === 404) return null;
      body = res.body;
      if (segment) checkTransportStream(body);
    } catch (err) {
      if (err instanceof OriginFetchError) this.#originFailed(target, record, err);
      throw err;
    } finally {
      this.#m.originSeconds(target.kind).observe((performance.now() - started) / 1000);
    }
    const fetchedAt = this.#now();
    let obj: CachedObject;
    if (segment) {
      obj = { body, fetchedAt, etag: `"${fnv1a(key)}-${body.byteLength.toString(16)}"` };
    } else {
      let text: string;
      let playlist: LivePlaylist;
      try {
        text = strictDecoder.decode(body);
        playlist = parsePlaylist(text);
      } catch (err) {
        const failure = new OriginFetchError(
          "invalid",
          `Origin playlist unusable: ${describe(err)}`,
        );
        this.#originFailed(target, record, failure);
        throw failure;
      }
      const served = this.#timelines.apply(
        target.name,
        broadcastKey(record),
        record.originId,
        text,
        playlist,
        fetchedAt,
      );
      const out = served === text ? body : encoder.encode(served);
      obj = {
        body: out,
        text: served,
        fetchedAt,
        etag: `"${fnv1a(served)}-${out.byteLength.toString(16)}"`,
        targetDuration: playlist.targetDuration,
      };
    }
    const before = this.cache.evictions;
    this.cache.set(key, obj);
    this.#m.evictions.inc(this.cache.evictions - before);
    return obj;
  }

  #originFailed(target: MediaTarget, record: StreamRecord, err: OriginFetchError): void {
    this.#m.originError(err.reason).inc();
    this.#log.warn("edge.origin_failed", {
      stream: target.name,
      file: target.file,
      origin: record.originId,
      reason: err.reason,
      error: err,
    });
  }

  #segmentReply(req: EdgeRequest, got: Got): EdgeReply {
    const obj = got.obj!;
    const size = obj.body.byteLength;
    const headers: Record<string, string> = {
      "Content-Type": SEGMENT_TYPE,
      "Cache-Control": SEGMENT_CACHE,
      "Accept-Ranges": "bytes",
      "ETag": obj.etag,
      "Age": ageSeconds(this.#now(), obj),
      "X-Cache": got.result,
    };
    if (matchesEtag(req.header("if-none-match"), obj.etag)) {
      return { status: 304, headers, body: null };
    }
    let range: ReturnType<typeof parseRange> = null;
    const rangeHeader = req.header("range");
    if (rangeHeader) {
      const ifRange = req.header("if-range");
      if (!ifRange || ifRange === obj.etag) range = parseRange(rangeHeader, size);
    }
    if (range === "unsatisfiable") {
      throw new HttpError(416, "range_not_satisfiable", `Range not satisfiable: size is ${size}`, {
        headers: { "Content-Range": `bytes */${size}`, "Accept-Ranges": "bytes" },
      });
    }
    if (req.method === "GET" && (range === null || range.start === 0)) {
      this.load.segment(targetSeconds(obj, got.record));
    }
    if (range === null) {
      headers["Content-Length"] = String(size);
      return { status: 200, headers, body: req.method === "HEAD" ? null : obj.body };
    }
    const length = range.end - range.start + 1;
    headers["Content-Range"] = `bytes ${range.start}-${range.end}/${size}`;
    headers["Content-Length"] = String(length);
    const body = req.method === "HEAD" ? null : obj.body.subarray(range.start, range.end + 1);
    return { status: 206, headers, body };
  }

  #playlistReply(req: EdgeRequest, target: MediaTarget, got: Got): EdgeReply {
    const obj = got.obj!;
    let body = obj.body;
    let etag = obj.etag;
    if (this.#signingKey !== undefined && target.token !== null) {
      body = encoder.encode(addTokenToUris(obj.text ?? "", target.token));
      etag = `${obj.etag.slice(0, -1)}-${fnv1a(target.token)}"`;
    }
    const maxAge = Math.floor(targetSeconds(obj, got.record) / 2);
    const headers: Record<string, string> = {
      "Content-Type": PLAYLIST_TYPE,
      "Cache-Control": got.result === "STALE" || maxAge === 0
        ? "no-cache"
        : `public, max-age=${maxAge}`,
      "ETag": etag,
      "Age": ageSeconds(this.#now(), obj),
      "X-Cache": got.result,
    };
    if (matchesEtag(req.header("if-none-match"), etag)) {
      return { status: 304, headers, body: null };
    }
    headers["Content-Length"] = String(body.byteLength);
    return { status: 200, headers, body: req.method === "HEAD" ? null : body };
  }

  #errorReply(req: EdgeRequest, err: unknown): EdgeReply {
    let reply: EdgeReply;
    if (err instanceof HttpError) {
      reply = json(err.status, errorBody(err.code, err.message));
      Object.assign(reply.headers, err.headers);
    } else if (err instanceof OriginFetchError) {
      const timeout = err.reason === "timeout";
      reply = json(
        timeout ? 504 : 502,
        errorBody(timeout ? "gateway_timeout" : "bad_gateway", `Origin failed: ${err.message}`),
      );
    } else {
      this.#log.error("edge.unhandled_error", {
        method: req.method,
        error: err,
        stack: err instanceof Error ? err.stack : undefined,
      });
      reply = json(500, errorBody("internal", "Internal server error"));
    }
    if (req.method === "HEAD") reply.body = null;
    return reply;
  }
}

function allowGetHead(req: EdgeRequest): void {
  if (req.method !== "GET" && req.method !== "HEAD") {
    throw new HttpError(405, "method_not_allowed", "Method not allowed: use GET or HEAD", {
      headers: { Allow: "GET, HEAD" },
    });
  }
}

function json(status: number, value: unknown): EdgeReply {
  const body = encoder.encode(JSON.stringify(value));
  return {
    status,
    headers: {
      "Content-Type": "application/json; charset=utf-8",
      "Content-Length": String(body.byteLength),
      "Cache-Control": "no-cache",
    },
    body,
  };
}

function targetSeconds(obj: CachedObject, record: StreamRecord): number {
  const t = obj.targetDuration ?? record.targetDuration;
  return t > 0 ? t : FALLBACK_TARGET_SECONDS;
}

function ageSeconds(now: number, obj: CachedObject): string {
  return String(Math.max(0, Math.floor((now - obj.fetchedAt) / 1000)));
}

function matchesEtag(header: string | null | undefined, etag: string): boolean {
  if (!header) return false;
  for (const candidate of header.split(",")) {
    const tag = candidate.trim();
    if (tag === "*" || tag === etag || tag === `W/${etag}`) return true;
  }
  return false;
}

/** Refuses a body that is not whole MPEG-TS packets: what a cut or garbled segment looks like. */
function checkTransportStream(body: Uint8Array): void {
  const ok = body.byteLength > 0 && body.byteLength % TS_PACKET === 0;
  if (ok) {
    for (let i = 0; i < body.byteLength; i += TS_PACKET) {
      if (body[i] !== 0x47) { // sync_byte
        throw new OriginFetchError(
          "invalid",
          `Origin segment is not MPEG-TS: no sync byte at ${i}`,
        );
      }
    }
    return;
  }
  throw new OriginFetchError(
    "invalid",
    `Origin segment is not whole MPEG-TS packets: ${body.byteLength} bytes`,
  );
}

/** FNV-1a 32-bit of a string or bytes, as 8 hex digits: cheap validators, not security. */
export function fnv1a(input: string | Uint8Array): string {
  let h = 0x811c9dc5;
  if (typeof input === "string") {
    for (let i = 0; i < input.length; i++) {
      h ^= input.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  } else {
    for (let i = 0; i < input.length; i++) {
      h ^= input[i]!;
      h = Math.imul(h, 0x01000193);
    }
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function registerMetrics(m: MetricsRegistry, edge: Edge) {
  const requests = m.counter("cascade_edge_requests_total", "Edge HTTP responses, by status", [
    "status",
  ]);
  const results = m.counter(
    "cascade_edge_cache_results_total",
    "Media responses by file kind and cache outcome (HIT, MISS, COALESCED, STALE)",
    ["kind", "result"],
  );
  const bytesOut = m.counter("cascade_edge_bytes_out_total", "Response body bytes sent").labels();
  const originSeconds = m.histogram(
    "cascade_edge_origin_fetch_seconds",
    "Origin fetch latency by file kind, failures included",
    ORIGIN_BUCKETS,
    ["kind"],
  );
  const originErrors = m.counter(
    "cascade_edge_origin_errors_total",
    "Origin fetches that produced nothing servable, by reason",
    ["reason"],
  );
  const evictions = m.counter(
    "cascade_edge_cache_evictions_total",
    "Cache entries dropped to make room",
  ).labels();
  const lookups = m.counter(
    "cascade_edge_lookups_total",
    "Stream lookups by outcome (memo, registry, known: last record during an outage, error)",
    ["outcome"],
  );
  m.gauge("cascade_edge_cache_bytes", "Bytes held by the edge cache").collect(() =>
    edge.cache.bytes
  );
  m.gauge("cascade_edge_cache_entries", "Objects held by the edge cache").collect(() =>
    edge.cache.size
  );
  m.gauge("cascade_edge_origin_fetches_in_flight", "Origin fetches in flight").collect(() =>
    edge.fetching
  );
  m.gauge("cascade_edge_viewers", "Estimated concurrent viewers").collect(() =>
    edge.load.viewers()
  );
  m.gauge("cascade_edge_egress_bits_per_second", "Egress over the last 10 s").collect(() =>
    edge.load.egressBitsPerSecond()
  );
  const byStatus = new Map<number, CounterChild>();
  const byResult = new Map<string, CounterChild>();
  return {
    bytesOut,
    evictions,
    lookups,
    status(status: number): CounterChild {
      let child = byStatus.get(status);
      if (child === undefined) {
        child = requests.labels(String(status));
        byStatus.set(status, child);
      }
      return child;
    },
    result(kind: MediaKind, result: CacheResult): CounterChild {
      const key = `${kind} ${result}`;
      let child = byResult.get(key);
      if (child === undefined) {
        child = results.labels(kind, result.toLowerCase());
        byResult.set(key, child);
      }
      return child;
    },
    originSeconds: (kind: MediaKind) => originSeconds.labels(kind),
    originError: (reason: OriginErrorReason) => originErrors.labels(reason),
  };
}
