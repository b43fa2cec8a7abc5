/**
 * The edge's routing and source policy, independent of any HTTP server: `Edge.handle` takes
 * an `EdgeRequest` and returns an `EdgeReply` (`request.ts`), never throwing. A media
 * request is checked (path, file, playback token: `token_gate.ts`) before anything else,
 * then the stream is looked up (`lookup.ts`), then answered from the cache or from one
 * origin fetch that concurrent misses share (`cache.ts`, `origin_fetch.ts`); an origin's
 * 404 is remembered briefly (`misses.ts`). An origin failure triggers a fresh lookup and one
 * retry against whoever owns the stream now; a stream gone from the registry is a 404 unless
 * a viewer was watching it, who gets its final playlist (`endings.ts`), and a playlist is
 * served stale while its origin cannot be reached, long enough for another origin to take
 * the stream over (`stale.ts`).
 * Registry records are checked before any origin is asked (`record_check.ts`). A finished broadcast kept
 * for VOD (`KEEP_HLS`) is found through `vod:{name}`: VOD playlists (`vod.m3u8`,
 * `vod-{n}.m3u8`) come from the origin that record names, and so do the segments of a name
 * that is not live (or that its live origin does not have, when a viewer plays the last
 * broadcast while the next one is live elsewhere). LL-HLS files go the same way, keyed by
 * their blocking-reload directives too (`paths.ts`): identical blocking reloads share one
 * request the origin holds, and its "not yet" answers are never remembered. How long a copy
 * stays good is `freshness.ts`'s call, replies are `replies.ts`'s job, counting `metrics.ts`'s.
 */
import { log as rootLog, type Logger } from "@cascade/common/log";
import { HttpError } from "@cascade/common/http_errors";
import { MetricsRegistry } from "@cascade/common/metrics";
import { MEDIA_METHODS } from "@cascade/common/http_paths";
import { VOD_PLAYLIST_RE } from "@cascade/media/hls/layout";
import { RegistryUnavailableError } from "@cascade/registry/errors";
import type { Registry, StreamRecord, VodRecord } from "@cascade/registry/types";
import {
  broadcastKey,
  ByteLru,
  type CachedObject,
  cacheKey,
  type CacheResult,
  Coalescer,
  entrySize,
  LiveWindows,
  vodBroadcastKey,
} from "./cache.ts";
import { endingKey, Endings, watched } from "./endings.ts";
import { Freshness } from "./freshness.ts";
import { LoadMeter } from "./load.ts";
import { type LookupOptions, type RegistryLookup, StreamLookup, VodLookup } from "./lookup.ts";
import { StreamSubscriptions } from "./stream_subscriptions.ts";
import { type EdgeMetrics, registerEdgeMetrics } from "./metrics.ts";
import { OriginClient, OriginFetchError } from "./origin_client.ts";
import { DEFAULT_HOLD_MARGIN_MS, OriginFetcher } from "./origin_fetch.ts";
import { Misses, missMs } from "./misses.ts";
import {
  fileKind,
  keyedFile,
  MAX_TARGET_LENGTH,
  type MediaTarget,
  parseMediaTarget,
  splitTarget,
} from "./paths.ts";
import {
  errorReply,
  pictureReply,
  playlistReply,
  preflightReply,
  segmentReply,
  withCors,
} from "./replies.ts";
import { RecordCheck } from "./record_check.ts";
import { staleOrThrow } from "./stale.ts";
import { type EdgeReply, type EdgeRequest, MAX_HEAD_BYTES } from "./request.ts";
import { type Got, liveSource, type Source, vodSource } from "./source.ts";
import { TokenGate } from "./token_gate.ts";

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
  /**
   * Time allowed beyond the origin's hold of 3 target durations for the requests it holds
   * (LL-HLS blocking reloads and hinted parts; `EDGE_HOLD_MARGIN_MS`).
   */
  holdMarginMs?: number;
  /** The origin client (default: one built from the timeouts above, closed with the edge). */
  client?: OriginClient;
  /**
   * Memo and outage settings of both the live and the VOD lookup, and how long a stream
   * nobody asks for stays subscribed to its events (`idleMs`).
   */
  lookup?: Pick<LookupOptions, "positiveMs" | "negativeMs" | "retryMs" | "clock" | "idleMs">;
  /** Wall clock, epoch milliseconds (token expiry, `Age`, playlist freshness). */
  now?: () => number;
}

/**
 * Segments kept past the oldest one a live playlist lists, for players still working from
 * the previous playlist; older ones leave the cache when that playlist arrives.
 */
export const LIVE_GRACE_SEGMENTS = 3;

/**
 * Default of `EdgeOptions.playlistFreshMs`. `stream.update` drops a cached playlist the
 * moment the origin writes a newer one, so this only bounds how stale a playlist gets when an
 * event is lost; each refresh costs the origin a request per stream watched here.
 */
export const DEFAULT_PLAYLIST_FRESH_MS = 1000;

