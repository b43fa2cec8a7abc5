/**
 * Hot standby and takeover (docs/architecture.md, "Failover and standby"). When an encoder
 * publishes here a name another origin holds — a second encoder for redundancy, or the
 * first one moving after its origin died — this origin packages it anyway and stands by:
 * every `checkMs` it reads the claim, and takes the stream over the moment that claim ends
 * or goes stale (its playlist has not changed for a target duration and a second: the
 * origin or its encoder is gone), or sooner when the primary origin's HTTP port refuses
 * connections (the process is gone; a timeout proves nothing, so it waits for staleness).
 * One probe per primary origin per check, however many of its streams stand by here. A takeover first makes this origin's playlist continue
 * the other's sequences (`lastSequence`, `discontinuitySequence` of the record) after one
 * discontinuity, then claims over exactly the record judged dead, so a claim that came back
 * to life meanwhile is never taken and no two origins own a name. With `ORIGIN_STANDBY=false`
 * a second encoder is refused instead (`refuseWhenLiveElsewhere`); an encoder moving from a
 * dead origin is still taken, as that claim is stale.
 */
import type { Logger } from "@cascade/common/log";
import type { PublishAuthorizer } from "@cascade/common/publish_auth";
import type { Continuation } from "@cascade/media/hls/segmenter";
import { RegistryUnavailableError } from "@cascade/registry/errors";
import type { Registry, Replacing, StreamRecord } from "@cascade/registry";

/** How often a standby reads its primary's claim, by default. */
export const STANDBY_CHECK_MS = 500;

export interface StandbyOptions {
  registry: Registry;
  originId: string;
  log: Logger;
  /** Makes `name`'s playlist continue `c`; false when `name` is not published here. */
  continueFrom(name: string, c: Continuation): Promise<boolean>;
  /** Claims `name` (over `replacing`); whether this origin holds it afterwards. */
  takeOver(name: string, replacing?: Replacing): Promise<boolean>;
  checkMs?: number;
  now?: () => number;
  /** Whether the origin at `originUrl` refuses connections; `refusesConnections` by default. */
  refuses?: (originUrl: string) => Promise<boolean>;
}

/** How long a probe of a primary origin may take before it counts as no answer. */
const PROBE_TIMEOUT_MS = 400;

/**
 * Whether nothing listens at `originUrl` any more: its `/healthz` connection is refused. Any
 * answer, a timeout or another failure says the process may still be there.
 */
export async function refusesConnections(originUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${originUrl}/healthz`, {
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return false;
  } catch (err) {
    for (let e: unknown = err; e instanceof Error; e = e.cause) {
      if (/connection refused|ECONNREFUSED/i.test(e.message)) return true;
    }
    return false;
  }
}

/** Whether a claim's playlist is too old for its origin to be serving it. */
export function staleClaim(record: StreamRecord, now: number): boolean {
  return now - record.updatedAt > (record.targetDuration + 1) * 1000;
}

/** Where `record`'s playlist stopped, when it says. */
export function continuationOf(record: StreamRecord): Continuation | undefined {
  if (record.lastSequence === undefined) return undefined;
  return {
    lastSequence: record.lastSequence,
    discontinuitySequence: record.discontinuitySequence ?? 0,
    targetDuration: record.targetDuration,
  };
}

/**
 * `ORIGIN_STANDBY=false`: a publish of a name another origin serves live (a fresh claim) is
 * refused with a status saying where; a registry outage never blocks a publish.
 */
export function refuseWhenLiveElsewhere(
  inner: PublishAuthorizer,
  registry: Registry,
  originId: string,
  now: () => number = Date.now,
): PublishAuthorizer {
  return {
    mode: inner.mode,
    async authorize(req) {
      const decision = await inner.authorize(req);
      if (!decision.ok) return decision;
      const current = await registry.getStream(decision.name).catch(() => null);
      if (current === null || current.originId === originId || staleClaim(current, now())) {
        return decision;
      }
      return {
        ok: false,
        reason: `Stream ${decision.name} is live on origin ${current.originId}, and this ` +
          `origin runs no standby (ORIGIN_STANDBY=false)`,
      };
    },
  };
}

export class StandbyWatch {
  readonly #o: StandbyOptions;
  readonly #log: Logger;
  /** Names standing by, with the primary's record as last read. */
  readonly #primaries = new Map<string, StreamRecord | null>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking = false;

  constructor(o: StandbyOptions) {
    this.#o = o;
    this.#log = o.log;
  }

  /** `name`'s claim was refused: `current` holds it (null if it just went). */
  refused(name: string, current: StreamRecord | null): void {
    this.#primaries.set(name, current ?? this.#primaries.get(name) ?? null);
    this.#timer ??= setInterval(() => void this.check(), this.#o.checkMs ?? STANDBY_CHECK_MS);
  }

  /** `name` is no longer published here. */
  forget(name: string): void {
    this.#primaries.delete(name);
    if (this.#primaries.size === 0) this.#stopTimer();
  }

  /** Reads each primary's claim once and takes over those that ended or went stale. */
  async check(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    const probes = new Map<string, Promise<boolean>>();
    const refuses = (url: string): Promise<boolean> => {
      let probe = probes.get(url);
      if (!probe) probes.set(url, probe = (this.#o.refuses ?? refusesConnections)(url));
      return probe;
    };
    try {
      for (const name of [...this.#primaries.keys()]) await this.#checkOne(name, refuses);
    } finally {
      this.#checking = false;
    }
  }

  stop(): void {
    this.#primaries.clear();
    this.#stopTimer();
  }

  async #checkOne(name: string, refuses: (url: string) => Promise<boolean>): Promise<void> {
    let current: StreamRecord | null;
    try {
      current = await this.#o.registry.getStream(name);
    } catch (err) {
      if (!(err instanceof RegistryUnavailableError)) {
        this.#log.error("standby.check_failed", { name, error: err });
      }
      return;
    }
    if (!this.#primaries.has(name)) return;
    if (current?.originId === this.#o.originId) return this.forget(name);
    if (current === null) {
      return await this.#takeOver(name, this.#primaries.get(name) ?? null, undefined, "ended");
    }
    this.#primaries.set(name, current);
    const replacing = { originId: current.originId, updatedAt: current.updatedAt };
    if (staleClaim(current, (this.#o.now ?? Date.now)())) {
      await this.#takeOver(name, current, replacing, "stale");
    } else if (await refuses(current.originUrl)) {
      await this.#takeOver(name, current, replacing, "unreachable");
    }
  }

  async #takeOver(
    name: string,
    primary: StreamRecord | null,
    replacing: Replacing | undefined,
    why: "ended" | "stale" | "unreachable",
  ): Promise<void> {
    const c = primary === null ? undefined : continuationOf(primary);
    const continued = c !== undefined && await this.#o.continueFrom(name, c);
    // Our own encoder is gone too (the playlist waits for it to reconnect): nothing to offer.
    if (c !== undefined && !continued) return;
    const owned = await this.#o.takeOver(name, replacing);
    this.#log.info(owned ? "standby.took_over" : "standby.takeover_lost", {
      name,
      primary: primary?.originId ?? null,
      why,
      continued,
      lastSequence: c?.lastSequence ?? null,
    });
    if (owned) this.forget(name);
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
