/**
 * When each segment of a stream first appears in its playlist, seen two ways: on the origin's
 * disk through inotify (`Deno.watchFs`), which costs the server under test nothing and works
 * alike for Cascade and nginx-rtmp (both write the playlist to a temporary file and rename
 * it, and both serve that file as it is); and over HTTP by polling, which is the only way to
 * see what an edge serves. Times are `performance.now()` of this process, taken once the new
 * playlist has been read, so they are upper bounds of the moment it became visible.
 */
import { basename, dirname } from "node:path";
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

/** Watches `MEDIA_ROOT/{name}/index.m3u8` of the given names through inotify. */
export class DiskPlaylistWatcher implements AsyncDisposable {
  readonly log: ListingLog;
  readonly #watcher: Deno.FsWatcher;
  readonly #running: Promise<void>;
  #closed = false;

  constructor(mediaRoot: string, names: Iterable<string>) {
    this.log = new ListingLog(names);
    this.#watcher = Deno.watchFs(mediaRoot, { recursive: true });
    this.#running = this.#run();
  }

  async #run(): Promise<void> {
    for await (const event of this.#watcher) {
      for (const path of event.paths) {
        if (basename(path) !== "index.m3u8") continue;
        const name = basename(dirname(path));
        if (!this.log.has(name)) continue;
        let text: string;
        try {
          text = await Deno.readTextFile(path);
        } catch {
          continue; // renamed away or removed since the event
        }
        this.log.note(name, text, performance.now());
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#closed) this.#watcher.close();
    this.#closed = true;
    await this.#running;
  }
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
