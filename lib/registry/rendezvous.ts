/**
 * Rendezvous (highest random weight) hashing: every node gets a pseudo-random score for a
 * key and the key goes to the node with the highest score. All viewers of one stream land
 * on the same edge, so its cache stays hot; removing a node moves only the keys it had,
 * adding one takes only the keys it now wins, and no ring or state is kept.
 *
 * The score hashes the node id and the key with two 32-bit FNV-1a-style lanes (different
 * offset bases and multipliers) through murmur3's finaliser for avalanche, and joins them
 * into 53 bits so ties are
 * practically impossible; the remaining ties go to the smaller node id, so the order is total.
 */

function fmix32(input: number): number {
  let h = input;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The score of `nodeId` for `key`: an integer in [0, 2^53), the same in every process. */
export function rendezvousScore(nodeId: string, key: string): number {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  // The id's length goes first so that ("ab", "c") and ("a", "bc") hash differently.
  const feed = (code: number) => {
    a = Math.imul(a ^ code, 0x01000193);
    b = Math.imul(b ^ code, 0x5bd1e995);
  };
  feed(nodeId.length & 0xffff);
  for (let i = 0; i < nodeId.length; i++) feed(nodeId.charCodeAt(i));
  for (let i = 0; i < key.length; i++) feed(key.charCodeAt(i));
  const high = fmix32(a ^ 0x9e3779b9) & 0x1fffff;
  return high * 0x1_0000_0000 + fmix32(b);
}

/** `nodes` ordered by descending score for `key` (the first is the owner); a new array. */
export function rankByRendezvous<T extends { id: string }>(nodes: readonly T[], key: string): T[] {
  return nodes
    .map((node) => ({ node, score: rendezvousScore(node.id, key) }))
    .sort((x, y) =>
      y.score - x.score || (x.node.id < y.node.id ? -1 : x.node.id > y.node.id ? 1 : 0)
    )
    .map((entry) => entry.node);
}
