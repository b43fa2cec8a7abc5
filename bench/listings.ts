/**
 * When each segment of a stream first appears in its playlist, seen two ways: on the origin's
 * disk through inotify (`Deno.watchFs`), which costs the server under test nothing and works
 * alike for Cascade and nginx-rtmp (both write the playlist to a temporary file and rename
 * it, and both serve that file as it is); and over HTTP by polling, which is the only way to
 * see what an edge serves. Times are `performance.now()` of this process, taken once the new
 * playlist has been read, so they are upper bounds of the moment it became visible.
 */
import { basename, join } from "node:path";
import { LIVE_PLAYLIST } from "@cascade/media/hls/layout";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { delay } from "../tests/helpers/wait.ts";

/** A segment's first sighting in a playlist. */
export interface Listing {
  sequence: number;
  /** `#EXTINF`, seconds. */
  duration: number;
  at: number;
}

/** First sightings per stream name. */
export class ListingLog {
  readonly #byName = new Map<string, Map<number, Listing>>();

  constructor(names: Iterable<string>) {
    for (const name of names) this.#byName.set(name, new Map());
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Records the segments of playlist `text` of `name` not seen before. */
  note(name: string, text: string, at: number): void {
    const seen = this.#byName.get(name);
    if (seen === undefined) return;
    let playlist;
    try {
      playlist = parsePlaylist(text);
    } catch {
      return; // a playlist caught mid-write by a poll is read again next time
    }
    for (const s of playlist.segments) {
      if (!seen.has(s.sequence)) {
        seen.set(s.sequence, { sequence: s.sequence, duration: s.duration, at });
      }
    }
  }

  /** Sightings of `name` in sequence order. */
  of(name: string): Listing[] {
    return [...(this.#byName.get(name)?.values() ?? [])].sort((a, b) => a.sequence - b.sequence);
  }
}

/**
 * Watches `MEDIA_ROOT/{name}/index.m3u8` of the given names through inotify, one directory
 * each (not the whole root), so that the benchmark's own work follows the few names it
 * watches, not the bytes every stream writes. A server creates a stream's directory when the
 * publisher starts, seconds before the first playlist; it is looked for every 20 ms.
 */
export class DiskPlaylistWatcher implements AsyncDisposable {
  readonly log: ListingLog;
  readonly #watchers = new Set<Deno.FsWatcher>();
  readonly #running: Promise<void>[];
  #closed = false;

  constructor(mediaRoot: string, names: readonly string[]) {
    this.log = new ListingLog(names);
    this.#running = names.map((name) => this.#watch(join(mediaRoot, name), name));
  }

  async #watch(dir: string, name: string): Promise<void> {
    while (!this.#closed && !(await isDirectory(dir))) await delay(20);
    if (this.#closed) return;
    const watcher = Deno.watchFs(dir, { recursive: false });
    this.#watchers.add(watcher);
    const playlist = join(dir, LIVE_PLAYLIST);
    // A playlist written before the watch began (a slow first poll) is read once now.
    await this.#read(playlist, name);
    for await (const event of watcher) {
      if (event.paths.some((p) => basename(p) === LIVE_PLAYLIST)) await this.#read(playlist, name);
    }
  }

  async #read(path: string, name: string): Promise<void> {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch {
      return; // not there yet, or renamed away since the event
    }
    this.log.note(name, text, performance.now());
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#closed = true;
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers.clear();
    await Promise.all(this.#running);
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/** True once every name has a live playlist under `mediaRoot` (checked with `stat`). */
export async function allHavePlaylists(
  mediaRoot: string,
  names: readonly string[],
): Promise<boolean> {
  const found = await Promise.all(names.map(async (name) => {
    try {
      return (await Deno.stat(join(mediaRoot, name, LIVE_PLAYLIST))).isFile;
    } catch {
      return false;
    }
  }));
  return found.every((f) => f);
}

/** Polls `{base}/live/{name}/index.m3u8` of each name every `intervalMs`, as a player would. */
export class HttpPlaylistPoller implements AsyncDisposable {
  readonly log: ListingLog;
  readonly #stop = new AbortController();
  readonly #loops: Promise<void>[];

  constructor(base: string, names: Iterable<string>, intervalMs: number) {
    const list = [...names];
    this.log = new ListingLog(list);
    this.#loops = list.map((name) =>
      this.#poll(`${base}/live/${name}/index.m3u8`, name, intervalMs)
    );
  }

  async #poll(url: string, name: string, intervalMs: number): Promise<void> {
    const signal = this.#stop.signal;
    while (!signal.aborted) {
      try {
        const res = await fetch(url, { signal });
        const text = await res.text();
        if (res.ok) this.log.note(name, text, performance.now());
      } catch {
        // Not reachable yet, or stopping: try again after the interval.
      }
      await delay(intervalMs);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stop.abort();
    await Promise.all(this.#loops);
  }
}
