/**
 * Connection budgets, so that no client can exhaust a node's file descriptors: every
 * listener admits a connection only within its budget — a total, a cap per client address,
 * and a smaller cap on connections that have not yet proved anything (no complete HTTP
 * request, no authorized RTMP publish). A flood from one address then costs that address
 * its own cap, established viewers and authorized publishers keep their connections, and the
 * process never reaches the descriptor limit where accepting fails for everyone.
 *
 * Budgets default to shares of the process's descriptor limit (Deno raises the soft limit
 * to the hard one at start; `/proc/self/limits` tells what it is), keeping a reserve for
 * files, the registry and upstream fetches. See docs/security.md.
 */

/** What a listener admits; every figure is a count of connections. */
export interface BudgetLimits {
  max: number;
  perAddress: number;
  /** Connections admitted but not yet established (no request, no publish) at once. */
  pending: number;
}

/** A held place in a budget: released exactly once, established at most once. */
export interface Admission {
  /** The connection proved itself (a complete request, an authorized publish). */
  established(): void;
  release(): void;
}

export type AdmitResult =
  | { ok: true; admission: Admission }
  | { ok: false; reason: "total" | "address" | "pending" };

export class ConnectionBudget {
  readonly limits: BudgetLimits;
  readonly #perAddress = new Map<string, number>();
  #total = 0;
  #pending = 0;

  constructor(limits: BudgetLimits) {
    for (const [k, v] of Object.entries(limits)) {
      if (!(Number.isInteger(v) && v >= 1)) {
        throw new RangeError(`Cannot make a connection budget: ${k} must be ≥ 1, got ${v}`);
      }
    }
    this.limits = limits;
  }

  get total(): number {
    return this.#total;
  }

  get pending(): number {
    return this.#pending;
  }

  /** Connections held by `address` now. */
  of(address: string): number {
    return this.#perAddress.get(address) ?? 0;
  }

  admit(address: string): AdmitResult {
    const held = this.#perAddress.get(address) ?? 0;
    const reason = this.#total >= this.limits.max
      ? "total"
      : held >= this.limits.perAddress
      ? "address"
      : this.#pending >= this.limits.pending
      ? "pending"
      : null;
    if (reason !== null) return { ok: false, reason };
    this.#total++;
    this.#pending++;
    this.#perAddress.set(address, held + 1);
    let pending = true;
    let released = false;
    return {
      ok: true,
      admission: {
        established: () => {
          if (!pending || released) return;
          pending = false;
          this.#pending--;
        },
        release: () => {
          if (released) return;
          released = true;
          if (pending) this.#pending--;
          this.#total--;
          const left = (this.#perAddress.get(address) ?? 1) - 1;
          if (left > 0) this.#perAddress.set(address, left);
          else this.#perAddress.delete(address);
        },
      },
    };
  }
}

/** The soft limit on open files from `/proc/self/limits`, or null where that is unknown. */
export function openFileLimit(): number | null {
  try {
    const text = Deno.readTextFileSync("/proc/self/limits");
    const line = text.split("\n").find((l) => l.startsWith("Max open files"));
    const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
    const n = Number(soft);
    return Number.isFinite(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** Descriptors kept out of every listener's budget: files, registry, upstream fetches. */
export function reservedDescriptors(limit: number): number {
  return Math.max(64, Math.ceil(limit * 0.1));
}

/** `share` (0–1] of the descriptors left after the reserve, at least 1. */
export function shareOfDescriptors(limit: number, share: number): number {
  return Math.max(1, Math.floor((limit - reservedDescriptors(limit)) * share));
}

/**
 * The default split of a listener's `max` connections: a quarter per address and half
 * pending, but never fewer than 8 (or `max`), so a small budget is not split to nothing.
 */
export function budgetOf(
  max: number,
  overrides: { perAddress?: number; pending?: number } = {},
): BudgetLimits {
  const floor = Math.min(max, 8);
  return {
    max,
    perAddress: overrides.perAddress ?? Math.max(floor, Math.floor(max / 4)),
    pending: overrides.pending ?? Math.max(floor, Math.floor(max / 2)),
  };
}

/**
 * Pauses an accept loop after an error, doubling from `minMs` to `maxMs`, so a listener
 * that cannot accept (descriptors exhausted) waits instead of spinning; `reset()` after a
 * successful accept.
 */
export class AcceptBackoff {
  readonly #minMs: number;
  readonly #maxMs: number;
  #next: number;

  constructor(minMs = 10, maxMs = 1000) {
    this.#minMs = minMs;
    this.#maxMs = maxMs;
    this.#next = minMs;
  }

  /** The delay to wait now; the next one doubles. */
  delay(): number {
    const d = this.#next;
    this.#next = Math.min(this.#maxMs, this.#next * 2);
    return d;
  }

  reset(): void {
    this.#next = this.#minMs;
  }
}

/**
 * Calls `emit` at most once per `intervalMs` with how many events were suppressed since,
 * so a flood of refusals or accept errors costs one log line per interval.
 */
export class RateLimitedLog {
  readonly #intervalMs: number;
  #last = -Infinity;
  #suppressed = 0;

  constructor(intervalMs = 10_000) {
    this.#intervalMs = intervalMs;
  }

  /** Returns the number of events this line stands for, or 0 when it should stay silent. */
  hit(now = performance.now()): number {
    this.#suppressed++;
    if (now - this.#last < this.#intervalMs) return 0;
    this.#last = now;
    const n = this.#suppressed;
    this.#suppressed = 0;
    return n;
  }
}
