/**
 * The discovery watcher: turns HLS playlists on disk into registry claims. It watches
 * `MEDIA_ROOT/{name}/index.m3u8` (the layout of Cascade's origin and of nginx-rtmp with
 * `hls_nested on`) and keeps `stream:{name}` claimed while the playlist is live: a new or
 * changed playlist claims or refreshes it, and `#EXT-X-ENDLIST`, removal, or no change for
 * three target durations releases it. A timer refreshes every live stream each TTL/4
 * whatever the files do, so a live stream never expires while this watcher runs and the
 * streams of a dead watcher expire within the TTL. After a registry reconnect every live
 * stream is announced again at once. Runs as its own process or inside an origin.
 *
 * A finished broadcast kept for VOD (`KEEP_HLS`: `MEDIA_ROOT/{name}/vod.m3u8`) is announced
 * as `vod:{name}` while the file exists, refreshed by the same timer with the same TTL (so
 * the VODs of a dead origin disappear by themselves), and withdrawn when the file or its
 * directory goes or the watcher stops. Edges use it to find the origin of a name that is
 * not live.
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
  type VodRecord,
} from "@cascade/registry";
import { LIVE_PLAYLIST, VOD_PLAYLIST } from "@cascade/media/hls/layout";

/** The files of a stream directory the watcher reads; segments are most events and ignored. */
const WATCHED_FILES = new Set([LIVE_PLAYLIST, VOD_PLAYLIST]);
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
  /** The VOD record to announce while `vod.m3u8` exists; null otherwise. */
  vod: VodRecord | null;
  /** Last answer to announcing `vod`: written, or refused for a newer VOD elsewhere. */
  vodState: "unknown" | "announced" | "newer-elsewhere";
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
      ignored: (path, stats) => stats?.isFile() === true && !WATCHED_FILES.has(basename(path)),
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
    for (const t of this.#streams.values()) {
      this.#enqueue(t, async () => {
        await this.#gone(t, "stopped");
        await this.#vodGone(t);
      });
    }
    await this.#settled();
    this.#streams.clear();
    this.#log.info("discovery.stopped", { originId: this.#originId });
  }

  /** Names of the streams currently live according to their playlists. */
  liveStreams(): string[] {
    return [...this.#streams.values()].filter((t) => t.record !== null).map((t) => t.name);
  }

  /** The stream and watched file a path names, or null for any other path. */
  #watchedFile(path: string): { name: string; file: string } | null {
    const parts = relative(this.#root, path).split(sep);
    if (parts.length !== 2 || !WATCHED_FILES.has(parts[1]!)) return null;
    const name = this.#checkName(parts[0]!);
    return name === null ? null : { name, file: parts[1]! };
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
        vod: null,
        vodState: "unknown",
        staleTimer: undefined,
        announceQueued: false,
        queue: Promise.resolve(),
      };
      this.#streams.set(name, t);
    }
    return t;
  }

  #onFile(path: string): void {
    const watched = this.#watchedFile(path);
    if (watched === null || this.#stopped) return;
    const t = this.#track(watched.name);
    if (watched.file === LIVE_PLAYLIST) this.#enqueue(t, () => this.#read(t, path));
    else this.#enqueue(t, () => this.#readVod(t, path));
  }

  #onUnlink(path: string): void {
    const watched = this.#watchedFile(path);
    const t = watched === null ? undefined : this.#streams.get(watched.name);
    if (t === undefined || this.#stopped) return;
    if (watched!.file === LIVE_PLAYLIST) this.#enqueue(t, () => this.#gone(t, "unlinked"));
    else this.#enqueue(t, () => this.#vodGone(t));
  }

  #onUnlinkDir(path: string): void {
    const name = this.#nameOfDir(path);
    const t = name === null ? undefined : this.#streams.get(name);
    if (t === undefined || this.#stopped) return;
    this.#enqueue(t, async () => {
      await this.#gone(t, "unlinked");
      await this.#vodGone(t);
    });
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
      manifest: `${this.#originUrl}/live/${t.name}/${LIVE_PLAYLIST}`,
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

  /** Reads `vod.m3u8` and announces the VOD when it is new or was rewritten. */
  async #readVod(t: Tracked, path: string): Promise<void> {
    let text: string;
    let updatedAt: number;
    try {
      const [content, info] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
      text = content;
      updatedAt = info.mtime?.getTime() ?? Date.now();
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return await this.#vodGone(t);
      this.#log.warn("discovery.read_failed", { name: t.name, file: VOD_PLAYLIST, error: err });
      return;
    }
    let playlist: LivePlaylist;
    try {
      playlist = parsePlaylist(text);
    } catch (err) {
      this.#log.warn("discovery.bad_playlist", { name: t.name, file: VOD_PLAYLIST, error: err });
      return;
    }
    if (t.vod?.updatedAt === updatedAt) return;
    t.vod = {
      name: t.name,
      originId: this.#originId,
      originUrl: this.#originUrl,
      manifest: `${this.#originUrl}/live/${t.name}/${VOD_PLAYLIST}`,
      updatedAt,
      targetDuration: playlist.targetDuration,
    };
    await this.#announceVod(t);
  }

  async #announceVod(t: Tracked): Promise<void> {
    const record = t.vod;
    if (record === null) return;
    let written: boolean;
    try {
      written = await this.#registry.announceVod(record, this.#ttlMs);
    } catch (err) {
      this.#registryFailed("announce_vod", t.name, err);
      return;
    }
    this.#registryOk();
    const state = written ? "announced" : "newer-elsewhere";
    if (state === t.vodState) return;
    t.vodState = state;
    if (written) {
      this.#log.info("discovery.vod_announced", { name: t.name, manifest: record.manifest });
    } else {
      // Another origin holds a later broadcast of the name; this one takes over if that dies.
      this.#log.info("discovery.vod_newer_elsewhere", { name: t.name });
    }
  }

  async #vodGone(t: Tracked): Promise<void> {
    const hadVod = t.vod !== null;
    const refused = t.vodState === "newer-elsewhere";
    t.vod = null;
    t.vodState = "unknown";
    if (!hadVod || refused) return;
    try {
      // Compare-and-delete: harmless if the record is another origin's by now.
      const withdrawn = await this.#registry.withdrawVod(t.name, this.#originId);
      this.#registryOk();
      this.#log.info("discovery.vod_withdrawn", { name: t.name, withdrawn });
    } catch (err) {
      // The record then expires by TTL: nothing refreshes it any more.
      this.#registryFailed("withdraw_vod", t.name, err);
    }
  }

  #announceAll(why: "refresh" | "reconnect"): void {
    if (this.#stopped) return;
    const all = [...this.#streams.values()];
    const announced = all.filter((t) => t.record !== null || t.vod !== null);
    if (why === "reconnect") {
      this.#log.info("discovery.reannounce", {
        streams: all.filter((t) => t.record !== null).length,
        vods: all.filter((t) => t.vod !== null).length,
      });
    }
    for (const t of announced) {
      if (t.announceQueued) continue;
      t.announceQueued = true;
      this.#enqueue(t, async () => {
        t.announceQueued = false;
        await this.#announce(t);
        await this.#announceVod(t);
      });
    }
  }

  #enqueue(t: Tracked, job: () => Promise<void>): void {
    const queue: Promise<void> = t.queue.then(job).catch((err) => {
      this.#log.error("discovery.job_failed", { name: t.name, error: err });
    }).finally(() => {
      // Forget a vanished stream once nothing more is queued for it, so names do not pile up.
      const idle = t.queue === queue && t.text === null && t.record === null && !t.owned &&
        t.vod === null;
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
