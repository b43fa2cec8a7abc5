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
 *
 * A finished broadcast kept for VOD (`KEEP_HLS`) is found through `vod:{name}`: VOD
 * playlists (`vod.m3u8`, `vod-{n}.m3u8`) come from the origin that record names, and so do
 * the segments of a name that is not live (or that its live origin does not have, when a
 * viewer plays the last broadcast while the next one is live elsewhere). VOD playlists are
 * served as the origin wrote them and cached for `VOD_PLAYLIST_SECONDS`.
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
import {
  type Registry,
  RegistryUnavailableError,
  type StreamRecord,
  type VodRecord,
} from "@cascade/registry";
import {
  HEADER_LIST_RE,
  matchesEtag,
  MEDIA_METHODS,
  parseRange,
  PLAYLIST_CONTENT_TYPE,
  SEGMENT_CACHE_CONTROL,
  SEGMENT_CONTENT_TYPE,
} from "@cascade/common/http_paths";
import { VOD_PLAYLIST_RE } from "@cascade/media/hls/layout";
import {
  broadcastKey,
  ByteLru,
  type CachedObject,
  cacheKey,
  type CacheResult,
  Coalescer,
  entrySize,
  vodBroadcastKey,
} from "./cache.ts";
import { LoadMeter } from "./load.ts";
import {
  type LookupOptions,
  type LookupOutcome,
  type RegistryLookup,
  StreamLookup,
  VodLookup,
} from "./lookup.ts";
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
  /**
   * How long a live playlist is served from the cache, at most (and never longer than half
   * a target duration): a new segment reaches viewers this much later at worst, and each
   * stream costs its origin at most 1000 / this playlist requests per second per edge.
   */
  playlistFreshMs?: number;
  segmentTimeoutMs?: number;
  /** The origin client (default: one built from the timeouts above, closed with the edge). */
  client?: OriginClient;
  /** Memo and outage settings of both the live and the VOD lookup. */
  lookup?: Pick<LookupOptions, "positiveMs" | "negativeMs" | "retryMs" | "clock">;
  /** Liveness beyond draining, for `/healthz`. */
  healthy?: () => boolean;
  /** Wall clock, epoch milliseconds (token expiry, `Age`, playlist freshness). */
  now?: () => number;
}

/** Default of `EdgeOptions.playlistFreshMs`. */
export const DEFAULT_PLAYLIST_FRESH_MS = 250;

/** Largest request head accepted: request line plus headers. */
export const MAX_HEAD_BYTES = 16 * 1024;

const EXPOSED = "Content-Length, Content-Range, Age, ETag, X-Cache";
const DEFAULT_ALLOWED_HEADERS = "Range, If-None-Match, If-Range";
const TS_PACKET = 188;
/** Target duration assumed when neither the playlist nor the registry gives one. */
const FALLBACK_TARGET_SECONDS = 2;
/**
 * Freshness and `max-age` of a finished VOD playlist. Its cache key changes with every write
 * the registry reports; the bound covers a rewrite the edge has not heard of yet.
 */
export const VOD_PLAYLIST_SECONDS = 60;
/** Verified tokens remembered, so steady viewers cost no HMAC per request. */
const TOKEN_MEMO_LIMIT = 10_000;
const ORIGIN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** Where a file is fetched from: an origin, and the broadcast that names its cache entries. */
interface Source {
  originId: string;
  originUrl: string;
  /** `broadcastKey` of a live claim or `vodBroadcastKey` of a VOD record. */
  broadcast: string;
  /** The registry's target duration, seconds: used until a playlist gives one. */
  targetDuration: number;
}

function liveSource(record: StreamRecord): Source {
  return {
    originId: record.originId,
    originUrl: record.originUrl,
    broadcast: broadcastKey(record),
    targetDuration: record.targetDuration,
  };
}

function vodSource(record: VodRecord): Source {
  return {
    originId: record.originId,
    originUrl: record.originUrl,
    broadcast: vodBroadcastKey(record),
    targetDuration: record.targetDuration,
  };
}

/** What a media request was answered from. */
interface Got {
  obj: CachedObject | null;
  result: CacheResult;
  source: Source;
}

