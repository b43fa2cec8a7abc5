/**
 * The dashboard's live data: snapshots of the registry (live streams with their origin,
 * edges, bit rate, codecs and an estimate of viewers; origins and edges with health and
 * load) shared by every open dashboard. One feed serves all viewers of the page: it reads
 * the registry once per change or refresh period however many pages are open, runs only
 * while at least one page listens, and pushes a snapshot only when something changed.
 * Stream up/down events from the registry trigger a snapshot at once; node load, health
 * probes (`GET {url}/healthz`), encoder figures and bit rates (in-process stats, the
 * registry record, or the origin's `/metrics`) follow the refresh period; encoder warnings
 * come from the record, worded as the API words them; each node's CPU, memory and egress come
 * from its heartbeat. Nothing in a snapshot is secret: the
 * registry holds no stream keys.
 */
import type { Logger } from "@cascade/common/log";
import { RegistryUnavailableError } from "@cascade/registry/errors";
import type {
  NodeKind,
  NodeRecord,
  Registry,
  StreamRecord,
  Unsubscribe,
} from "@cascade/registry/types";
import { rankEdges } from "@cascade/registry/edge_selection";
import { encoderWarnings, type StreamWarning } from "@cascade/registry/encoder_warnings";
import { standbyByName } from "@cascade/registry/standby";
import { isRendition, renditionsBySource } from "@cascade/common/renditions";
import { parseIngestBitrates, type StreamStatsSource } from "./stream_stats.ts";

export type NodeHealth = "ok" | "failing" | "unreachable" | "unknown";

export interface DashboardEdgeRef {
  id: string;
  region: string;
}

export interface DashboardStream {
  name: string;
  originId: string;
  /** Region of the origin, when its node record is alive. */
  originRegion: string | null;
  /** Origins standing by to take the stream over (`@cascade/registry/standby`). */
  standby: string[];
  /** The edge that serves this stream's viewers in each region (rendezvous choice). */
  edges: DashboardEdgeRef[];
  startedAt: number;
  updatedAt: number;
  /** Ingest bits per second. */
  bitrate: number | null;
  codecs: string | null;
  width: number | null;
  height: number | null;
  /** Seconds between video keyframes. */
  keyframeInterval: number | null;
  /** Video frames per second. */
  frameRate: number | null;
  /** Encoder settings to fix (e.g. a keyframe interval above the segment duration). */
  warnings: StreamWarning[];
  /** Viewers estimated from the load of the edges serving it; null without edges. */
  viewers: number | null;
  /** Where to watch it. */
  watchUrl: string;
  /** Rungs of its live renditions (`480p`, …), which are not listed as streams. */
  renditions: string[];
  /** Its latest picture (`/live/{name}/thumb.jpg`), from where it is watched. */
  thumbnailUrl: string;
}

export interface DashboardNode {
  id: string;
  kind: NodeKind;
  region: string;
  url: string;
  rtmpUrl: string | null;
  load: number;
  startedAt: number;
  /** Outcome of the last `GET {url}/healthz`; every listed node has a live heartbeat. */
  health: NodeHealth;
  /** Share of one CPU core, resident bytes and (edges) egress bits/s, as its heartbeat said. */
  cpu: number | null;
  rss: number | null;
  egressBitsPerSecond: number | null;
}

export interface DashboardSnapshot {
  /** Server clock when built, epoch ms (pages derive uptimes from it). */
  at: number;
  /** `unavailable`: the registry did not answer; the lists are the last known ones. */
  registry: "ok" | "unavailable";
  streams: DashboardStream[];
  nodes: DashboardNode[];
}

/** Receives snapshots until unsubscribed or until the feed closes. */
export interface DashboardListener {
  snapshot(snapshot: DashboardSnapshot): void;
  /** The feed closed (shutdown); no snapshot follows. */
  close(): void;
}

