/**
 * The registry contract shared by every Cascade role: which streams are live on which
 * origin, which nodes exist, the persistent stream configuration and key lookups the API
 * keeps, and the stream events edges and origins react to. `RedisRegistry` and
 * `MemoryRegistry` implement it with identical semantics, checked by one contract suite.
 *
 * Times are epoch milliseconds; TTLs are milliseconds so that tests can use short ones.
 */

/** `transcoder`: the transcoder role (`deno task transcoder`), ranked per stream by rendezvous. */
export type NodeKind = "origin" | "edge" | "transcoder";

/** Every node kind, for checks and listings. */
export const NODE_KINDS: readonly NodeKind[] = ["origin", "edge", "transcoder"];

/** The value of `stream:{name}`: a live stream and the origin that serves it. */
export interface StreamRecord {
  name: string;
  /** `NODE_ID` of the owning origin; only it may refresh or release the claim. */
  originId: string;
  /** The origin's public base URL, e.g. `http://10.0.0.5:8081`. */
  originUrl: string;
  /** Absolute playlist URL: `{originUrl}/live/{name}/index.m3u8`. */
  manifest: string;
  /** When this origin started announcing the stream. */
  startedAt: number;
  /** When the playlist last changed. */
  updatedAt: number;
  /** `#EXT-X-TARGETDURATION`, seconds. */
  targetDuration: number;
  /** `#EXT-X-MEDIA-SEQUENCE` of the latest playlist. */
  mediaSequence: number;
  /**
   * Media sequence number of the newest segment the latest playlist lists, and that segment's
   * discontinuity sequence number: an origin taking the stream over continues after them
   * (docs/architecture.md, "Failover and standby"). Absent from writers that do not know
   * them (nginx-rtmp's discovery, older origins) and before the first segment.
   */
  lastSequence?: number;
  discontinuitySequence?: number;
  /** Peak bits per second, when known. */
  bandwidth?: number;
  /** RFC 6381 codecs string, when known, e.g. `avc1.64001f,mp4a.40.2`. */
  codecs?: string;
  /** What the encoder sends, as the origin measures it on ingest; absent from older writers. */
  media?: StreamMedia;
  /**
   * True when the origin also serves the Low-Latency HLS playlist `{originUrl}/live/{name}/ll.m3u8`
   * (a Cascade origin with `HLS_LL` on); absent (no LL) for nginx-rtmp's discovery and older
   * writers. The API offers `llhls` playback URLs only for such streams.
   */
  ll?: boolean;
}

/**
 * Encoder figures of a live stream, measured by its origin (`@cascade/stream/ingest_stats`)
 * and refreshed with each playlist; null while not (yet) known.
 */
export interface StreamMedia {
  /** Mean seconds between the last few video keyframes, to the ms; null for audio-only. */
  keyframeInterval: number | null;
  /** Video frames per second over the last few seconds; null for audio-only. */
  frameRate: number | null;
  /** Picture size from the SPS. */
  width: number | null;
  height: number | null;
  /** Bits per second of audio and video over the last few seconds. */
  bitrate: number | null;
  /**
   * The origin's `HLS_SEGMENT_SECONDS`: segments are cut at the first keyframe after it, so
   * a longer keyframe interval makes longer segments (see `encoder_warnings.ts`).
   */
  segmentSeconds: number;
}

/**
 * The value of `vod:{name}`: the latest finished broadcast of a name whose HLS files an
 * origin keeps (`KEEP_HLS`), announced by that origin's discovery while `vod.m3u8` exists.
 */
export interface VodRecord {
  name: string;
  /** `NODE_ID` of the origin holding the files; only it may withdraw the record. */
  originId: string;
  /** The origin's public base URL. */
  originUrl: string;
  /** Absolute playlist URL: `{originUrl}/live/{name}/vod.m3u8`. */
  manifest: string;
  /** When `vod.m3u8` was last written: names the broadcast, and the latest one wins. */
  updatedAt: number;
  /** `#EXT-X-TARGETDURATION` of the VOD playlist, seconds. */
  targetDuration: number;
}

