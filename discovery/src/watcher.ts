/**
 * The discovery watcher, for origins that only write files (nginx-rtmp with `hls_nested on`):
 * it turns `MEDIA_ROOT/{name}/index.m3u8` on disk into registry claims through a
 * `StreamAnnouncer`. A Cascade origin does not need it: it announces from its packager.
 *
 * It polls rather than subscribing to file-system events: a growing segment is written in
 * many small writes and every one of them would be an event, while the playlists it cares
 * about change once per segment. Each tick (100 ms) stats the `index.m3u8` of every live
 * stream; every tenth also lists the media root and stats every stream's `vod.m3u8`, which
 * finds new streams within a second. A playlist is read only when its identity, size or mtime
 * changed (Cascade and nginx-rtmp replace it by rename). So the cost follows streams and
 * ticks, never segment bytes. A new or changed live playlist claims or refreshes the stream;
 * `#EXT-X-ENDLIST`, removal, or no change for three target durations releases it. A kept
 * broadcast's `vod.m3u8` is announced as `vod:{name}` while the file exists.
 */
import { join, resolve } from "node:path";
import { STREAM_NAME_RE } from "@cascade/common/config";
import type { Logger } from "@cascade/common/log";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { LIVE_PLAYLIST, VOD_PLAYLIST } from "@cascade/media/hls/layout";
import type { Registry } from "@cascade/registry";
import { StreamAnnouncer } from "@cascade/registry/announcer";

/** A playlist unchanged for this many target durations is taken as abandoned. */
export const STALE_TARGET_DURATIONS = 3;

/** Default period of the playlist poll. */
export const DEFAULT_POLL_MS = 100;

/** Every this many ticks the whole media root is scanned (new streams, VODs, removals). */
const SCAN_EVERY = 10;

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
  /** Period of the playlist poll (default `DEFAULT_POLL_MS`). */
  pollIntervalMs?: number;
}

/** Identity of a file as last seen: a replaced or rewritten playlist differs in one of these. */
interface Seen {
  ino: number | null;
  size: number;
  mtimeMs: number;
}

interface Watched {
  live: Seen | null;
  /** Expiry of the live playlist: mtime plus three of its target durations. */
  staleAt: number;
  vod: Seen | null;
}

export class DiscoveryWatcher {
  readonly #root: string;
  readonly #pollMs: number;
  readonly #log: Logger;
  readonly #announcer: StreamAnnouncer;
  readonly #originId: string;
  readonly #watched = new Map<string, Watched>();
  /** Directory names already reported as unusable; never logged themselves (could be keys). */
  readonly #ignored = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #tick: Promise<void> = Promise.resolve();
  #ticks = 0;
  #started = false;
  #stopped = false;

