/**
 * The edge's presence in the registry: `node:edge:{id}` with its public URL, region and
 * load, refreshed by the registry heartbeat every 2 s. `load` is the estimated number of
 * viewers (what the API compares with `EDGE_LOAD_THRESHOLD`); the record also carries the
 * egress bit rate, cache bytes and the process's CPU and memory for dashboards.
 */
import type { Heartbeat, NodeRecord, Registry } from "@cascade/registry";
import { processUsageSampler } from "@cascade/common/process_usage";
import type { Edge } from "./edge.ts";

export interface EdgeIdentity {
  id: string;
  /** Public base URL viewers use, without a trailing slash. */
  url: string;
  region: string;
  /** Epoch milliseconds. */
  startedAt: number;
}

/** `node:edge:{id}` with the extra load fields. */
export interface EdgeNodeRecord extends NodeRecord {
  kind: "edge";
  viewers: number;
  egressBitsPerSecond: number;
  cacheBytes: number;
}

/** The node record of `edge` as of now. */
export function edgeNodeRecord(edge: Edge, who: EdgeIdentity): EdgeNodeRecord {
  const viewers = edge.load.viewers();
  return {
    id: who.id,
    kind: "edge",
    url: who.url,
    region: who.region,
    load: viewers,
    startedAt: who.startedAt,
    viewers,
    egressBitsPerSecond: edge.load.egressBitsPerSecond(),
    cacheBytes: edge.cache.bytes,
  };
}

/** Starts announcing `edge`; `stop()` on the result withdraws the record. */
export function startEdgeHeartbeat(
  registry: Registry,
  edge: Edge,
  who: EdgeIdentity,
  intervalMs?: number,
): Heartbeat {
  const usage = processUsageSampler();
  return registry.startHeartbeat(() => ({ ...edgeNodeRecord(edge, who), ...usage() }), intervalMs);
}
