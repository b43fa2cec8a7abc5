/**
 * The registry side of announcing an origin's streams: told what is live (from a packager's
 * events in a Cascade origin, or from playlists read on disk beside nginx-rtmp), it keeps
 * `stream:{name}` claimed while the stream is live and `vod:{name}` announced while a finished
 * broadcast is kept, following docs/architecture.md ("Registry"). A claim whose playlist
 * changed carries the new `updatedAt`, which publishes `stream.update`; a timer refreshes
 * every claim each TTL/4 whatever the streams do, so a live stream never expires while its
 * origin runs and the streams of a dead origin expire within the TTL. After a registry
 * reconnect everything is announced again at once; an outage is one log line and never
 * stops the caller. Work on one name runs in order, so a release never overtakes the claim
 * before it; only the owner's claims are released (compare-and-delete). When another origin
 * holds a name, `onRefused` may make this one its standby: no claims for it then until
 * `takeOver()` (docs/architecture.md, "Failover and standby").
 */
import type { Logger } from "@cascade/common/log";
import { LIVE_PLAYLIST, VOD_PLAYLIST } from "@cascade/media/hls/layout";
import { RegistryUnavailableError } from "./errors.ts";
import type {
  ClaimResult,
  Registry,
  Replacing,
  StreamMedia,
  StreamRecord,
  VodRecord,
} from "./types.ts";

export interface StreamAnnouncerOptions {
  registry: Registry;
  /** The origin's `NODE_ID`: the owner recorded in claims. */
  originId: string;
  /** The origin's public base URL; a function when it is known only once the origin listens. */
  originUrl: string | (() => string);
  /** Claim TTL; fractions allowed (tests use short ones). */
  ttlSeconds: number;
  log: Logger;
  /** Refresh period of live claims (default TTL/4). */
  refreshIntervalMs?: number;
  /** First word of this announcer's log events, e.g. `discovery` (default `announce`). */
  logPrefix?: string;
  /**
   * Another origin holds `name` (`current`, null if it vanished meanwhile): "standby" stops
   * claiming it until `takeOver()`; "retry" (the default) claims again at each refresh.
   */
  onRefused?: (name: string, current: StreamRecord | null) => "standby" | "retry";
}

/** What a live playlist says about its stream. */
export interface LiveState {
  targetDuration: number;
  mediaSequence: number;
  /** The newest segment's media and discontinuity sequence numbers, once there is one. */
  lastSequence?: number;
  discontinuitySequence?: number;
  /** When the playlist last changed, epoch ms. */
  updatedAt: number;
  /** RFC 6381 codecs, when the announcer's source knows them (an origin, not a file watcher). */
  codecs?: string;
  /** Encoder figures measured on ingest, likewise. */
  media?: StreamMedia;
  /** The origin serves `ll.m3u8` for this stream (`StreamRecord.ll`). */
  ll?: boolean;
}

/** What a finished broadcast's `vod.m3u8` says. */
export interface VodState {
  targetDuration: number;
  /** When `vod.m3u8` was written, epoch ms: names the broadcast; the latest one wins. */
  updatedAt: number;
}

interface Announced {
  name: string;
  /** The record to claim while live; null while not live. */
  record: StreamRecord | null;
  /** This announcer holds the claim, as of its last registry answer. */
  owned: boolean;
  /** Owner named by the last refused claim, so a conflict is logged once. */
  conflictWith: string | null;
  /** Standing by for another origin's claim: no claims until `takeOver()`. */
  standby: boolean;
  vod: VodRecord | null;
  /** Last answer to announcing `vod`: written, or refused for a newer VOD elsewhere. */
  vodState: "unknown" | "announced" | "newer-elsewhere";
  /** A timed announce is queued; a slow registry must not pile up more of them. */
  announceQueued: boolean;
  /** Work on one name runs in order. */
  queue: Promise<void>;
}

export class StreamAnnouncer {
  readonly #registry: Registry;
  readonly #originId: string;
  readonly #originUrl: () => string;
  readonly #ttlMs: number;
  readonly #refreshMs: number;
  readonly #log: Logger;
  readonly #prefix: string;
  readonly #onRefused: StreamAnnouncerOptions["onRefused"];
  readonly #streams = new Map<string, Announced>();
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #offReconnect: (() => void) | undefined;
  #registryDown = false;
  #stopped = false;

  constructor(opts: StreamAnnouncerOptions) {
    if (!(opts.ttlSeconds > 0)) throw new RangeError(`Invalid TTL: ${opts.ttlSeconds} s`);
    this.#registry = opts.registry;
    this.#originId = opts.originId;
    const url = opts.originUrl;
    this.#originUrl = typeof url === "function"
      ? () => url().replace(/\/+$/, "")
      : () => url.replace(/\/+$/, "");
    this.#ttlMs = Math.max(1, Math.round(opts.ttlSeconds * 1000));
    this.#refreshMs = opts.refreshIntervalMs ?? Math.max(1, Math.floor(this.#ttlMs / 4));
    this.#log = opts.log;
    this.#prefix = opts.logPrefix ?? "announce";
    this.#onRefused = opts.onRefused;
  }

