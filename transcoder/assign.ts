/**
 * Which live sources a transcoder role node makes renditions of: each source stream (not a
 * rendition) goes to the transcoder node that ranks first for its name by rendezvous hashing
 * among the live transcoder nodes, this node counted even before its first heartbeat is seen.
 * Every node computes the same answer from the same registry lists, so one stream gets one
 * transcoder, and a node joining or leaving moves only the streams it wins or had. Whether a
 * stream's profile asks for rungs its height allows is `wantedRungs`. Pure.
 */
import { isRendition, parseProfile, renditionsFit, type Rung } from "@cascade/common/renditions";
import { rankByRendezvous } from "@cascade/registry/rendezvous";
import type { NodeRecord, StreamRecord } from "@cascade/registry/types";

/** The source records `selfId` owns among `transcoders`, by name. */
export function ownedSources(
  streams: readonly StreamRecord[],
  transcoders: readonly Pick<NodeRecord, "id">[],
  selfId: string,
): Map<string, StreamRecord> {
  const nodes = transcoders.some((n) => n.id === selfId)
    ? transcoders
    : [...transcoders, { id: selfId }];
  const out = new Map<string, StreamRecord>();
  for (const s of streams) {
    if (isRendition(s.name)) continue;
    if (rankByRendezvous(nodes, s.name)[0]?.id === selfId) out.set(s.name, s);
  }
  return out;
}

/**
 * The rungs of `profile` a source of `height` lines gets (all of them while its height is
 * unknown: the transcoder checks again once the video config arrives); none when a
 * rendition's name would be too long.
 */
export function wantedRungs(name: string, profile: string, height: number | null): Rung[] {
  const rungs = parseProfile(profile).filter((r) => height === null || r.height < height);
  return renditionsFit(name, rungs) ? rungs : [];
}