/** The value of `node:{kind}:{id}`, kept alive by a heartbeat. */
export interface NodeRecord {
  id: string;
  kind: NodeKind;
  /** Public HTTP base URL. */
  url: string;
  /** Ingest URL of an origin, e.g. `rtmp://10.0.0.5:1935/live`. */
  rtmpUrl?: string;
  region: string;
  /** Load figure the node reports (e.g. streams published or viewers served). */
  load: number;
  startedAt: number;
  /**
   * Streams an origin receives from an encoder of its own while another origin holds the
   * claim: it packages them as a hot standby and takes over when that claim ends or goes
   * stale. At most `MAX_STANDBY_NAMES` names; absent when none.
   */
  standby?: string[];
  /** Fraction of one CPU core the node's process used over its last heartbeat interval. */
  cpu?: number;
  /** Resident memory of the node's process, bytes. */
  rss?: number;
  /** An edge's response bytes sent, as bits per second over its recent past. */
  egressBitsPerSecond?: number;
}

/** Most standby stream names a node record lists. */
export const MAX_STANDBY_NAMES = 1000;

/** The `streamcfg:{name}` hash: a stream the API knows, persistent. */
export interface StreamConfig {
  name: string;
  /** Hex SHA-256 of the stream key; `key:{keyHash}` maps back to `name`. */
  keyHash: string;
  createdAt: number;
  /** A disabled stream is refused at publish. */
  disabled: boolean;
  /** Whether the origin should keep a recording. */
  record: boolean;
  /**
   * The stream's own transcode profile (`none` or rungs such as `480p,240p`); absent: the
   * origin's `TRANSCODE_PROFILE`.
   */
  transcode?: string;
}

export type RegistryEvent =
  | { type: "stream.up"; name: string; originId: string; at: number }
  | {
    type: "stream.down";
    name: string;
    /** Empty when Redis reports an expiry: the expired value is gone by then. */
    originId: string;
    at: number;
    reason: "released" | "expired";
  }
  /**
   * The owner's claim now carries a newer playlist (`updatedAt` changed): edges drop their
   * cached copy at once instead of waiting for it to expire.
   */
  | { type: "stream.update"; name: string; originId: string; at: number; updatedAt: number }
  /** Asks the origin that serves `name` to drop its publisher; `originId` empty when not live. */
  | { type: "stream.kick"; name: string; originId: string; at: number };

export type RegistryEventHandler = (event: RegistryEvent) => void;

/** Removes what it was returned for; safe to call more than once. */
export type Unsubscribe = () => void;

/**
 * Outcome of `claimStream` and `refreshStream`. On failure `owner` names the origin that
 * holds the claim, or is null when there is no claim to refresh.
 */
export type ClaimResult =
  | { ok: true; created: boolean }
  | { ok: false; owner: string | null; current: StreamRecord | null };

/**
 * `claimStream`'s takeover: overwrite another origin's claim, but only while it is still
 * exactly the record the caller judged dead (same owner, same `updatedAt`), so a claim that
 * came back to life meanwhile is never taken.
 */
export interface Replacing {
  originId: string;
  updatedAt: number;
}

/** `exists`: `onlyIfAbsent` and the name is taken; `key-in-use`: the key hash maps to another name. */
export type PutConfigResult = "ok" | "exists" | "key-in-use";

/** A running node heartbeat. */
export interface Heartbeat {
  /** Stops beating and, unless `remove` is false, deletes the node record. Never throws. */
  stop(opts?: { remove?: boolean }): Promise<void>;
}

export const NODE_TTL_MS = 10_000;
export const HEARTBEAT_INTERVAL_MS = 2_000;

/**
 * Every method fails with `RegistryUnavailableError` within 2 s when the backing store is
 * unreachable (and after `close()`); `TypeError`/`RangeError` for malformed arguments.
 */
