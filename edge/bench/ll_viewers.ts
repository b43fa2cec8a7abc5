/**
 * The LL-HLS viewer scenario (issue 17's "500 LL viewers on one stream → origin requests per
 * part"): N viewers in this process each play `ll.m3u8` through one edge the way hls.js in
 * low-latency mode does — one plain load, then blocking reloads for the next part
 * (`_HLS_msn`/`_HLS_part` from `#EXT-X-PRELOAD-HINT`, or after the last part listed), and a
 * GET of every part that appears. The edge's own counters
 * (`cascade_edge_origin_requests_total{kind}`, scraped from its `/metrics` before and after)
 * say how many requests reached the origin; divided by the parts the viewers saw appear, that
 * is the origin's cost per part, which coalescing should hold at 1 whatever N is.
 *
 *   deno run -A edge/bench/ll_viewers.ts EDGE_URL NAME [VIEWERS=500] [SECONDS=20]
 *
 * prints the result as JSON; `runLlViewers` is the same for `bench/main.ts`. The stream must
 * be live on an LL-capable origin; with signed playback, pass `token` (a viewer index → that
 * viewer's token).
 */

export interface LlViewersOptions {
  /** Base URL of the edge, e.g. `http://127.0.0.1:8000`. */
  edgeUrl: string;
  /** Stream name. */
  name: string;
  viewers: number;
  /** How long the viewers play once all have started. */
  durationMs: number;
  /** Where the edge's metrics are (default `{edgeUrl}/metrics`). */
  metricsUrl?: string;
  /** Playback token of viewer `i`, when playback is signed. */
  token?: (viewer: number) => string;
  /** Viewers start spread over this long, as real audiences arrive (default 1000 ms). */
  rampMs?: number;
}

export interface LlViewersResult {
  viewers: number;
  durationMs: number;
  /** Distinct parts that appeared in the playlists viewers got during the run. */
  parts: number;
  /** Requests the edge sent its origin during the run, by kind. */
  originRequests: Record<string, number>;
  /**
   * Origin part requests per part: 1 when every part cost the origin one request (give or
   * take a part fetched just outside the counting window, at either end).
   */
  originPartRequestsPerPart: number;
  /** Origin blocking-reload requests per part (about 1: one directive URL per part). */
  originBlockingRequestsPerPart: number;
  /** Requests the viewers made, and their answers by status. */
  viewerRequests: number;
  statuses: Record<string, number>;
  /** Parts fetched by all viewers together. */
  partsFetched: number;
  /** From a blocking reload's answer to the end of the part it announced, ms. */
  partFetchMs: { p50: number; p95: number };
}

const KINDS = ["playlist", "blocking_playlist", "part", "segment", "init"];
const PART_URI_RE = /^#EXT-X-PART:.*URI="([^"]+)"/;
const HINT_RE = /^#EXT-X-PRELOAD-HINT:.*TYPE=PART.*URI="([^"?]+)/;
const PART_NAME_RE = /_p(\d+)\.(\d+)\.m4s$/;

/** Runs the scenario; see the module comment. */
export async function runLlViewers(opts: LlViewersOptions): Promise<LlViewersResult> {
  const metricsUrl = opts.metricsUrl ?? `${opts.edgeUrl}/metrics`;
  const client = Deno.createHttpClient({ poolMaxIdlePerHost: opts.viewers * 2 });
  const stats = new Stats();
  const stop = new AbortController();
  try {
    const rampMs = opts.rampMs ?? 1000;
    const started = Promise.withResolvers<void>();
    let waiting = opts.viewers;
    const viewers = Array.from({ length: opts.viewers }, async (_, i) => {
      await sleep((rampMs * i) / opts.viewers);
      const viewer = new Viewer(opts, i, client, stats, stop.signal);
      try {
        await viewer.tuneIn();
      } catch (err) {
        started.reject(err);
        return;
      }
      if (--waiting === 0) started.resolve();
      await viewer.play();
    });
    await started.promise;
    const before = await originRequests(metricsUrl, client);
    stats.counting = true;
    await sleep(opts.durationMs);
    stats.counting = false;
    const after = await originRequests(metricsUrl, client);
    stop.abort();
    await Promise.allSettled(viewers);
    const delta = Object.fromEntries(KINDS.map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]));
    const parts = stats.partsSeen.size;
    const sorted = stats.partFetchMs.sort((a, b) => a - b);
    return {
      viewers: opts.viewers,
      durationMs: opts.durationMs,
      parts,
      originRequests: delta,
      originPartRequestsPerPart: parts === 0 ? NaN : delta.part! / parts,
      originBlockingRequestsPerPart: parts === 0 ? NaN : delta.blocking_playlist! / parts,
      viewerRequests: stats.requests,
      statuses: stats.statuses,
      partsFetched: stats.partsFetched,
      partFetchMs: { p50: percentile(sorted, 50), p95: percentile(sorted, 95) },
    };
  } finally {
    stop.abort();
    client.close();
  }
}

/** What the viewers saw, counted only while `counting` (between the two metric scrapes). */
class Stats {
  counting = false;
  requests = 0;
  partsFetched = 0;
  readonly statuses: Record<string, number> = {};
  readonly partsSeen = new Set<string>();
  readonly partFetchMs: number[] = [];

