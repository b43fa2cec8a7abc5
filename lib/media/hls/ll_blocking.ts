/**
 * Blocking playlist reload (draft-pantos-hls-rfc8216bis §6.2.5.2) as pure decisions: the
 * query of an `ll.m3u8` request (`_HLS_msn`, `_HLS_part`, `_HLS_skip`) is read by
 * `parseLlDirectives`, and `decideBlocking` says, against where the stream is, whether the
 * playlist already holds what was asked for (answer now), will soon (hold the request and
 * ask again after the next part) or never can (400). The rules, as docs/architecture.md
 * ("HLS output") states them: a non-integer value or `_HLS_part` without `_HLS_msn` is a
 * 400; `_HLS_msn` alone means part 0 (Safari sends it so); a part past the last of a
 * complete segment means part 0 of the next; a request more than two segments ahead, or more
 * parts ahead than the advance limit (3 / PART-TARGET, or 3 from a one-second target up),
 * is a 400 at once; an ended playlist ignores the directives. The waiting itself, its
 * timeout (503) and its cap live with the server.
 */

export interface LlDirectives {
  /** `_HLS_msn`; absent without blocking. */
  msn?: number;
  /** `_HLS_part`; absent means part 0 of `msn`. */
  part?: number;
  /** `_HLS_skip=YES` (or `v2`): a delta update is asked for. */
  skip: boolean;
}

/** Where a live LL playlist is: the part that comes next. */
export interface LlPosition {
  /** Media sequence number of the segment the next part belongs to. */
  sequence: number;
  /** Index of the next part in it, i.e. how many of its parts are listed. */
  part: number;
  ended: boolean;
  /** How many parts a complete segment has, while the stream still knows it. */
  partsOf(sequence: number): number | undefined;
}

export type BlockingDecision =
  | { action: "answer" }
  | { action: "wait" }
  | { action: "reject"; message: string };

const DECIMAL = /^\d{1,15}$/;

/**
 * The directives of a query. Throws `SyntaxError` (a 400) for a value that is not a
 * decimal integer, a `_HLS_part` without `_HLS_msn`, or an unknown `_HLS_skip`.
 */
export function parseLlDirectives(query: URLSearchParams): LlDirectives {
  const msn = query.get("_HLS_msn");
  const part = query.get("_HLS_part");
  const skip = query.get("_HLS_skip");
  if (msn !== null && !DECIMAL.test(msn)) {
    throw new SyntaxError(`Invalid _HLS_msn: ${msn.slice(0, 20)}`);
  }
  if (part !== null && !DECIMAL.test(part)) {
    throw new SyntaxError(`Invalid _HLS_part: ${part.slice(0, 20)}`);
  }
  if (part !== null && msn === null) throw new SyntaxError("Invalid _HLS_part: no _HLS_msn");
  if (skip !== null && skip !== "YES" && skip !== "v2") {
    throw new SyntaxError(`Invalid _HLS_skip: ${skip.slice(0, 20)}`);
  }
  return {
    ...(msn === null ? {} : { msn: Number(msn) }),
    ...(part === null ? {} : { part: Number(part) }),
    skip: skip !== null,
  };
}

/** Parts a request may run ahead of the last listed part (§6.2.5.2, Advance Part Limit). */
export function advancePartLimit(partTarget: number): number {
  return partTarget < 1 ? 3 / partTarget : 3;
}

/** What to do with a request carrying `d` while the stream is at `at`. */
export function decideBlocking(
  d: LlDirectives,
  at: LlPosition,
  partTarget: number,
): BlockingDecision {
  if (d.msn === undefined || at.ended) return { action: "answer" };
  let msn = d.msn;
  let part = d.part ?? 0;
  if (msn < at.sequence) {
    const parts = at.partsOf(msn);
    if (parts !== undefined && part >= parts) {
      msn++;
      part = 0;
    }
  }
  if (msn < at.sequence) return { action: "answer" };
  // The last listed segment: the one being written once it has a part, else the one before.
  const lastListed = at.part > 0 ? at.sequence : at.sequence - 1;
  if (msn > lastListed + 2) {
    return {
      action: "reject",
      message: `_HLS_msn ${d.msn} is more than two segments after the last (${lastListed})`,
    };
  }
  const ahead = msn === at.sequence ? part - (at.part - 1) : part + 1;
  if (ahead > advancePartLimit(partTarget)) {
    return { action: "reject", message: `_HLS_part ${part} is too far ahead of the last part` };
  }
  if (msn === at.sequence && part < at.part) return { action: "answer" };
  return { action: "wait" };
}
