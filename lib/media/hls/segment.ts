/**
 * The segments the live segmenter (`segmenter.ts`) hands out — one being written, one complete —
 * and what a takeover gives it and gets back (`HlsSegmenter.continueFrom`, docs/architecture.md
 * "Failover and standby").
 */

/** A segment that has begun: the caller opens `uri` and writes frames into it. */
export interface OpenSegment {
  sequence: number;
  /** `{sequence}.ts`, relative to the playlist. */
  uri: string;
  programDateTime: Date;
  /** Starts a new timeline: listed after `#EXT-X-DISCONTINUITY`. */
  discontinuity: boolean;
  /**
   * Starts with a keyframe of the cutting track, so it decodes on its own. False after a
   * forced cut: the encoder's keyframes came later than the target duration allows.
   */
  independent: boolean;
}

/** A complete segment, as the playlist lists it. */
export interface SegmentInfo extends OpenSegment {
  /** Seconds, whole milliseconds; rounds to at most the target duration. */
  duration: number;
}

/** Where another origin's playlist of the stream stopped, for `continueFrom()`. */
export interface Continuation {
  /** Media sequence number of its newest segment. */
  lastSequence: number;
  /** Discontinuity sequence number of that segment. */
  discontinuitySequence: number;
  /** Its `#EXT-X-TARGETDURATION`, which the continued playlist keeps. */
  targetDuration: number;
}

/** What `continueFrom()` changed: files to rename (the open segment's too) and to delete. */
export interface Renumbering {
  renamed: { from: string; to: string; open: boolean }[];
  dropped: SegmentInfo[];
}
