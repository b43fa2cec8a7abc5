/**
 * The discovery watcher: turns HLS playlists on disk into registry claims. It watches
 * `MEDIA_ROOT/{name}/index.m3u8` (the layout of Cascade's origin and of nginx-rtmp with
 * `hls_nested on`) and keeps `stream:{name}` claimed while the playlist is live: a new or
 * changed playlist claims or refreshes it, and `#EXT-X-ENDLIST`, removal, or no change for
 * three target durations releases it. A timer refreshes every live stream each TTL/4
 * whatever the files do, so a live stream never expires while this watcher runs and the
 * streams of a dead watcher expire within the TTL. After a registry reconnect every live
 * stream is announced again at once. Runs as its own process or inside an origin.
 */
import { basename, dirname, relative, resolve, sep } from "node:path";
import { type FSWatcher, watch } from "chokidar";
import { STREAM_NAME_RE } from "@cascade/common/config";
import type { Logger } from "@cascade/common/log";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import {
  type ClaimResult,
  type Registry,
  RegistryUnavailableError,
  type StreamRecord,
} from "@cascade/registry";

export const PLAYLIST_NAME = "index.m3u8";
/** A playlist unchanged for this many target durations is taken as abandoned. */
export const STALE_TARGET_DURATIONS = 3;

export interface DiscoveryWatcherOptions {
  registry: Registry;
  /** Directory holding one sub-directory per stream. */
  mediaRoot: string;
  /** This origin's `NODE_ID`; the owner recorded in claims. */
  originId: string;
  /** This origin's public base URL, without a trailing slash. */
  originUrl: string;
  /** Claim TTL; fractions allowed (tests use short ones). */
  ttlSeconds: number;
  log: Logger;
  /** Refresh period of live streams (default TTL/4). */
  refreshIntervalMs?: number;
  /** Poll the file system instead of inotify, for network file systems. */
  polling?: boolean;
}

/** What the watcher knows about one stream directory. */
interface Tracked {
  name: string;
  /** Text of the last playlist read, to tell real changes from repeated events. */
  text: string | null;
  /** The record to announce while live; null while not live. */
  record: StreamRecord | null;
  /** This watcher holds the claim, as of its last registry answer. */
  owned: boolean;
  /** Owner named by the last refused claim, so a conflict is logged once. */
  conflictWith: string | null;
  staleTimer: ReturnType<typeof setTimeout> | undefined;
  /** A timed announce is queued; a slow registry must not pile up more of them. */
  announceQueued: boolean;
  /** Work on one stream runs in order: a release never overtakes the claim before it. */
  queue: Promise<void>;
}

type GoneReason = "ended" | "unlinked" | "stale" | "stopped";

export class DiscoveryWatcher {
  readonly #registry: Registry;
  readonly #root: string;
  readonly #originId: string;
  readonly #originUrl: string;
  readonly #ttlMs: number;
  readonly #refreshMs: number;
  readonly #polling: boolean;
  readonly #log: Logger;
  readonly #streams = new Map<string, Tracked>();
  /** Directory names already reported as unusable; never logged themselves (could be keys). */
  readonly #ignored = new Set<string>();
  #watcher: FSWatcher | undefined;
  #refreshTimer: ReturnType<typeof setInterval> | undefined;
  #offReconnect: (() => void) | undefined;
  #registryDown = false;
  #stopped = false;

  constructor(opts: DiscoveryWatcherOptions) {
    if (!(opts.ttlSeconds > 0)) throw new RangeError(`Invalid TTL: ${opts.ttlSeconds} s`);
    this.#registry = opts.registry;
    this.#root = resolve(opts.mediaRoot);
    this.#originId = opts.originId;
    this.#originUrl = opts.originUrl.replace(/\/+$/, "");
    this.#ttlMs = Math.max(1, Math.round(opts.ttlSeconds * 1000));
    this.#refreshMs = opts.refreshIntervalMs ?? Math.max(1, Math.floor(this.#ttlMs / 4));
    this.#polling = opts.polling ?? false;
    this.#log = opts.log.child({ component: "discovery" });
  }