  /** Starts the refresh timer and re-announcing after a registry reconnect. */
  start(): void {
    if (this.#refreshTimer !== undefined || this.#stopped) return;
    this.#offReconnect = this.#registry.onReconnect(() => this.#announceAll("reconnect"));
    this.#refreshTimer = setInterval(() => this.#announceAll("refresh"), this.#refreshMs);
  }

  /** Releases the claims and VOD records this announcer holds (and only those). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#refreshTimer);
    this.#offReconnect?.();
    for (const a of this.#streams.values()) {
      this.#enqueue(a, async () => {
        await this.#release(a, "stopped");
        await this.#withdrawVod(a);
      });
    }
    await this.settled();
    this.#streams.clear();
  }

  /** Live names this origin stands by for while another one holds their claim. */
  standbyStreams(): string[] {
    return [...this.#streams.values()].filter((a) => a.record !== null && a.standby)
      .map((a) => a.name);
  }

  /**
   * Claims `name` now, as a standby taking over: over the claim `replacing` names if given
   * (`Registry.claimStream`). Resolves with whether this origin holds the claim afterwards;
   * if not, it stays standby.
   */
  takeOver(name: string, replacing?: Replacing): Promise<boolean> {
    const a = this.#streams.get(name);
    if (a === undefined || a.record === null || this.#stopped) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.#enqueue(a, async () => {
        a.standby = false;
        await this.#claim(a, replacing);
        resolve(a.owned);
      });
    });
  }

  /** Names this announcer currently takes as live. */
  liveStreams(): string[] {
    return [...this.#streams.values()].filter((a) => a.record !== null).map((a) => a.name);
  }

  /** `name` is live with this playlist: claim it, or refresh the claim with the new state. */
  live(name: string, state: LiveState): void {
    if (this.#stopped) return;
    const a = this.#entry(name);
    const originUrl = this.#originUrl();
    a.record = {
      name,
      originId: this.#originId,
      originUrl,
      manifest: `${originUrl}/live/${name}/${LIVE_PLAYLIST}`,
      startedAt: a.record?.startedAt ?? Date.now(),
      updatedAt: state.updatedAt,
      targetDuration: state.targetDuration,
      mediaSequence: state.mediaSequence,
    };
    if (state.lastSequence !== undefined) a.record.lastSequence = state.lastSequence;
    if (state.discontinuitySequence !== undefined) {
      a.record.discontinuitySequence = state.discontinuitySequence;
    }
    if (state.codecs !== undefined) a.record.codecs = state.codecs;
    if (state.media !== undefined) a.record.media = state.media;
    if (state.ll !== undefined) a.record.ll = state.ll;
    this.#enqueue(a, () => this.#claim(a));
  }

  /** `name` is no longer live (`reason` is logged): release the claim if this origin holds it. */
  ended(name: string, reason: string): void {
    const a = this.#streams.get(name);
    if (a === undefined || this.#stopped) return;
    a.record = null;
    this.#enqueue(a, () => this.#release(a, reason));
  }

  /** A finished broadcast of `name` is kept as VOD: announce it unless it is already. */
  vod(name: string, state: VodState): void {
    if (this.#stopped) return;
    const a = this.#entry(name);
    if (a.vod?.updatedAt === state.updatedAt) return;
    const originUrl = this.#originUrl();
    a.vod = {
      name,
      originId: this.#originId,
      originUrl,
      manifest: `${originUrl}/live/${name}/${VOD_PLAYLIST}`,
      updatedAt: state.updatedAt,
      targetDuration: state.targetDuration,
    };
    this.#enqueue(a, () => this.#announceVod(a));
  }

  /** The VOD of `name` is gone: withdraw its record if this origin wrote it. */
  vodGone(name: string): void {
    const a = this.#streams.get(name);
    if (a === undefined || this.#stopped) return;
    this.#enqueue(a, () => this.#withdrawVod(a));
  }

  /** Waits until every queued registry call (including ones queued meanwhile) has run. */
  async settled(): Promise<void> {
    while (true) {
      const queues = [...this.#streams.values()].map((a) => a.queue);
      await Promise.all(queues);
      const now = [...this.#streams.values()].map((a) => a.queue);
      if (now.length === queues.length && now.every((q, i) => q === queues[i])) return;
    }
  }

  #entry(name: string): Announced {
    let a = this.#streams.get(name);
    if (a === undefined) {
      a = {
        name,
        record: null,
        owned: false,
        conflictWith: null,
        standby: false,
        vod: null,
        vodState: "unknown",
        announceQueued: false,
        queue: Promise.resolve(),
      };
      this.#streams.set(name, a);
    }
    return a;
  }

  async #claim(a: Announced, replacing?: Replacing): Promise<void> {
    const record = a.record;
    if (record === null || a.standby) return;
    let result: ClaimResult;
    try {
      result = await this.#registry.claimStream(
        record,
        this.#ttlMs,
        replacing === undefined ? undefined : { replacing },
      );
    } catch (err) {
      this.#registryFailed("claim", a.name, err);
      return;
    }
    this.#registryOk();
    if (result.ok) {
      a.owned = true;
      a.conflictWith = null;
      if (result.created) {
        this.#log.info(`${this.#prefix}.announced`, {
          name: a.name,
          manifest: record.manifest,
          mediaSequence: record.mediaSequence,
        });
      }
      return;
    }
    a.owned = false;
    a.standby = this.#onRefused?.(a.name, result.current) === "standby";
    if (a.conflictWith !== result.owner) {
      a.conflictWith = result.owner;
      if (a.standby) {
        this.#log.info(`${this.#prefix}.standby`, { name: a.name, primary: result.owner });
      } else {
        this.#log.warn(`${this.#prefix}.claimed_elsewhere`, { name: a.name, owner: result.owner });
      }
    }
  }

  async #release(a: Announced, reason: string): Promise<void> {
    a.record = null;
    a.conflictWith = null;
    a.standby = false;
    if (!a.owned) return;
    a.owned = false;
    try {
      const released = await this.#registry.releaseStream(a.name, this.#originId);
      this.#registryOk();
      this.#log.info(`${this.#prefix}.released`, { name: a.name, reason, released });
    } catch (err) {
      // The claim then expires by TTL: nothing refreshes it any more.
      this.#registryFailed("release", a.name, err);
    }
  }

  async #announceVod(a: Announced): Promise<void> {
    const record = a.vod;
    if (record === null) return;
    let written: boolean;
    try {
      written = await this.#registry.announceVod(record, this.#ttlMs);
    } catch (err) {
      this.#registryFailed("announce_vod", a.name, err);
      return;
    }
    this.#registryOk();
    const state = written ? "announced" : "newer-elsewhere";
    if (state === a.vodState) return;
    a.vodState = state;
    if (written) {
      this.#log.info(`${this.#prefix}.vod_announced`, { name: a.name, manifest: record.manifest });
    } else {
      // Another origin holds a later broadcast of the name; this one takes over if that dies.
      this.#log.info(`${this.#prefix}.vod_newer_elsewhere`, { name: a.name });
    }
  }

  async #withdrawVod(a: Announced): Promise<void> {
    const hadVod = a.vod !== null;
    const refused = a.vodState === "newer-elsewhere";
    a.vod = null;
    a.vodState = "unknown";
    if (!hadVod || refused) return;
    try {
      // Compare-and-delete: harmless if the record is another origin's by now.
      const withdrawn = await this.#registry.withdrawVod(a.name, this.#originId);
      this.#registryOk();
      this.#log.info(`${this.#prefix}.vod_withdrawn`, { name: a.name, withdrawn });
    } catch (err) {
      // The record then expires by TTL: nothing refreshes it any more.
      this.#registryFailed("withdraw_vod", a.name, err);
    }
  }

  #announceAll(why: "refresh" | "reconnect"): void {
    if (this.#stopped) return;
    const all = [...this.#streams.values()];
    if (why === "reconnect") {
      this.#log.info(`${this.#prefix}.reannounce`, {
        streams: all.filter((a) => a.record !== null).length,
        vods: all.filter((a) => a.vod !== null).length,
      });
    }
    for (const a of all) {
      if (a.announceQueued || (a.record === null && a.vod === null)) continue;
      a.announceQueued = true;
      this.#enqueue(a, async () => {
        a.announceQueued = false;
        await this.#claim(a);
        await this.#announceVod(a);
      });
    }
  }

  #enqueue(a: Announced, job: () => Promise<void>): void {
    const queue: Promise<void> = a.queue.then(job).catch((err) => {
      this.#log.error(`${this.#prefix}.job_failed`, { name: a.name, error: err });
    }).finally(() => {
      // Forget a name once nothing more is queued and nothing is held, so names do not pile up.
      const idle = a.queue === queue && a.record === null && !a.owned && a.vod === null;
      if (idle && this.#streams.get(a.name) === a) this.#streams.delete(a.name);
    });
    a.queue = queue;
  }

  #registryFailed(op: string, name: string, err: unknown): void {
    if (err instanceof RegistryUnavailableError) {
      // One line per outage; the refresh timer and the reconnect hook retry.
      if (!this.#registryDown) {
        this.#registryDown = true;
        this.#log.warn(`${this.#prefix}.registry_unavailable`, { op, name, error: err });
      }
      return;
    }
    this.#log.error(`${this.#prefix}.registry_failed`, { op, name, error: err });
  }

  #registryOk(): void {
    if (!this.#registryDown) return;
    this.#registryDown = false;
    this.#log.info(`${this.#prefix}.registry_available`);
  }
}