export interface DashboardFeedOptions {
  registry: Registry;
  log: Logger;
  /** Figures of live streams known in this process (the all-in-one origin's hub). */
  streamStats?: StreamStatsSource;
  /** Probe each node's `/healthz` (default true). */
  probeNodes?: boolean;
  /** Read ingest bit rates from origins' `/metrics` when nothing else knows them (default true). */
  scrapeOriginMetrics?: boolean;
  /** Base URL of watch links (`""` for this host); default: the stream's first edge, else this host. */
  watchBaseUrl?: string;
  /** Snapshot period while pages listen (default 2000 ms). */
  refreshMs?: number;
  /** Time between probes of one node (default 5000 ms). */
  probeIntervalMs?: number;
  /** Deadline of one probe or metrics read (default 1500 ms). */
  probeTimeoutMs?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

/** Stream up/down events are coalesced over this long before a snapshot is built. */
const EVENT_DEBOUNCE_MS = 25;
/** Polled snapshots younger than this are answered again rather than rebuilt. */
const POLL_CACHE_MS = 1000;

/**
 * For each live stream: the edge each region's viewers are sent to (the first of
 * `rankEdges` for that region) and a viewer estimate, where each edge's load (taken as
 * viewers served) is shared equally among the streams it is first choice for.
 */
export function assignEdges(
  names: readonly string[],
  edges: readonly NodeRecord[],
): Map<string, { edges: NodeRecord[]; viewers: number | null }> {
  const out = new Map<string, { edges: NodeRecord[]; viewers: number | null }>();
  for (const name of names) out.set(name, { edges: [], viewers: edges.length > 0 ? 0 : null });
  const regions = [...new Set(edges.map((e) => e.region))].sort();
  const served = new Map<NodeRecord, string[]>();
  for (const name of names) {
    for (const region of regions) {
      const edge = rankEdges(edges, name, { region })[0];
      if (edge === undefined) continue;
      out.get(name)!.edges.push(edge);
      const list = served.get(edge);
      if (list === undefined) served.set(edge, [name]);
      else list.push(name);
    }
  }
  for (const edge of edges) {
    // An edge first for none of them still serves some (viewers sent on when another edge
    // was overloaded or down): its load is spread over every live stream.
    const list = served.get(edge) ?? names;
    if (list.length === 0 || !(edge.load > 0)) continue;
    const share = edge.load / list.length;
    for (const name of list) {
      const entry = out.get(name)!;
      entry.viewers = (entry.viewers ?? 0) + share;
    }
  }
  for (const entry of out.values()) {
    if (entry.viewers !== null) entry.viewers = Math.round(entry.viewers);
  }
  return out;
}

function compareNodes(a: NodeRecord, b: NodeRecord): number {
  if (a.kind !== b.kind) return a.kind === "origin" ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

export class DashboardFeed {
  readonly #registry: Registry;
  readonly #log: Logger;
  readonly #stats: StreamStatsSource | undefined;
  readonly #probeNodes: boolean;
  readonly #scrape: boolean;
  readonly #watchBase: string | undefined;
  readonly #refreshMs: number;
  readonly #probeIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #now: () => number;

  readonly #listeners = new Set<DashboardListener>();
  /** Last successful registry read, reused while the registry is unreachable. */
  #streams: StreamRecord[] = [];
  #nodes: NodeRecord[] = [];
  readonly #health = new Map<string, { health: NodeHealth; checkedAt: number }>();
  /** Ingest bit rates by origin URL, from its `/metrics`. */
  readonly #scraped = new Map<string, Map<string, number>>();
  #latest: DashboardSnapshot | undefined;
  #polled: DashboardSnapshot | undefined;
  #latestKey = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #unsubscribe: Unsubscribe | undefined;
  #offReconnect: Unsubscribe | undefined;
  #subscribing = false;
  #ticking = false;
  #chain: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(opts: DashboardFeedOptions) {
    this.#registry = opts.registry;
    this.#log = opts.log.child({ component: "dashboard" });
    this.#stats = opts.streamStats;
    this.#probeNodes = opts.probeNodes ?? true;
    this.#scrape = opts.scrapeOriginMetrics ?? true;
    this.#watchBase = opts.watchBaseUrl?.replace(/\/+$/, "");
    this.#refreshMs = opts.refreshMs ?? 2000;
    this.#probeIntervalMs = opts.probeIntervalMs ?? 5000;
    this.#timeoutMs = opts.probeTimeoutMs ?? 1500;
    this.#fetch = opts.fetch ?? fetch;
    this.#now = opts.now ?? Date.now;
    if (!(this.#refreshMs > 0)) throw new RangeError(`Invalid refreshMs: ${this.#refreshMs}`);
  }

  /** Pages listening now. */
  get listeners(): number {
    return this.#listeners.size;
  }

  /**
   * A snapshot for one request (pages that cannot use server-sent events poll this):
   * built from the registry at most once a second, with health as last probed.
   */
  async snapshot(): Promise<DashboardSnapshot> {
    const cached = this.#polled;
    if (cached !== undefined && this.#now() - cached.at < POLL_CACHE_MS) return cached;
    await Promise.all([this.#probeDue(), this.#scrapeOrigins()]);
    const snapshot = await this.#serialized(() => this.#build());
    this.#polled = snapshot;
    return snapshot;
  }

  /**
   * Sends `listener` the current snapshot, then every changed one. The first listener
   * starts the feed; the last one to leave stops it.
   */
  subscribe(listener: DashboardListener): Unsubscribe {
    if (this.#closed) {
      listener.close();
      return () => {};
    }
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    if (this.#latest !== undefined) listener.snapshot(this.#latest);
    else this.#schedule();
    return () => {
      if (this.#listeners.delete(listener) && this.#listeners.size === 0) this.#stop();
    };
  }

  /** Stops the feed for good and closes every listener (for shutdown). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stop();
    for (const listener of this.#listeners) listener.close();
    this.#listeners.clear();
  }

  #start(): void {
    this.#timer = setInterval(() => void this.#tick(), this.#refreshMs);
    void this.#tick();
  }

  #stop(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#debounce);
    this.#timer = undefined;
    this.#debounce = undefined;
    this.#unsubscribe?.();
    this.#offReconnect?.();
    this.#unsubscribe = undefined;
    this.#offReconnect = undefined;
    this.#latest = undefined;
    this.#latestKey = "";
  }

  get #running(): boolean {
    return this.#timer !== undefined && !this.#closed;
  }

  /** Registry events make the next snapshot come at once rather than at the next tick. */
  async #subscribeEvents(): Promise<void> {
    if (this.#unsubscribe !== undefined || this.#subscribing) return;
    this.#subscribing = true;
    try {
      const off = await this.#registry.subscribe((event) => {
        if (event.type === "stream.up" || event.type === "stream.down") this.#schedule();
      });
      if (this.#running && this.#unsubscribe === undefined) {
        this.#unsubscribe = off;
        this.#offReconnect = this.#registry.onReconnect(() => this.#schedule());
      } else {
        off();
      }
    } catch (err) {
      // Retried on the next tick; until then the refresh period alone keeps pages current.
      if (!(err instanceof RegistryUnavailableError)) {
        this.#log.warn("dashboard.subscribe_failed", { error: err });
      }
    } finally {
      this.#subscribing = false;
    }
  }

  #schedule(): void {
    if (!this.#running || this.#debounce !== undefined) return;
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      void this.#publish();
    }, EVENT_DEBOUNCE_MS);
  }

  async #tick(): Promise<void> {
    if (this.#ticking || !this.#running) return;
    this.#ticking = true;
    try {
      void this.#subscribeEvents();
      await Promise.all([this.#probeDue(), this.#scrapeOrigins()]);
      await this.#publish();
    } finally {
      this.#ticking = false;
    }
  }

  async #publish(): Promise<void> {
    const snapshot = await this.#serialized(() => this.#build());
    if (!this.#running) return;
    const key = JSON.stringify({ ...snapshot, at: 0 });
    if (key === this.#latestKey && this.#latest !== undefined) return;
    this.#latest = snapshot;
    this.#latestKey = key;
    for (const listener of [...this.#listeners]) {
      try {
        listener.snapshot(snapshot);
      } catch (err) {
        this.#log.warn("dashboard.listener_failed", { error: err });
      }
    }
  }

  /** Builds run one at a time, so a slow registry never sees a pile of reads. */
  #serialized<T>(job: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(job, job);
    this.#chain = run.catch(() => {});
    return run;
  }

  async #build(): Promise<DashboardSnapshot> {
    let registry: DashboardSnapshot["registry"] = "ok";
    try {
      const [streams, nodes] = await Promise.all([
        this.#registry.listStreams(),
        this.#registry.listNodes(),
      ]);
      this.#streams = streams;
      this.#nodes = nodes;
    } catch (err) {
      registry = "unavailable";
      if (!(err instanceof RegistryUnavailableError)) {
        this.#log.error("dashboard.registry_failed", { error: err });
      }
    }
    const nodes = [...this.#nodes].sort(compareNodes);
    const edges = nodes.filter((n) => n.kind === "edge");
    const origins = new Map(nodes.filter((n) => n.kind === "origin").map((n) => [n.id, n]));
    // A rendition shows on its source's card, not as a stream of its own.
    const renditions = renditionsBySource(this.#streams.map((s) => s.name));
    const streams = this.#streams.filter((s) => !isRendition(s.name))
      .sort((a, b) => a.name < b.name ? -1 : 1);
    const serving = assignEdges(streams.map((s) => s.name), edges);
    const standby = standbyByName([...origins.values()]);
    return {
      at: this.#now(),
      registry,
      streams: streams.map((s) => {
        const stats = this.#stats?.(s.name);
        const media = s.media;
        const entry = serving.get(s.name);
        const base = this.#publicBase(s.name, edges);
        const bitrate = stats?.bitrate ?? media?.bitrate ?? s.bandwidth ??
          this.#scraped.get(s.originUrl)?.get(s.name);
        return {
          name: s.name,
          originId: s.originId,
          originRegion: origins.get(s.originId)?.region ?? null,
          standby: standby.get(s.name) ?? [],
          edges: (entry?.edges ?? []).map((e) => ({ id: e.id, region: e.region })),
          startedAt: s.startedAt,
          updatedAt: s.updatedAt,
          bitrate: bitrate ?? null,
          codecs: stats?.codecs ?? s.codecs ?? null,
          width: stats?.width ?? media?.width ?? null,
          height: stats?.height ?? media?.height ?? null,
          keyframeInterval: stats?.keyframeInterval ?? media?.keyframeInterval ?? null,
          frameRate: stats?.frameRate ?? media?.frameRate ?? null,
          warnings: encoderWarnings(media),
          viewers: entry?.viewers ?? null,
          watchUrl: `${base}/watch/${s.name}`,
          thumbnailUrl: `${base}/live/${s.name}/thumb.jpg`,
          renditions: renditions.get(s.name) ?? [],
        };
      }),
      nodes: nodes.map((n) => ({
        id: n.id,
        kind: n.kind,
        region: n.region,
        url: n.url,
        rtmpUrl: n.rtmpUrl ?? null,
        load: n.load,
        startedAt: n.startedAt,
        health: this.#health.get(`${n.kind}:${n.id}`)?.health ?? "unknown",
        cpu: n.cpu ?? null,
        rss: n.rss ?? null,
        egressBitsPerSecond: n.egressBitsPerSecond ?? null,
      })),
    };
  }

  /** Where viewers of `name` are sent: the watch base, else its first edge, else this host. */
  #publicBase(name: string, edges: NodeRecord[]): string {
    const base = this.#watchBase ?? rankEdges(edges, name)[0]?.url.replace(/\/+$/, "") ?? "";
    // Pages link to it: anything but an http(s) base (say `javascript:`) becomes this host.
    return /^https?:\/\/[^\s"'<>]+$/.test(base) ? base : "";
  }

  /** Probes the nodes whose last probe is older than the probe interval. */
  async #probeDue(): Promise<void> {
    if (!this.#probeNodes) return;
    const now = this.#now();
    const alive = new Set(this.#nodes.map((n) => `${n.kind}:${n.id}`));
    for (const key of this.#health.keys()) if (!alive.has(key)) this.#health.delete(key);
    await Promise.all(this.#nodes.map(async (node) => {
      const key = `${node.kind}:${node.id}`;
      const last = this.#health.get(key);
      if (last !== undefined && now - last.checkedAt < this.#probeIntervalMs) return;
      // Marked before the probe so that a slow node is not probed again meanwhile.
      this.#health.set(key, { health: last?.health ?? "unknown", checkedAt: now });
      const health = await this.#probe(node.url);
      this.#health.set(key, { health, checkedAt: now });
    }));
  }

  async #probe(url: string): Promise<NodeHealth> {
    try {
      const res = await this.#fetch(`${url.replace(/\/+$/, "")}/healthz`, {
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: "manual",
      });
      await res.body?.cancel();
      return res.ok ? "ok" : "failing";
    } catch {
      return "unreachable";
    }
  }

  /** Reads `/metrics` of origins that serve streams whose bit rate nothing else knows. */
  async #scrapeOrigins(): Promise<void> {
    if (!this.#scrape) return;
    const wanted = new Set<string>();
    for (const s of this.#streams) {
      const known = s.bandwidth ?? s.media?.bitrate ?? this.#stats?.(s.name)?.bitrate;
      if (known === undefined || known === null) {
        wanted.add(s.originUrl);
      }
    }
    for (const url of this.#scraped.keys()) if (!wanted.has(url)) this.#scraped.delete(url);
    await Promise.all([...wanted].map(async (url) => {
      try {
        const res = await this.#fetch(`${url.replace(/\/+$/, "")}/metrics`, {
          signal: AbortSignal.timeout(this.#timeoutMs),
          redirect: "manual",
        });
        if (!res.ok) {
          await res.body?.cancel();
          this.#scraped.delete(url);
          return;
        }
        this.#scraped.set(url, parseIngestBitrates(await res.text()));
      } catch {
        this.#scraped.delete(url);
      }
    }));
  }
}