  /**
   * Starts watching (creating the media root if needed); resolves once the playlists
   * already on disk have been announced.
   */
  async start(): Promise<void> {
    if (this.#watcher || this.#stopped) throw new Error("DiscoveryWatcher cannot be started twice");
    // chokidar watches a missing root through its parent but then misses files two levels down.
    await Deno.mkdir(this.#root, { recursive: true });
    const watcher = watch(this.#root, {
      depth: 1,
      ignoreInitial: false,
      backend: this.#polling ? "polling" : "auto",
      // Only playlists matter; segments would be most of the events.
      ignored: (path, stats) => stats?.isFile() === true && basename(path) !== PLAYLIST_NAME,
    });
    this.#watcher = watcher;
    watcher.on("add", (path) => this.#onFile(path));
    watcher.on("change", (path) => this.#onFile(path));
    watcher.on("unlink", (path) => this.#onUnlink(path));
    watcher.on("unlinkDir", (path) => this.#onUnlinkDir(path));
    watcher.on("error", (err) => this.#log.warn("discovery.watch_error", { error: err }));
    this.#offReconnect = this.#registry.onReconnect(() => this.#announceAll("reconnect"));
    this.#refreshTimer = setInterval(() => this.#announceAll("refresh"), this.#refreshMs);
    await new Promise<void>((resolve) => watcher.once("ready", () => resolve()));
    await this.#settled();
    this.#log.info("discovery.started", {
      mediaRoot: this.#root,
      originId: this.#originId,
      ttlMs: this.#ttlMs,
      live: this.liveStreams().length,
    });
  }

  /**
   * Stops watching and releases the claims this watcher holds (and only those), so that
   * edges learn at once rather than at TTL expiry.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#refreshTimer);
    this.#offReconnect?.();
    await this.#watcher?.close();
    for (const t of this.#streams.values()) this.#enqueue(t, () => this.#gone(t, "stopped"));
    await this.#settled();
    this.#streams.clear();
    this.#log.info("discovery.stopped", { originId: this.#originId });
  }

  /** Names of the streams currently live according to their playlists. */
  liveStreams(): string[] {
    return [...this.#streams.values()].filter((t) => t.record !== null).map((t) => t.name);
  }

  /** The stream a playlist path belongs to, or null for any other path. */
  #nameOfPlaylist(path: string): string | null {
    const parts = relative(this.#root, path).split(sep);
    if (parts.length !== 2 || parts[1] !== PLAYLIST_NAME) return null;
    return this.#checkName(parts[0]!);
  }

  /** The stream a directory directly under the media root belongs to, or null. */
  #nameOfDir(path: string): string | null {
    if (dirname(path) !== this.#root) return null;
    return this.#checkName(basename(path));
  }

  #checkName(dir: string): string | null {
    if (STREAM_NAME_RE.test(dir)) return dir;
    if (!this.#ignored.has(dir)) {
      this.#ignored.add(dir);
      // The directory name is not logged: with a misconfigured nginx-rtmp it is a stream key.
      this.#log.warn("discovery.ignored_directory", {
        reason: `name does not match ${STREAM_NAME_RE.source}`,
        length: dir.length,
      });
    }
    return null;
  }

  #track(name: string): Tracked {
    let t = this.#streams.get(name);
    if (t === undefined) {
      t = {
        name,
        text: null,
        record: null,
        owned: false,
        conflictWith: null,
        staleTimer: undefined,
        announceQueued: false,
        queue: Promise.resolve(),
      };
      this.#streams.set(name, t);
    }
    return t;
  }

  #onFile(path: string): void {
    const name = this.#nameOfPlaylist(path);
    if (name === null || this.#stopped) return;
    const t = this.#track(name);
    this.#enqueue(t, () => this.#read(t, path));
  }

  #onUnlink(path: string): void {
    const name = this.#nameOfPlaylist(path);
    const t = name === null ? undefined : this.#streams.get(name);
    if (t === undefined || this.#stopped) return;
    this.#enqueue(t, () => this.#gone(t, "unlinked"));
  }

  #onUnlinkDir(path: string): void {
    const name = this.#nameOfDir(path);
    const t = name === null ? undefined : this.#streams.get(name);
    if (t === undefined || this.#stopped) return;
    this.#enqueue(t, () => this.#gone(t, "unlinked"));
  }

  async #read(t: Tracked, path: string): Promise<void> {
    let text: string;
    let mtimeMs: number;
    try {
      const [content, info] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
      text = content;
      mtimeMs = info.mtime?.getTime() ?? Date.now();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return await this.#gone(t, "unlinked");
      this.#log.warn("discovery.read_failed", { name: t.name, error: err });
      return;
    }
    if (text === t.text) return;
    t.text = text;

    let playlist: LivePlaylist;
    try {
      playlist = parsePlaylist(text);
    } catch (err) {
      this.#log.warn("discovery.bad_playlist", { name: t.name, error: err });
      return;
    }
    if (playlist.ended) return await this.#gone(t, "ended");

    const staleAfterMs = STALE_TARGET_DURATIONS * Math.max(1, playlist.targetDuration) * 1000;
    const staleInMs = mtimeMs + staleAfterMs - Date.now();
    // A leftover playlist of a publisher that died before this watcher started.
    if (staleInMs <= 0) return await this.#gone(t, "stale");

    const now = Date.now();
    t.record = {
      name: t.name,
      originId: this.#originId,
      originUrl: this.#originUrl,
      manifest: `${this.#originUrl}/live/${t.name}/${PLAYLIST_NAME}`,
      startedAt: t.record?.startedAt ?? now,
      updatedAt: Math.min(mtimeMs, now),
      targetDuration: playlist.targetDuration,
      mediaSequence: playlist.mediaSequence,
    };
    clearTimeout(t.staleTimer);
    t.staleTimer = setTimeout(() => {
      t.staleTimer = undefined;
      this.#enqueue(t, () => this.#gone(t, "stale"));
    }, staleInMs);
    await this.#announce(t);
  }

