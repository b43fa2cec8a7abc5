/**
 * A player's view of a live playlist for tests: reloads one media playlist URL every
 * `intervalMs` for as long as the test runs and checks on every reload the rules a player
 * relies on (RFC 8216): every `#EXTINF`, rounded, is at most `#EXT-X-TARGETDURATION`; the
 * target never changes; the media sequence never goes back; a sequence number, once listed,
 * keeps its URI, duration and discontinuity. It remembers every segment ever listed, so a
 * test can probe each one even after it left the window. Breaches are collected, not
 * thrown from the background loop; `assertClean()` reports them all.
 */
import assert from "node:assert/strict";
import {
  type LivePlaylist,
  parsePlaylist,
  type PlaylistSegment,
} from "@cascade/media/hls/playlist";
import { delay, waitFor } from "./wait.ts";

export class PlaylistWatch implements AsyncDisposable {
  /** Every distinct playlist text parsed, in the order reloads saw them. */
  readonly versions: LivePlaylist[] = [];
  /** Every segment ever listed, by sequence number. */
  readonly segments = new Map<number, PlaylistSegment>();
  readonly breaches: string[] = [];
  #lastText = "";
  #stopped = false;
  readonly #loop: Promise<void>;

  constructor(readonly url: string, readonly intervalMs = 100) {
    this.#loop = this.#run();
  }

  /** The playlist as last reloaded, once one was served. */
  get latest(): LivePlaylist | undefined {
    return this.versions.at(-1);
  }

  /** Waits until the latest playlist satisfies `check`, and returns it. */
  until(what: string, check: (p: LivePlaylist) => boolean, timeoutMs = 30_000) {
    return waitFor(what, () => {
      const p = this.latest;
      return p && check(p) ? p : undefined;
    }, { timeoutMs, intervalMs: 20 });
  }

  /** Every segment ever listed, in sequence order, with its absolute URL. */
  allSegments(): (PlaylistSegment & { url: string })[] {
    return [...this.segments.values()]
      .sort((a, b) => a.sequence - b.sequence)
      .map((s) => ({ ...s, url: new URL(s.uri, this.url).href }));
  }

  /** Fails listing every rule a reload saw broken. */
  assertClean(): void {
    assert.ok(this.versions.length > 0, `${this.url} was never served`);
    assert.deepEqual(this.breaches, [], `playlist rules held on every reload of ${this.url}`);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        const res = await fetch(this.url);
        const text = await res.text();
        if (res.ok && text !== this.#lastText) {
          this.#lastText = text;
          this.#check(parsePlaylist(text));
        }
      } catch { /* not served yet, or the origin is going away */ }
      await delay(this.intervalMs);
    }
  }

  #check(p: LivePlaylist): void {
    const previous = this.latest;
    this.versions.push(p);
    const at = `reload ${this.versions.length}`;
    if (previous && p.targetDuration !== previous.targetDuration) {
      this.breaches.push(`${at}: target ${previous.targetDuration} → ${p.targetDuration}`);
    }
    if (previous && p.mediaSequence < previous.mediaSequence) {
      this.breaches.push(`${at}: media sequence ${previous.mediaSequence} → ${p.mediaSequence}`);
    }
    if (previous && p.discontinuitySequence < previous.discontinuitySequence) {
      this.breaches.push(
        `${at}: discontinuity sequence ${previous.discontinuitySequence} → ${p.discontinuitySequence}`,
      );
    }
    for (const s of p.segments) {
      if (Math.round(s.duration) > p.targetDuration) {
        this.breaches.push(`${at}: ${s.uri} EXTINF ${s.duration} > target ${p.targetDuration}`);
      }
      const seen = this.segments.get(s.sequence);
      if (
        seen &&
        (seen.uri !== s.uri || seen.duration !== s.duration ||
          seen.discontinuity !== s.discontinuity)
      ) {
        this.breaches.push(`${at}: sequence ${s.sequence} changed from ${JSON.stringify(seen)}`);
      }
      this.segments.set(s.sequence, s);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}