export class Edge {
  readonly cache: ByteLru<CachedObject>;
  readonly lookup: StreamLookup;
  readonly vodLookup: VodLookup;
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
  readonly #playlistFreshMs: number;
  /** When `stream.update` last said a name's playlist changed: older cached copies are stale. */
  readonly #playlistChangedAt = new Map<string, number>();
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
    this.vodLookup = new VodLookup({ registry: opts.registry, log: this.#log, ...opts.lookup });
    this.load = new LoadMeter();
    this.#ownsClient = opts.client === undefined;
    this.#client = opts.client ?? new OriginClient({ connectTimeoutMs: opts.connectTimeoutMs });
    this.#signingKey = opts.signingKey;
    this.#cors = opts.corsOrigin ?? "*";
    this.#playlistTimeoutMs = opts.playlistTimeoutMs ?? 2000;
    this.#playlistFreshMs = opts.playlistFreshMs ?? DEFAULT_PLAYLIST_FRESH_MS;
    this.#segmentTimeoutMs = opts.segmentTimeoutMs ?? 10_000;
    this.#healthy = opts.healthy ?? (() => true);
    this.metrics = opts.metrics ?? new MetricsRegistry();
    this.#m = registerMetrics(this.metrics, this);
    const lookups = new Map<LookupOutcome, CounterChild>();
    const count = (outcome: LookupOutcome) => {
      let child = lookups.get(outcome);
      if (child === undefined) {
        child = this.#m.lookups.labels(outcome);
        lookups.set(outcome, child);
      }
      child.inc();
    };
    this.lookup.onOutcome = count;
    this.vodLookup.onOutcome = count;
    this.lookup.onEvent = (event) => {
      if (event.type === "stream.update") this.#playlistChangedAt.set(event.name, this.#now());
      else if (event.type === "stream.down") this.#playlistChangedAt.delete(event.name);
    };
  }

  /** Subscribes to stream events; call once before serving. */
  async start(): Promise<void> {
    await Promise.all([this.lookup.start(), this.vodLookup.start()]);
  }

  /** Stops listening to the registry and closes the origin connections (when owned). */
  async close(): Promise<void> {
    this.lookup.stop();
    this.vodLookup.stop();
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
        headers: { Allow: MEDIA_METHODS },
      });
    }
    const target = parseMediaTarget(req.target);
    await this.#authorize(target);
    const got = await this.#serve(target);
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
    const headers: Record<string, string> = { Allow: MEDIA_METHODS };
    if (this.#cors !== "") {
      const asked = req.header("access-control-request-headers")?.trim();
      headers["Access-Control-Allow-Methods"] = MEDIA_METHODS;
      headers["Access-Control-Allow-Headers"] = asked && HEADER_LIST_RE.test(asked)
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

  /**
   * A media request's object. A VOD playlist comes from the origin keeping the name's VOD,
   * else from the live origin. Anything else comes from the live origin; a segment of a name
   * that is not live, or that the live origin lacks, from the VOD's origin.
   */
  async #serve(target: MediaTarget): Promise<Got> {
    const vodPlaylist = target.kind === "playlist" && VOD_PLAYLIST_RE.test(target.file);
    if (vodPlaylist) {
      const got = await this.#fromVod(target);
      if (got !== null) return got;
    }
    const live = await this.#lookUp(this.lookup, target.name);
    if (live === null) {
      const got = target.kind === "segment" ? await this.#fromVod(target) : null;
      if (got !== null) return got;
      throw notLive(target.name);
    }
    try {
      return await this.#obtain(target, live);
    } catch (err) {
      const missing = err instanceof HttpError && err.status === 404;
      if (!missing || target.kind !== "segment") throw err;
      // Only a fallback: when it fails too (registry or VOD origin), the answer stays 404.
      const got = await this.#fromVod(target, live).catch((fallback) => {
        if (fallback instanceof HttpError || fallback instanceof OriginFetchError) return null;
        throw fallback;
      });
      if (got !== null) return got;
      throw err;
    }
  }

  /** The live record of `name`; see `#lookUp`. */
  async #find(name: string, since?: number): Promise<StreamRecord> {
    const record = await this.#lookUp(this.lookup, name, since);
    if (record === null) throw notLive(name);
    return record;
  }

  /** A record through `lookup` (again after a failure at `since`); a registry outage is a 503. */
  async #lookUp<T>(
    lookup: RegistryLookup<T>,
    name: string,
    since?: number,
  ): Promise<T | null> {
    try {
      return since === undefined ? await lookup.get(name) : await lookup.refresh(name, since);
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
  }

  /**
   * `target` from the origin keeping the name's VOD, unless that is `live`'s origin (which
   * has just been asked); null when there is no VOD or its origin does not have the file.
   * After an origin failure, one retry if the VOD has moved to another origin meanwhile.
   */
  async #fromVod(target: MediaTarget, live?: StreamRecord): Promise<Got | null> {
    const vod = await this.#lookUp(this.vodLookup, target.name);
    if (vod === null) return null;
    if (live !== undefined && vod.originId === live.originId && vod.originUrl === live.originUrl) {
      return null;
    }
    const since = this.vodLookup.now();
    const source = vodSource(vod);
    let got: Got;
    try {
      got = await this.#through(target, source);
    } catch (err) {
      if (!(err instanceof OriginFetchError)) throw err;
      const current = await this.#lookUp(this.vodLookup, target.name, since);
      if (current === null || vodBroadcastKey(current) === source.broadcast) throw err;
      got = await this.#through(target, vodSource(current));
    }
    return got.obj === null ? null : got;
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
      const got = await this.#through(target, liveSource(record));
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
        const got = await this.#through(target, liveSource(current));
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
      const source = liveSource(current);
      const stale = this.#staleCopy(target, source) ??
        this.#staleCopy(target, liveSource(record));
      if (stale !== null) {
        this.#m.result(target.kind, "STALE").inc();
        return { obj: stale, result: "STALE", source };
      }
    }
    throw failure;
  }

  #staleCopy(target: MediaTarget, source: Source): CachedObject | null {
    const obj = this.cache.peek(cacheKey(source.broadcast, target.file));
    if (obj === undefined) return null;
    const age = this.#now() - obj.fetchedAt;
    return age <= targetSeconds(obj, source) * 1000 ? obj : null;
  }

  /** Cache, or a shared fetch; counts the outcome. */
  async #through(target: MediaTarget, source: Source): Promise<Got> {
    const key = cacheKey(source.broadcast, target.file);
    const cached = this.cache.get(key);
    if (cached !== undefined && this.#fresh(target, cached, source)) {
      this.#m.result(target.kind, "HIT").inc();
      return { obj: cached, result: "HIT", source };
    }
    const { promise, leader } = this.#flights.run(key, () => this.#fetch(target, source, key));
    const obj = await promise;
    const result: CacheResult = leader ? "MISS" : "COALESCED";
    this.#m.result(target.kind, result).inc();
    return { obj, result, source };
  }

  #fresh(target: MediaTarget, obj: CachedObject, source: Source): boolean {
    if (target.kind === "segment") return true;
    if (obj.finished) return this.#now() - obj.fetchedAt < VOD_PLAYLIST_SECONDS * 1000;
    const changedAt = this.#playlistChangedAt.get(target.name);
    if (changedAt !== undefined && changedAt >= obj.fetchedAt) return false;
    const freshMs = Math.min(this.#playlistFreshMs, (targetSeconds(obj, source) * 1000) / 2);
    return this.#now() - obj.fetchedAt < freshMs;
  }

  /** One origin request; stores and returns the validated object, null for a 404. */
  async #fetch(
    target: MediaTarget,
    source: Source,
    key: string,
  ): Promise<CachedObject | null> {
    const segment = target.kind === "segment";
    const started = performance.now();
    let body: Uint8Array<ArrayBuffer>;
    try {
      const res = await this.#client.get(
        source.originUrl,
        `/live/${target.name}/${target.file}`,
        segment ? this.#segmentTimeoutMs : this.#playlistTimeoutMs,
      );
      if (res.status === 404) return null;
      body = res.body;
      if (segment) checkTransportStream(body);
    } catch (err) {
      if (err instanceof OriginFetchError) this.#originFailed(target, source, err);
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
        this.#originFailed(target, source, failure);
        throw failure;
      }
      const finished = playlist.ended && VOD_PLAYLIST_RE.test(target.file);
      // A VOD playlist is a broadcast of its own, not part of the live timeline of the name.
      const served = finished ? text : this.#timelines.apply(
        target.name,
        source.broadcast,
        source.originId,
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
        ...(finished ? { finished } : {}),
      };
    }
    const before = this.cache.evictions;
    this.cache.set(key, obj);
    this.#m.evictions.inc(this.cache.evictions - before);
    return obj;
  }

  #originFailed(target: MediaTarget, source: Source, err: OriginFetchError): void {
    this.#m.originError(err.reason).inc();
    this.#log.warn("edge.origin_failed", {
      stream: target.name,
      file: target.file,
      origin: source.originId,
      reason: err.reason,
      error: err,
    });
  }

  #segmentReply(req: EdgeRequest, got: Got): EdgeReply {
    const obj = got.obj!;
    const size = obj.body.byteLength;
    const headers: Record<string, string> = {
      "Content-Type": SEGMENT_CONTENT_TYPE,
      "Cache-Control": SEGMENT_CACHE_CONTROL,
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
      this.load.segment(targetSeconds(obj, got.source));
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
    const maxAge = obj.finished
      ? VOD_PLAYLIST_SECONDS
      : Math.floor(targetSeconds(obj, got.source) / 2);
    const headers: Record<string, string> = {
      "Content-Type": PLAYLIST_CONTENT_TYPE,
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

function targetSeconds(obj: CachedObject, source: Source): number {
  const t = obj.targetDuration ?? source.targetDuration;
  return t > 0 ? t : FALLBACK_TARGET_SECONDS;
}

function notLive(name: string): HttpError {
  return new HttpError(404, "stream_not_found", `Stream not live: ${name}`);
}

function ageSeconds(now: number, obj: CachedObject): string {
  return String(Math.max(0, Math.floor((now - obj.fetchedAt) / 1000)));
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