  answered(status: number): void {
    if (!this.counting) return;
    this.requests++;
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
  }
}

/** One player: a plain load, then blocking reloads and a GET of each new part. */
class Viewer {
  readonly #base: string;
  readonly #query: string;
  readonly #client: Deno.HttpClient;
  readonly #stats: Stats;
  readonly #signal: AbortSignal;
  readonly #fetched = new Set<string>();
  #next: { msn: number; part: number } | null = null;

  constructor(
    opts: LlViewersOptions,
    index: number,
    client: Deno.HttpClient,
    stats: Stats,
    signal: AbortSignal,
  ) {
    this.#base = `${opts.edgeUrl}/live/${opts.name}/`;
    const token = opts.token?.(index);
    this.#query = token === undefined ? "" : `token=${encodeURIComponent(token)}`;
    this.#client = client;
    this.#stats = stats;
    this.#signal = signal;
  }

  /** The plain load a player starts with; the parts already listed count as fetched. */
  async tuneIn(): Promise<void> {
    const { status, text } = await this.#playlist("");
    if (status !== 200) throw new Error(`Cannot tune in: ${this.#base}ll.m3u8 answers ${status}`);
    for (const uri of partUris(text)) this.#fetched.add(uri);
    this.#next = nextPart(text);
  }

  async play(): Promise<void> {
    while (!this.#signal.aborted && this.#next !== null) {
      const { msn, part } = this.#next;
      const reply = await this.#playlist(`_HLS_msn=${msn}&_HLS_part=${part}`).catch(() => null);
      if (reply?.status === 404) return; // the broadcast is over
      if (reply?.status !== 200) {
        // 503 after the hold: ask again at once, as hls.js does; anything else after a pause.
        if (reply?.status !== 503) await sleep(100);
        continue;
      }
      const text = reply.text;
      const listedAt = performance.now();
      const fresh = partUris(text).filter((uri) => !this.#fetched.has(uri));
      for (const uri of fresh) {
        this.#fetched.add(uri);
        if (this.#stats.counting) this.#stats.partsSeen.add(uri);
        if (await this.#part(uri)) {
          if (this.#stats.counting) this.#stats.partFetchMs.push(performance.now() - listedAt);
        }
      }
      if (text.includes("#EXT-X-ENDLIST")) return;
      this.#next = nextPart(text) ?? this.#next;
    }
  }

  /** `ll.m3u8` with `directives`. */
  async #playlist(directives: string): Promise<{ status: number; text: string }> {
    const query = [this.#query, directives].filter((q) => q !== "").join("&");
    const res = await fetch(`${this.#base}ll.m3u8${query === "" ? "" : `?${query}`}`, {
      client: this.#client,
      signal: this.#signal,
    });
    this.#stats.answered(res.status);
    return { status: res.status, text: await res.text() };
  }

  /** GETs a part (`uri` as listed, token included when signed); true for a 200. */
  async #part(uri: string): Promise<boolean> {
    const res = await fetch(new URL(uri, this.#base), {
      client: this.#client,
      signal: this.#signal,
    }).catch(() => null);
    if (res === null) return false;
    this.#stats.answered(res.status);
    await res.arrayBuffer();
    if (res.status === 200 && this.#stats.counting) this.#stats.partsFetched++;
    return res.status === 200;
  }
}

/** The part URIs a playlist lists, in order. */
function partUris(text: string): string[] {
  const uris: string[] = [];
  for (const line of text.split("\n")) {
    const m = PART_URI_RE.exec(line);
    if (m !== null) uris.push(m[1]!);
  }
  return uris;
}

/** The part a blocking reload should ask for: the hinted one, else the one after the last. */
function nextPart(text: string): { msn: number; part: number } | null {
  const lines = text.split("\n");
  for (const line of lines) {
    const hint = HINT_RE.exec(line);
    const m = hint === null ? null : PART_NAME_RE.exec(hint[1]!);
    if (m !== null) return { msn: Number(m[1]), part: Number(m[2]) };
  }
  const last = partUris(text).at(-1);
  const m = last === undefined ? null : PART_NAME_RE.exec(last.split("?")[0]!);
  return m === null ? null : { msn: Number(m[1]), part: Number(m[2]) + 1 };
}

/** `cascade_edge_origin_requests_total` by kind, from the edge's `/metrics`. */
async function originRequests(
  metricsUrl: string,
  client: Deno.HttpClient,
): Promise<Record<string, number>> {
  const text = await (await fetch(metricsUrl, { client })).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^cascade_edge_origin_requests_total\{kind="(\w+)"\} (\d+)$/gm)) {
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const at = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, at)]! * 10) / 10;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

if (import.meta.main) {
  const [edgeUrl, name, viewers = "500", seconds = "20"] = Deno.args;
  if (edgeUrl === undefined || name === undefined) {
    throw new TypeError("Usage: ll_viewers.ts EDGE_URL NAME [VIEWERS] [SECONDS]");
  }
  const result = await runLlViewers({
    edgeUrl,
    name,
    viewers: Number(viewers),
    durationMs: Number(seconds) * 1000,
  });
  console.log(JSON.stringify(result, null, 2));
}
