/**
 * The edge's Prometheus metrics (`cascade_edge_*`): responses by status, cache outcomes by
 * file kind, bytes sent, origin requests by file kind (one per LL-HLS part, however many
 * viewers), their latency and failures, evictions and registry lookups,
 * plus gauges read at scrape time (cache size, fetches in flight, viewers, egress). Labelled
 * children are created once per label value and kept, so counting a request costs a map
 * lookup and an increment, never a string build.
 */
import type { CounterChild, MetricsRegistry } from "@cascade/common/metrics";
import type { CacheResult } from "./cache.ts";
import type { LoadMeter } from "./load.ts";
import type { LookupOutcome } from "./lookup.ts";
import type { OriginErrorReason } from "./origin_client.ts";
import type { FileKind } from "./paths.ts";

const ORIGIN_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the scrape-time gauges read. */
export interface EdgeGauges {
  readonly cache: { readonly bytes: number; readonly size: number };
  readonly load: LoadMeter;
  /** Origin fetches in flight. */
  readonly fetching: number;
}

/** The edge's counters and histograms, registered in `m`. */
export type EdgeMetrics = ReturnType<typeof registerEdgeMetrics>;

/** Registers the edge's metrics in `m`; gauges read `edge` whenever `/metrics` is rendered. */
export function registerEdgeMetrics(m: MetricsRegistry, edge: EdgeGauges) {
  const requests = m.counter("cascade_edge_requests_total", "Edge HTTP responses, by status", [
    "status",
  ]);
  const results = m.counter(
    "cascade_edge_cache_results_total",
    "Media responses by file kind and cache outcome (HIT, MISS, COALESCED, STALE)",
    ["kind", "result"],
  );
  const originRequests = m.counter(
    "cascade_edge_origin_requests_total",
    "Requests sent to origins, by file kind (playlist, blocking_playlist, segment, part, init)",
    ["kind"],
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
  const windowEvictions = m.counter(
    "cascade_edge_window_evictions_total",
    "Live segments dropped from the cache once they left their playlist's window",
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
  const byStatus = memo((status: number) => requests.labels(String(status)));
  const byLookup = memo((outcome: LookupOutcome) => lookups.labels(outcome));
  const byResult = memo((key: string) => {
    const [kind, result] = key.split(" ") as [FileKind, CacheResult];
    return results.labels(kind, result.toLowerCase());
  });
  return {
    bytesOut,
    evictions,
    windowEvictions,
    status: byStatus,
    lookup: byLookup,
    result: (kind: FileKind, result: CacheResult) => byResult(`${kind} ${result}`),
    originSeconds: (kind: FileKind) => originSeconds.labels(kind),
    originRequest: (kind: FileKind) => originRequests.labels(kind),
    originError: (reason: OriginErrorReason) => originErrors.labels(reason),
  };
}

/** `make` memoized per key: each labelled child is created once. */
function memo<K>(make: (key: K) => CounterChild): (key: K) => CounterChild {
  const children = new Map<K, CounterChild>();
  return (key) => {
    let child = children.get(key);
    if (child === undefined) {
      child = make(key);
      children.set(key, child);
    }
    return child;
  };
}
