/**
 * How the edge talks to origins: one undici `Pool` of keep-alive connections per origin,
 * with a connect timeout and a whole-request deadline per call (playlists short, segments
 * longer), and bodies read completely into one buffer sized by `Content-Length`. Anything but
 * a complete 200 or a 404 is an `OriginFetchError` whose `reason` says what went wrong, so
 * the caller can fail over and never caches a partial body.
 *
 * Why undici and not Deno's `fetch`: `edge/bench/origin_client_bench.ts` (2 cores shared
 * with other work, loopback, `Deno.serve` origin, bodies read chunk by chunk) measured them
 * within noise of each other over several rounds: 800 KB segment p50 0.6-1.5 ms (fetch) vs
 * 0.65-2.4 ms (undici), 600 B playlist p50 0.05-0.15 ms for both, 8 in parallel 7-11 vs
 * 6-11 Gbit/s. (An earlier fetch 6.0 vs undici 4.7 Gbit/s, edge/README.md, is inside that spread.)
 * An edge fetches each segment once however many viewers it has, so this is not where its
 * bytes go; control decides: `fetch` has no connect timeout (a black-holed origin would
 * hold every waiter for the whole deadline) and no per-origin connection cap; undici's
 * `Pool` has both, plus separate headers and body timeouts.
 */
import { Pool } from "undici";

export type OriginErrorReason =
  /** No connection could be opened (refused, unreachable, connect timeout). */
  | "connect"
  /** The deadline passed before the whole response arrived. */
  | "timeout"
  /** The origin answered with a status other than 200 or 404. */
  | "status"
  /** The connection failed after the response started, or fewer bytes than announced came. */
  | "truncated"
  /** The connection failed before a response started. */
  | "network"
  /** The body is larger than the edge accepts. */
  | "too_large"
  /** The body is not what the file name promises (checked by the caller). */
  | "invalid";

/** An origin request that produced nothing servable. */
export class OriginFetchError extends Error {
  override name = "OriginFetchError";
  readonly reason: OriginErrorReason;
  /** The origin's status for `reason: "status"`. */
  readonly status: number | undefined;

  constructor(
    reason: OriginErrorReason,
    message: string,
    options?: ErrorOptions & { status?: number },
  ) {
    super(message, options);
    this.reason = reason;
    this.status = options?.status;
  }
}

/** A complete origin answer: the file, or a 404 (`body` empty). */
export interface OriginResponse {
  status: 200 | 404;
  body: Uint8Array<ArrayBuffer>;
  /** The origin's `Cache-Control`, when it sent one (an LL-HLS blocking answer's lifetime). */
  cacheControl: string | null;
}

export interface OriginClientOptions {
  /** Time allowed to open a connection (default 1000 ms). */
  connectTimeoutMs?: number;
  /** Connections per origin at most (default 32). */
  connectionsPerOrigin?: number;
  /**
   * Connections per origin at most for requests the origin holds open (LL-HLS blocking
   * playlist reloads and hinted parts, default 1024). They sit idle for up to three target
   * durations each, one per stream and directive, so they get a pool of their own and never
   * queue segment fetches behind them, nor queue behind each other.
   */
  heldConnectionsPerOrigin?: number;
  /** Largest body accepted (default 64 MiB). */
  maxBodyBytes?: number;
  /** Pools unused this long are closed (default 60 000 ms). */
  idlePoolMs?: number;
}

interface PoolEntry {
  pool: Pool;
  lastUsed: number;
}

const EMPTY = new Uint8Array(0);

export class OriginClient {
  readonly #connectTimeoutMs: number;
  readonly #connections: number;
  readonly #heldConnections: number;
  readonly #maxBodyBytes: number;
  readonly #idlePoolMs: number;
  readonly #pools = new Map<string, PoolEntry>();
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(opts: OriginClientOptions = {}) {
    this.#connectTimeoutMs = opts.connectTimeoutMs ?? 1000;
    this.#connections = opts.connectionsPerOrigin ?? 32;
    this.#heldConnections = opts.heldConnectionsPerOrigin ?? 1024;
    this.#maxBodyBytes = opts.maxBodyBytes ?? 64 * 1024 * 1024;
    this.#idlePoolMs = opts.idlePoolMs ?? 60_000;
  }

