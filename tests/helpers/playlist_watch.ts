/**
 * A player's view of a live playlist for tests: reloads one media playlist URL every
 * `intervalMs` for as long as the test runs and judges every reload with the strict
 * `PlaylistChecker` (RFC 8216: durations within the target, a stable target, a media
 * sequence that never goes back, segments that keep their URI and duration, nothing changed
 * after `#EXT-X-ENDLIST`, …). It remembers every segment ever listed, so a test can probe
 * each one even after it left the window. Breaches are collected, not thrown from the
 * background loop; `assertClean()` reports them all.
 */
import assert, { AssertionError } from "node:assert/strict";
import {
  type LivePlaylist,
  parsePlaylist,
  type PlaylistSegment,
} from "@cascade/media/hls/playlist";
import { PlaylistChecker } from "../../lib/media/hls/testing/check.ts";
import { delay, waitFor } from "./wait.ts";

export class PlaylistWatch implements AsyncDisposable {
  /** Every distinct playlist text parsed, in the order reloads saw them. */
  readonly versions: LivePlaylist[] = [];
  readonly breaches: string[] = [];
  readonly #checker: PlaylistChecker;
  #lastText = "";
  #stopped = false;
  readonly #loop: Promise<void>;

  constructor(readonly url: string, readonly intervalMs = 100) {
    this.#checker = new PlaylistChecker(url);
    this.#loop = this.#run();
  }

  /** Every segment ever listed, by sequence number. */
  get segments(): ReadonlyMap<number, PlaylistSegment> {
    return this.#checker.segments;
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
          this.#check(text);
        }
      } catch { /* not served yet, or the origin is going away */ }
      await delay(this.intervalMs);
    }
  }

  #check(text: string): void {
    try {
      this.versions.push(this.#checker.reload(text));
    } catch (err) {
      if (!(err instanceof AssertionError)) throw err;
      this.breaches.push(err.message);
      this.versions.push(parsePlaylist(text));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }
}