  constructor(opts: DiscoveryWatcherOptions) {
    this.#root = resolve(opts.mediaRoot);
    this.#pollMs = opts.pollIntervalMs ?? DEFAULT_POLL_MS;
    this.#log = opts.log.child({ component: "discovery" });
    this.#originId = opts.originId;
    this.#announcer = new StreamAnnouncer({
      registry: opts.registry,
      originId: opts.originId,
      originUrl: opts.originUrl,
      ttlSeconds: opts.ttlSeconds,
      refreshIntervalMs: opts.refreshIntervalMs,
      log: this.#log,
      logPrefix: "discovery",
    });
  }

  /**
   * Starts polling (creating the media root if needed); resolves once the playlists already
   * on disk have been announced.
   */
  async start(): Promise<void> {
    if (this.#started || this.#stopped) throw new Error("DiscoveryWatcher cannot be started twice");
    this.#started = true;
    await Deno.mkdir(this.#root, { recursive: true });
    this.#announcer.start();
    await this.#poll();
    await this.#announcer.settled();
    this.#schedule();
    this.#log.info("discovery.started", {
      mediaRoot: this.#root,
      originId: this.#originId,
      pollMs: this.#pollMs,
      live: this.liveStreams().length,
    });
  }

  /**
   * Stops polling and releases the claims this watcher holds (and only those), so that
   * edges learn at once rather than at TTL expiry.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#tick;
    await this.#announcer.stop();
    this.#watched.clear();
    this.#log.info("discovery.stopped", { originId: this.#originId });
  }

  /** Names of the streams currently live according to their playlists. */
  liveStreams(): string[] {
    return this.#announcer.liveStreams();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#tick = this.#poll().catch((err) =>
        this.#log.error("discovery.poll_failed", { error: err })
      ).finally(() => this.#schedule());
    }, this.#pollMs);
  }

  /**
   * One tick. Every `SCAN_EVERY`th tick lists the media root and stats both playlists of every
   * stream (new streams, VODs, removals); the ticks between stat only the live playlists of the
   * streams already live, the one file whose changes must reach edges at once.
   */
  async #poll(): Promise<void> {
    if (this.#ticks++ % SCAN_EVERY !== 0) {
      const live = [...this.#watched].filter(([, w]) => w.live !== null);
      await Promise.all(live.map(([name, w]) => this.#pollLive(name, w)));
      return;
    }
    const present = new Set<string>();
    try {
      // Synchronous like `statOf`: one directory listing per tick.
      for (const entry of Deno.readDirSync(this.#root)) {
        if (!entry.isDirectory) continue;
        const name = this.#checkName(entry.name);
        if (name !== null) present.add(name);
      }
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        this.#log.warn("discovery.read_failed", { error: err });
        return;
      }
    }
    for (const name of this.#watched.keys()) {
      if (!present.has(name)) this.#forget(name, "unlinked");
    }
    await Promise.all([...present].map((name) => this.#pollStream(name)));
  }

  async #pollStream(name: string): Promise<void> {
    let w = this.#watched.get(name);
    if (w === undefined) {
      w = { live: null, staleAt: Infinity, vod: null };
      this.#watched.set(name, w);
    }
    await this.#pollLive(name, w);
    const vodPath = join(this.#root, name, VOD_PLAYLIST);
    const vod = statOf(vodPath);
    if (vod === null) {
      if (w.vod !== null) this.#announcer.vodGone(name);
      w.vod = null;
    } else if (!sameFile(vod, w.vod)) {
      w.vod = vod;
      await this.#readVod(name, vodPath, vod.mtimeMs);
    }
    if (w.live === null && w.vod === null) this.#watched.delete(name);
  }

  /** Stats `name`'s live playlist; reads it when it was replaced; notices it going stale. */
  async #pollLive(name: string, w: Watched): Promise<void> {
    const path = join(this.#root, name, LIVE_PLAYLIST);
    const live = statOf(path);
    if (live === null) {
      if (w.live !== null) this.#announcer.ended(name, "unlinked");
      w.live = null;
    } else if (!sameFile(live, w.live)) {
      w.live = live;
      await this.#readLive(name, w, path);
    } else if (Date.now() >= w.staleAt) {
      w.staleAt = Infinity;
      this.#announcer.ended(name, "stale");
    }
  }

  async #readLive(name: string, w: Watched, path: string): Promise<void> {
    const playlist = await this.#read(name, path);
    if (playlist === null) return;
    if (playlist.ended) {
      w.staleAt = Infinity;
      this.#announcer.ended(name, "ended");
      return;
    }
    const mtimeMs = w.live!.mtimeMs;
    w.staleAt = mtimeMs + STALE_TARGET_DURATIONS * Math.max(1, playlist.targetDuration) * 1000;
    // A leftover playlist of a publisher that died before this watcher started.
    if (Date.now() >= w.staleAt) {
      w.staleAt = Infinity;
      this.#announcer.ended(name, "stale");
      return;
    }
    this.#announcer.live(name, {
      targetDuration: playlist.targetDuration,
      mediaSequence: playlist.mediaSequence,
      updatedAt: Math.min(mtimeMs, Date.now()),
    });
  }

  async #readVod(name: string, path: string, mtimeMs: number): Promise<void> {
    const playlist = await this.#read(name, path);
    if (playlist !== null) {
      this.#announcer.vod(name, { targetDuration: playlist.targetDuration, updatedAt: mtimeMs });
    }
  }

  async #read(name: string, path: string) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      // Replaced between stat and read: the next tick sees the new file.
      if (!(err instanceof Deno.errors.NotFound)) {
        this.#log.warn("discovery.read_failed", { name, error: err });
      }
      return null;
    }
    try {
      return parsePlaylist(text);
    } catch (err) {
      this.#log.warn("discovery.bad_playlist", { name, error: err });
      return null;
    }
  }

  #forget(name: string, reason: string): void {
    const w = this.#watched.get(name);
    this.#watched.delete(name);
    if (w?.live) this.#announcer.ended(name, reason);
    if (w?.vod) this.#announcer.vodGone(name);
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
}

/**
 * The identity of a file, or null when it is missing. Synchronous on purpose: a tick is a
 * handful of stats of local files, microseconds each, and an async op per stat doubled the
 * watcher's CPU (2.2 % → 1.15 % of a core for 20 streams polled every 100 ms, measured).
 */
function statOf(path: string): Seen | null {
  try {
    const info = Deno.statSync(path);
    return { ino: info.ino, size: info.size, mtimeMs: info.mtime?.getTime() ?? 0 };
  } catch {
    return null;
  }
}

function sameFile(a: Seen, b: Seen | null): boolean {
  return b !== null && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}