  async #announce(t: Tracked): Promise<void> {
    const record = t.record;
    if (record === null) return;
    let result: ClaimResult;
    try {
      result = await this.#registry.claimStream(record, this.#ttlMs);
    } catch (err) {
      this.#registryFailed("claim", t.name, err);
      return;
    }
    this.#registryOk();
    if (result.ok) {
      t.owned = true;
      t.conflictWith = null;
      if (result.created) {
        this.#log.info("discovery.announced", {
          name: t.name,
          manifest: record.manifest,
          mediaSequence: record.mediaSequence,
        });
      }
      return;
    }
    t.owned = false;
    if (t.conflictWith !== result.owner) {
      t.conflictWith = result.owner;
      this.#log.warn("discovery.claimed_elsewhere", { name: t.name, owner: result.owner });
    }
  }

  async #gone(t: Tracked, reason: GoneReason): Promise<void> {
    clearTimeout(t.staleTimer);
    t.staleTimer = undefined;
    const wasLive = t.record !== null;
    t.record = null;
    t.conflictWith = null;
    if (reason === "unlinked") t.text = null;
    if (!t.owned) {
      if (wasLive) this.#log.info("discovery.ended", { name: t.name, reason, owned: false });
      return;
    }
    t.owned = false;
    try {
      const released = await this.#registry.releaseStream(t.name, this.#originId);
      this.#registryOk();
      this.#log.info("discovery.released", { name: t.name, reason, released });
    } catch (err) {
      // The claim then expires by TTL: nothing refreshes it any more.
      this.#registryFailed("release", t.name, err);
    }
  }

  #announceAll(why: "refresh" | "reconnect"): void {
    if (this.#stopped) return;
    const live = [...this.#streams.values()].filter((t) => t.record !== null);
    if (why === "reconnect") {
      this.#log.info("discovery.reannounce", { streams: live.length });
    }
    for (const t of live) {
      if (t.announceQueued) continue;
      t.announceQueued = true;
      this.#enqueue(t, () => {
        t.announceQueued = false;
        return this.#announce(t);
      });
    }
  }

  #enqueue(t: Tracked, job: () => Promise<void>): void {
    const queue: Promise<void> = t.queue.then(job).catch((err) => {
      this.#log.error("discovery.job_failed", { name: t.name, error: err });
    }).finally(() => {
      // Forget a vanished stream once nothing more is queued for it, so names do not pile up.
      const idle = t.queue === queue && t.text === null && t.record === null && !t.owned;
      if (idle && this.#streams.get(t.name) === t) this.#streams.delete(t.name);
    });
    t.queue = queue;
  }

  /** Waits until every queued job (including ones queued meanwhile) has run. */
  async #settled(): Promise<void> {
    while (true) {
      const queues = [...this.#streams.values()].map((t) => t.queue);
      await Promise.all(queues);
      const now = [...this.#streams.values()].map((t) => t.queue);
      if (now.length === queues.length && now.every((q, i) => q === queues[i])) return;
    }
  }

  #registryFailed(op: string, name: string, err: unknown): void {
    if (err instanceof RegistryUnavailableError) {
      // One line per outage; the refresh timer and the reconnect hook retry.
      if (!this.#registryDown) {
        this.#registryDown = true;
        this.#log.warn("discovery.registry_unavailable", { op, name, error: err });
      }
      return;
    }
    this.#log.error("discovery.registry_failed", { op, name, error: err });
  }

  #registryOk(): void {
    if (!this.#registryDown) return;
    this.#registryDown = false;
    this.#log.info("discovery.registry_available");
  }
}
