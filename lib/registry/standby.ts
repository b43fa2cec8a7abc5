/**
 * Which origins stand by for which live streams, as their node records say (`standby`,
 * docs/architecture.md, "Failover and standby"): what the API and the dashboard show beside
 * the origin that holds each stream.
 */
import type { NodeRecord } from "./types.ts";

/** Stream name → ids of the origins standing by for it, in id order. */
export function standbyByName(origins: readonly NodeRecord[]): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const node of [...origins].sort((a, b) => a.id < b.id ? -1 : 1)) {
    if (node.kind !== "origin") continue;
    for (const name of node.standby ?? []) {
      const ids = byName.get(name);
      if (ids) ids.push(node.id);
      else byName.set(name, [node.id]);
    }
  }
  return byName;
}