  /**
   * GETs `path` (e.g. `/live/cam/12.ts`, may carry a query) from the origin at `baseUrl`
   * (which may carry a path prefix) within `timeoutMs`; `held` for a request the origin may
   * hold open (see `heldConnectionsPerOrigin`).
   */
  async get(
    baseUrl: string,
    path: string,
    timeoutMs: number,
    held = false,
  ): Promise<OriginResponse> {
    if (this.#closed) throw new OriginFetchError("network", "Origin client is closed");
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new OriginFetchError("connect", `Invalid origin URL: ${JSON.stringify(baseUrl)}`);
    }
    const pool = this.#pool(url.origin, held);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    let started = false;
    try {
      const res = await pool.request({
        path: url.pathname.replace(/\/+$/, "") + path,
        method: "GET",
        signal: controller.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      started = true;
      if (res.statusCode === 404) {
        await res.body.dump();
        return { status: 404, body: EMPTY, cacheControl: null };
      }
      if (res.statusCode !== 200) {
        await res.body.dump();
        throw new OriginFetchError("status", `Origin answered ${res.statusCode}`, {
          status: res.statusCode,
        });
      }
      const header = res.headers["content-length"];
      const declared = typeof header === "string" && /^\d+$/.test(header) ? Number(header) : null;
      if (declared !== null && declared > this.#maxBodyBytes) {
        // Destroying emits an error; with no listener it would be an uncaught one.
        res.body.on("error", () => {});
        res.body.destroy();
        throw new OriginFetchError("too_large", `Origin body too large: ${declared} bytes`);
      }
      const body = await this.#read(res.body, declared);
      const cacheControl = res.headers["cache-control"];
      return {
        status: 200,
        body,
        cacheControl: typeof cacheControl === "string" ? cacheControl : null,
      };
    } catch (err) {
      throw classify(err, started, controller.signal.aborted, timeoutMs);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes every pool; requests in flight fail. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    const pools = [...this.#pools.values()].map((e) => e.pool);
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }

  /** Open pools (one per origin, and one more per origin for held requests). */
  get pools(): number {
    return this.#pools.size;
  }

  #pool(origin: string, held: boolean): Pool {
    const key = held ? `held ${origin}` : origin;
    let entry = this.#pools.get(key);
    if (entry === undefined) {
      entry = {
        pool: new Pool(origin, {
          connections: held ? this.#heldConnections : this.#connections,
          connectTimeout: this.#connectTimeoutMs,
          keepAliveTimeout: 30_000,
        }),
        lastUsed: 0,
      };
      this.#pools.set(key, entry);
      this.#startSweeper();
    }
    entry.lastUsed = performance.now();
    return entry.pool;
  }

  /** Origins come and go with their streams: pools of ones unused for a while are closed. */
  #startSweeper(): void {
    if (this.#sweeper !== undefined) return;
    this.#sweeper = setInterval(() => {
      const cutoff = performance.now() - this.#idlePoolMs;
      for (const [origin, entry] of this.#pools) {
        if (entry.lastUsed >= cutoff) continue;
        this.#pools.delete(origin);
        entry.pool.close().catch(() => {});
      }
      if (this.#pools.size === 0) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
      }
    }, Math.max(1000, this.#idlePoolMs / 2));
    Deno.unrefTimer(this.#sweeper);
  }

  /** Reads a whole body; with a declared length into one buffer of exactly that size. */
  async #read(
    body: AsyncIterable<Uint8Array>,
    declared: number | null,
  ): Promise<Uint8Array<ArrayBuffer>> {
    if (declared !== null) {
      const out = new Uint8Array(declared);
      let at = 0;
      for await (const chunk of body) {
        if (at + chunk.byteLength > declared) {
          throw new OriginFetchError("invalid", `Origin sent more than ${declared} bytes`);
        }
        out.set(chunk, at);
        at += chunk.byteLength;
      }
      if (at !== declared) {
        throw new OriginFetchError("truncated", `Origin body ended at ${at} of ${declared} bytes`);
      }
      return out;
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of body) {
      total += chunk.byteLength;
      if (total > this.#maxBodyBytes) {
        throw new OriginFetchError("too_large", `Origin body too large: over ${total} bytes`);
      }
      chunks.push(chunk);
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const chunk of chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }
}

const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

function classify(
  err: unknown,
  started: boolean,
  aborted: boolean,
  timeoutMs: number,
): OriginFetchError {
  if (err instanceof OriginFetchError) return err;
  const code = (err as { code?: unknown })?.code;
  const detail = err instanceof Error ? err.message : String(err);
  if (aborted || code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
    return new OriginFetchError("timeout", `Origin did not answer within ${timeoutMs} ms`, {
      cause: err,
    });
  }
  if (typeof code === "string" && CONNECT_CODES.has(code)) {
    return new OriginFetchError("connect", `Cannot connect to origin: ${detail}`, { cause: err });
  }
  if (started || code === "UND_ERR_RES_CONTENT_LENGTH_MISMATCH") {
    return new OriginFetchError("truncated", `Origin response cut short: ${detail}`, {
      cause: err,
    });
  }
  return new OriginFetchError("network", `Origin request failed: ${detail}`, { cause: err });
}
