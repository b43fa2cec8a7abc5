/**
 * Which edges should serve a viewer of one stream, best first. Live edges are grouped in
 * tiers and each tier is ordered by rendezvous hashing of the stream name:
 *
 * 1. edges of the viewer's region whose load is at or below the threshold;
 * 2. edges of other regions at or below the threshold (the fallback);
 * 3. overloaded edges of the viewer's region, then overloaded edges elsewhere: an edge
 *    that is busy still beats sending viewers to the origin.
 *
 * Without a viewer region, tiers 1 and 2 merge. Hashing within a tier keeps one stream's
 * viewers on few edges, and an edge crossing the threshold moves only the streams it had.
 */
import type { NodeRecord } from "./types.ts";
import { rankByRendezvous } from "./rendezvous.ts";

export interface EdgeSelectionOptions {
  /** The viewer's region; undefined when unknown. */
  region?: string | undefined;
  /** Edges reporting a load above this are used only when nothing else is left. */
  loadThreshold?: number | undefined;
}

/** Every edge in `edges`, ordered by preference for viewers of `name`. */
export function rankEdges(
  edges: readonly NodeRecord[],
  name: string,
  opts: EdgeSelectionOptions = {},
): NodeRecord[] {
  const threshold = opts.loadThreshold ?? Infinity;
  const tiers: NodeRecord[][] = [[], [], [], []];
  for (const edge of edges) {
    const overloaded = !(edge.load <= threshold);
    const local = opts.region === undefined || edge.region === opts.region;
    tiers[(overloaded ? 2 : 0) + (local ? 0 : 1)]!.push(edge);
  }
  return tiers.flatMap((tier) => rankByRendezvous(tier, name));
}
