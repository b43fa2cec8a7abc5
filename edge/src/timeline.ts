/**
 * One continuous timeline per stream name across broadcasts. When a stream's publisher
 * comes back on another origin (or on the same one after its playlist was gone), the new
 * playlist starts from scratch: its first segment has no `#EXT-X-DISCONTINUITY`, its
 * discontinuity sequence restarts at 0 and, for origins that number segments from 0
 * (nginx-rtmp), its media sequence goes backwards. A player polling the same URL would then
 * see a sequence reset. `Timelines` remembers, per name, where the last broadcast this edge
 * served ended and renumbers the next one to continue after it: media sequence numbers only
 * go up, the first segment of the new broadcast carries `#EXT-X-DISCONTINUITY` while it is
 * in the window, and the discontinuity sequence counts on (RFC 8216 §6.2.2). Segment URIs
 * are left as the origin wrote them; the edge fetches them from the current broadcast.
 *
 * The state is soft and local to this edge: it is what one viewer polling one edge needs.
 * A broadcast that follows a silence longer than `joinWithinMs` starts afresh with the
 * origin's own numbers, so that edges agree again once nobody can be mid-playback.
 */
import type { LivePlaylist } from "@cascade/media/hls/playlist";
import { editSequences } from "./playlist_edit.ts";

/** Where a stream's timeline stands after the last playlist served. */
interface Timeline {
  broadcast: string;
  originId: string;
  /** Added to the origin's media sequence numbers. */
  sequenceOffset: number;
  /** Added to the origin's discontinuity sequence numbers. */
  discontinuityOffset: number;
  /** Origin sequence number of this broadcast's first segment when joined to an earlier one. */
  joinSequence: number | null;
  /** Edge sequence number of the last segment served. */
  lastSequence: number;
  /** Edge discontinuity sequence number of the last segment served. */
  lastDiscontinuity: number;
  seenAt: number;
}

export interface TimelinesOptions {
  /** Join a broadcast to the previous one only if that was served this recently (default 60 s). */
  joinWithinMs?: number;
  /** Names remembered at most (default 10 000); the least recently served are forgotten. */
  maxNames?: number;
}

export class Timelines {
  readonly #joinWithinMs: number;
  readonly #maxNames: number;
  readonly #byName = new Map<string, Timeline>();

  constructor(opts: TimelinesOptions = {}) {
    this.#joinWithinMs = opts.joinWithinMs ?? 60_000;
    this.#maxNames = opts.maxNames ?? 10_000;
  }

  /**
   * The playlist to serve for `text` (parsed as `playlist`) of broadcast `broadcast` from
   * `originId`, fetched at `now` (ms). Returns `text` itself when no renumbering is needed.
   */
  apply(
    name: string,
    broadcast: string,
    originId: string,
    text: string,
    playlist: LivePlaylist,
    now: number,
  ): string {
    const segments = playlist.segments;
    const first = segments[0];
    const prev = this.#byName.get(name);
    // An empty playlist says nothing about where a broadcast starts; wait for a segment.
    if (first === undefined) {
      return prev?.broadcast === broadcast ? this.#render(prev, text, playlist) : text;
    }
    let t: Timeline;
    if (prev !== undefined && prev.broadcast === broadcast) {
      t = prev;
    } else if (prev === undefined || now - prev.seenAt > this.#joinWithinMs) {
      t = fresh(broadcast, originId);
    } else if (
      prev.originId === originId &&
      playlist.mediaSequence + prev.sequenceOffset <= prev.lastSequence
    ) {
      // The same origin continued its own playlist (a republish within its grace period):
      // its numbering already continues, and so do the offsets.
      t = { ...prev, broadcast };
    } else {
      const firstDiscontinuity = playlist.discontinuitySequence + (first.discontinuity ? 1 : 0);
      t = {
        broadcast,
        originId,
        sequenceOffset: playlist.mediaSequence > prev.lastSequence
          ? 0
          : prev.lastSequence + 1 - playlist.mediaSequence,
        discontinuityOffset: prev.lastDiscontinuity + 1 - firstDiscontinuity,
        joinSequence: first.sequence,
        lastSequence: 0,
        lastDiscontinuity: 0,
        seenAt: now,
      };
    }
    const discontinuities = segments.reduce((n, s) => n + (s.discontinuity ? 1 : 0), 0);
    t.lastSequence = segments[segments.length - 1]!.sequence + t.sequenceOffset;
    t.lastDiscontinuity = playlist.discontinuitySequence + discontinuities + t.discontinuityOffset;
    t.seenAt = now;
    if (t.joinSequence !== null && first.sequence > t.joinSequence) t.joinSequence = null;
    this.#byName.delete(name);
    this.#byName.set(name, t);
    if (this.#byName.size > this.#maxNames) {
      const oldest = this.#byName.keys().next();
      if (!oldest.done) this.#byName.delete(oldest.value);
    }
    return this.#render(t, text, playlist);
  }

  /** Names with a remembered timeline. */
  get size(): number {
    return this.#byName.size;
  }

  #render(t: Timeline, text: string, playlist: LivePlaylist): string {
    const first = playlist.segments[0];
    const mark = t.joinSequence !== null && first !== undefined &&
      first.sequence === t.joinSequence && !first.discontinuity;
    if (t.sequenceOffset === 0 && t.discontinuityOffset === 0 && !mark) return text;
    return editSequences(text, {
      mediaSequence: playlist.mediaSequence + t.sequenceOffset,
      // The inserted tag counts for the first segment, so the sequence before it is one less.
      discontinuitySequence: playlist.discontinuitySequence + t.discontinuityOffset -
        (mark ? 1 : 0),
      discontinuityFirst: mark,
    });
  }
}

function fresh(broadcast: string, originId: string): Timeline {
  return {
    broadcast,
    originId,
    sequenceOffset: 0,
    discontinuityOffset: 0,
    joinSequence: null,
    lastSequence: 0,
    lastDiscontinuity: 0,
    seenAt: 0,
  };
}