export interface Registry {
  /**
   * Claims `stream:{record.name}` for `record.originId` with a TTL: creates it (and
   * publishes `stream.up`) when absent, or overwrites it and extends the TTL when this
   * origin already owns it (publishing `stream.update` when `updatedAt` changed). Another
   * origin's live claim is never overwritten, except by a takeover: with `replacing`, a
   * claim that is exactly that record (owner and `updatedAt`) is replaced, as if created
   * (`stream.up`, `created: true`).
   */
  claimStream(
    record: StreamRecord,
    ttlMs: number,
    opts?: { replacing?: Replacing },
  ): Promise<ClaimResult>;
  /** Like `claimStream` but only for an existing claim of the same origin (compare-and-set). */
  refreshStream(record: StreamRecord, ttlMs: number): Promise<ClaimResult>;
  /** Deletes the claim if `originId` owns it (compare-and-delete) and publishes `stream.down`. */
  releaseStream(name: string, originId: string): Promise<boolean>;
  getStream(name: string): Promise<StreamRecord | null>;
  listStreams(): Promise<StreamRecord[]>;
  /** Publishes `stream.kick` for `name`, naming the current owner if any. */
  kickStream(name: string): Promise<void>;

  /**
   * Writes `vod:{record.name}` with a TTL when it is absent, written by the same origin, or
   * older (`updatedAt`) than `record`: the latest finished broadcast of a name wins and its
   * origin keeps it alive. Returns false, writing nothing, when another origin's record is at
   * least as recent. Publishes no event.
   */
  announceVod(record: VodRecord, ttlMs: number): Promise<boolean>;
  /** Deletes `vod:{name}` if `originId` wrote it (compare-and-delete). */
  withdrawVod(name: string, originId: string): Promise<boolean>;
  getVod(name: string): Promise<VodRecord | null>;

  /** Writes `node:{kind}:{id}` with a TTL (default `NODE_TTL_MS`). */
  announceNode(node: NodeRecord, ttlMs?: number): Promise<void>;
  removeNode(kind: NodeKind, id: string): Promise<boolean>;
  getNode(kind: NodeKind, id: string): Promise<NodeRecord | null>;
  listNodes(kind?: NodeKind): Promise<NodeRecord[]>;
  /**
   * Announces `node` now and every `intervalMs`, and again right after a reconnect.
   * Failures are logged, never thrown. `node` may be a function for changing fields (load).
   */
  startHeartbeat(
    node: NodeRecord | (() => NodeRecord),
    intervalMs?: number,
    ttlMs?: number,
  ): Heartbeat;

  /**
   * Writes `streamcfg:{name}` and `key:{keyHash}` → name in one step; a changed key hash
   * drops the old `key:` entry.
   */
  putStreamConfig(cfg: StreamConfig, opts?: { onlyIfAbsent?: boolean }): Promise<PutConfigResult>;
  getStreamConfig(name: string): Promise<StreamConfig | null>;
  listStreamConfigs(): Promise<StreamConfig[]>;
  /** Deletes the config and its key lookup. */
  deleteStreamConfig(name: string): Promise<boolean>;
  /** The stream name a key hash maps to. */
  resolveKeyHash(keyHash: string): Promise<string | null>;

  /**
   * Delivers the lifecycle events of every stream (`stream.up`, `stream.down`, `stream.kick`:
   * the `{prefix}events` channel, plus stream expiries, see README) to `handler` until
   * unsubscribed; resolves once delivery is active. `stream.update` is not among them: it is
   * sent on each stream's own channel only (`subscribeStream`), so that a listener to every
   * stream does not hear every playlist. Events published while the store is unreachable
   * are lost: use `onReconnect` to resynchronise.
   */
  subscribe(handler: RegistryEventHandler): Promise<Unsubscribe>;
  /**
   * Delivers every event of the stream `name` (`stream.up`, `stream.update`, `stream.down`
   * including expiries, `stream.kick`: the `{prefix}events:{name}` channel) to `handler`
   * until unsubscribed; resolves once delivery is active. Like `subscribe`, delivery resumes
   * by itself after a reconnect, and what was published meanwhile is lost.
   */
  subscribeStream(name: string, handler: RegistryEventHandler): Promise<Unsubscribe>;
  /** Calls `cb` each time the store is reachable again after being lost. */
  onReconnect(cb: () => void): Unsubscribe;
  /** Releases connections and timers; idempotent. Claims are left to expire. */
  close(): Promise<void>;
}