export class Edge {
  readonly cache: ByteLru<CachedObject>;
  readonly lookup: StreamLookup;
  readonly vodLookup: VodLookup;
  readonly load: LoadMeter;
  readonly metrics: MetricsRegistry;
  readonly #log: Logger;
  readonly #client: OriginClient;
  readonly #ownsClient: boolean;
  readonly #origin: OriginFetcher;
  readonly #flights = new Coalescer<CachedObject | null>();
  readonly #windows = new LiveWindows(LIVE_GRACE_SEGMENTS);
  /** The registry events of the streams this edge serves, shared by both lookups. */
  readonly #subscriptions: StreamSubscriptions;
  readonly #gate: TokenGate;
  readonly #check: RecordCheck;
  readonly #misses = new Misses();
  readonly #endings = new Endings();
  readonly #cors: string;
  readonly #freshness: Freshness;
  readonly #now: () => number;
  readonly #m: EdgeMetrics;
  #draining = false;
  #active = 0;

  constructor(opts: EdgeOptions) {
    this.#log = (opts.log ?? rootLog).child({ component: "edge" });
    this.#now = opts.now ?? Date.now;
    this.cache = new ByteLru<CachedObject>(opts.cacheBytes, entrySize);
    this.#subscriptions = new StreamSubscriptions({
      registry: opts.registry,
      log: this.#log,
      idleMs: opts.lookup?.idleMs,
      clock: opts.lookup?.clock,
    });
    const lookup = { registry: opts.registry, log: this.#log, ...opts.lookup };
    this.lookup = new StreamLookup({ ...lookup, subscriptions: this.#subscriptions });
    this.vodLookup = new VodLookup({ ...lookup, subscriptions: this.#subscriptions });
    this.load = new LoadMeter();
    this.#ownsClient = opts.client === undefined;
    this.#client = opts.client ?? new OriginClient({ connectTimeoutMs: opts.connectTimeoutMs });
    this.#gate = new TokenGate(opts.signingKey, this.#now);
    this.#check = new RecordCheck(this.#log);
    this.#cors = opts.corsOrigin ?? "*";
    this.#freshness = new Freshness(opts.playlistFreshMs ?? DEFAULT_PLAYLIST_FRESH_MS, this.#now);
    this.metrics = opts.metrics ?? new MetricsRegistry();
    this.#m = registerEdgeMetrics(this.metrics, this);
    this.#origin = new OriginFetcher({
      client: this.#client,
      metrics: this.#m,
      log: this.#log,
      now: this.#now,
      playlistTimeoutMs: opts.playlistTimeoutMs ?? 2000,
      segmentTimeoutMs: opts.segmentTimeoutMs ?? 10_000,
      holdMarginMs: opts.holdMarginMs ?? DEFAULT_HOLD_MARGIN_MS,
    });
    this.lookup.onOutcome = (outcome) => this.#m.lookup(outcome).inc();
    this.vodLookup.onOutcome = this.lookup.onOutcome;
    this.#subscriptions.listen({
      event: (event) => {
        if (event.type === "stream.update") this.#freshness.changed(event.name);
        else if (event.type === "stream.down") this.#freshness.forget(event.name);
      },
      forget: (name) => this.#freshness.forget(name),
    });
  }

  /**
   * Starts listening to the registry; call once before serving. Each stream's events are
   * subscribed to when viewers first ask for it (`stream_subscriptions.ts`).
   */
  start(): Promise<void> {
    this.lookup.start();
    this.vodLookup.start();
    return Promise.resolve();
  }

  /** Stops listening to the registry and closes the origin connections (when owned). */
  async close(): Promise<void> {
    this.lookup.stop();
    this.vodLookup.stop();
    this.#subscriptions.close();
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
      reply = errorReply(req, err, this.#log);
    } finally {
      this.#active--;
    }
    withCors(reply, this.#cors);
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
    if (!path.startsWith("/live/")) throw new HttpError(404, "not_found", "Not found");
    if (req.method === "OPTIONS") return preflightReply(req, this.#cors);
    if (req.method !== "GET" && req.method !== "HEAD") {
      throw new HttpError(405, "method_not_allowed", "Method not allowed: use GET or HEAD", {
        headers: { Allow: MEDIA_METHODS },
      });
    }
    const target = parseMediaTarget(req.target);
    await this.#gate.authorize(target);
    const got = await this.#serve(target);
    const now = this.#now();
    if (target.picture) return pictureReply(req, got, now);
    return target.kind === "segment"
      ? segmentReply(req, target, got, now, (seconds) => this.load.segment(seconds))
      : playlistReply(req, target, got, now, this.#gate.signed);
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
    const live = await this.#liveRecord(target.name);
    if (live === null) {
      let got = vodPlaylist ? null : await this.#ended(target);
      if (got === null && tsSegment(target)) got = await this.#fromVod(target);
      if (got !== null) return got;
      throw notLive(target.name);
    }
    try {
      const got = await this.#obtain(target, live);
      if (watched(target)) this.#endings.served(endingKey(target), got, this.#now());
      return got;
    } catch (err) {
      const missing = err instanceof HttpError && err.status === 404;
      if (!missing || !tsSegment(target)) throw err;
      // Only a fallback: when it fails too (registry or VOD origin), the answer stays 404.
      const got = await this.#fromVod(target, live).catch((fallback) => {
        if (fallback instanceof HttpError || fallback instanceof OriginFetchError) return null;
        throw fallback;
      });
      if (got !== null) return got;
      throw err;
    }
  }

  /**
   * `target` of a name no longer live that a viewer was watching (`endings.ts`): its final
   * playlist and that playlist's segments; null when there is none.
   */
  async #ended(target: MediaTarget): Promise<Got | null> {
    const now = this.#now();
    const key = endingKey(target);
    const final = this.#endings.final(key, now);
    if (final !== null && target.kind === "playlist") {
      this.#m.result(fileKind(target), "HIT").inc();
      return { obj: final.obj, result: "HIT", source: final.source };
    }
    const source = final?.source ??
      (watched(target) ? this.#endings.watchedSource(key, now) : null);
    if (source === null) return null;
    let got: Got;
    try {
      got = await this.#through(target, source);
    } catch (err) {
      if (!(err instanceof OriginFetchError)) throw err;
      if (final === null) this.#endings.forget(key);
      return null;
    }
    if (final !== null) return got.obj === null ? null : got;
    // The copy cached before the release may still be fresh; the next request asks again.
    if (got.obj !== null && (got.obj.ended || got.result === "HIT")) {
      this.#endings.served(key, got, now);
      return got;
    }
    this.#endings.forget(key);
    return null;
  }

  /** The live record of `name`; see `#lookUp`. */
  async #find(name: string, since?: number): Promise<StreamRecord> {
    const record = await this.#liveRecord(name, since);
    if (record === null) throw notLive(name);
    return record;
  }

  /** `stream:{name}`, null when not live or unsafe to fetch from (`record_check.ts`). */
  async #liveRecord(name: string, since?: number): Promise<StreamRecord | null> {
    return this.#check.stream(await this.#lookUp(this.lookup, name, since));
  }

  /** `vod:{name}`, null when there is none or it is unsafe to fetch from. */
  async #vodRecord(name: string, since?: number): Promise<VodRecord | null> {
    return this.#check.vod(await this.#lookUp(this.vodLookup, name, since));
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
    const vod = await this.#vodRecord(target.name);
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
      const current = await this.#vodRecord(target.name, since);
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
    // stale playlist is only allowed for a while: go straight to the fallback.
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
    if (target.kind !== "playlist") throw failure;
    const sources = [liveSource(current), liveSource(record)];
    const { obj } = staleOrThrow(this.cache, target, sources, failure, this.#now());
    this.#m.result(fileKind(target), "STALE").inc();
    return { obj, result: "STALE", source: sources[0]! };
  }

  /** Cache, or a shared fetch; counts the outcome. */
  async #through(target: MediaTarget, source: Source): Promise<Got> {
    const key = cacheKey(source.broadcast, keyedFile(target));
    const kind = fileKind(target);
    const cached = this.cache.get(key);
    if (cached !== undefined && this.#freshness.fresh(target, cached, source)) {
      this.#m.result(kind, "HIT").inc();
      return { obj: cached, result: "HIT", source };
    }
    if (this.#misses.has(key, this.#now())) {
      this.#m.result(kind, "HIT").inc();
      return { obj: null, result: "HIT", source };
    }
    // The flight is never cancelled: a viewer who leaves leaves the others waiting on it.
    const { promise, leader } = this.#flights.run(key, () => this.#fetch(target, source, key));
    const obj = await promise;
    const result: CacheResult = leader ? "MISS" : "COALESCED";
    this.#m.result(kind, result).inc();
    return { obj, result, source };
  }

  /** One origin fetch; a servable object is cached before the waiters see it. */
  async #fetch(target: MediaTarget, source: Source, key: string): Promise<CachedObject | null> {
    const obj = await this.#origin.fetch(target, source, key);
    if (obj === null) {
      this.#misses.add(key, this.#now() + missMs(source));
      return null;
    }
    // A blocking answer the origin says not to keep is only shared with its own flight.
    if (obj.maxAge === 0) return obj;
    if (obj.text !== undefined) this.#misses.listed(source.broadcast, obj.text);
    const before = this.cache.evictions;
    if (this.cache.set(key, obj) && source.live) {
      const dropped = this.#windows.noteStored(this.cache, source.broadcast, target.file, obj);
      this.#m.windowEvictions.inc(dropped);
    }
    this.#m.evictions.inc(this.cache.evictions - before);
    return obj;
  }
}

/** A TS segment: one a VOD origin may have too (LL-HLS files are live only). */
function tsSegment(target: MediaTarget): boolean {
  return target.kind === "segment" && target.ll === undefined && !target.picture;
}

function notLive(name: string): HttpError {
  return new HttpError(404, "stream_not_found", `Stream not live: ${name}`);
}
