/**
 * The origin's configuration: the environment variables of docs/architecture.md that the origin
 * reads, parsed once with valibot. `PUBLISH_AUTH=static` requires `PUBLISH_KEYS`.
 */
import * as v from "valibot";
import {
  envCheck,
  fields,
  httpLimitsShape,
  loggingShape,
  nodeShape,
  redisShape,
  secretFields,
} from "@cascade/common/config";
import { parsePublishKeys } from "./auth.ts";

export const originConfigSchema = v.pipe(
  v.object({
    ...redisShape,
    ...nodeShape,
    ...loggingShape,
    ...httpLimitsShape,
    RTMP_HOST: v.optional(v.string(), "0.0.0.0"),
    RTMP_PORT: fields.port(1935),
    RTMP_APP: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/)), "live"),
    /** Unset: a quarter of the descriptors this process may open, after a reserve. */
    RTMP_MAX_CONNECTIONS: v.optional(fields.integer(1)),
    RTMP_MAX_CONNECTIONS_PER_ADDRESS: v.optional(fields.integer(1)),
    /** Connections not (yet) publishing: handshaking, connecting, waiting for authorization. */
    RTMP_MAX_PENDING_CONNECTIONS: v.optional(fields.integer(1)),
    RTMP_MAX_MESSAGE_BYTES: v.optional(fields.integer(65536, 0xffffff), String(8 * 1024 * 1024)),
    /** Largest message before a publish is authorized: commands are small. */
    RTMP_MAX_PENDING_MESSAGE_BYTES: v.optional(fields.integer(4096, 0xffffff), String(64 * 1024)),
    /** Bytes all RTMP connections together may hold in messages still arriving. */
    RTMP_MAX_BUFFERED_MB: v.optional(fields.number(1, 1 << 20), "256"),
    RTMP_HANDSHAKE_TIMEOUT_SECONDS: fields.positive(10),
    RTMP_IDLE_TIMEOUT_SECONDS: fields.positive(30),
    /**
     * A publish of a live name takes it over when the publisher holding it has sent nothing for
     * this long (its network dropped and the encoder is reconnecting); a live one keeps it.
     */
    RTMP_TAKEOVER_IDLE_SECONDS: fields.positive(5),
    /** Browser ingest (`/ingest/ws`): largest WebSocket message, bytes. */
    WS_INGEST_MAX_MESSAGE_BYTES: v.optional(
      fields.integer(65536, 64 * 1024 * 1024),
      String(4 * 1024 * 1024),
    ),
    /** Video frames per second and kbit/s a browser publisher may send, averaged over 2 s. */
    WS_INGEST_MAX_FPS: v.optional(fields.number(1, 1000), "120"),
    WS_INGEST_MAX_KBPS: v.optional(fields.number(100, 1_000_000), "20000"),
    /** Time from the upgrade to the publish message with the key. */
    WS_INGEST_AUTH_TIMEOUT_SECONDS: fields.positive(10),
    /** A browser publisher silent this long has vanished (the playlist waits for it). */
    WS_INGEST_IDLE_TIMEOUT_SECONDS: fields.positive(10),
    /** The ffmpeg that transcodes a browser's Opus audio to AAC; not found → video only. */
    WS_INGEST_FFMPEG: v.optional(v.string(), "ffmpeg"),
    ORIGIN_HTTP_HOST: v.optional(v.string(), "0.0.0.0"),
    ORIGIN_HTTP_PORT: fields.port(8081),
    /** Default: `http://127.0.0.1:{ORIGIN_HTTP_PORT}`. */
    ORIGIN_PUBLIC_URL: v.optional(fields.httpUrl()),
    MEDIA_ROOT: v.optional(v.string(), "./media"),
    HLS_SEGMENT_SECONDS: v.optional(fields.number(0.5, 30), "2"),
    HLS_LIST_SIZE: v.optional(fields.integer(2, 1000), "6"),
    /**
     * Highest `#EXT-X-TARGETDURATION` a stream's first keyframe interval may set; unset → 12,
     * or the floor `ceil(HLS_SEGMENT_SECONDS) + 1` when that is higher.
     */
    HLS_MAX_TARGET_SECONDS: v.optional(fields.integer(1, 60)),
    REPUBLISH_GRACE_SECONDS: v.optional(fields.number(0, 3600), "10"),
    PUBLISH_AUTH: v.optional(v.picklist(["api", "static", "open"]), "api"),
    PUBLISH_KEYS: v.optional(
      v.pipe(
        v.string(),
        v.rawCheck(({ dataset, addIssue }) => {
          if (!dataset.typed) return;
          try {
            parsePublishKeys(dataset.value);
          } catch (err) {
            addIssue({ message: (err as Error).message });
          }
        }),
      ),
      "",
    ),
    API_URL: v.optional(fields.httpUrl(), "http://127.0.0.1:8080"),
    HOOK_TOKEN: v.optional(secretFields.HOOK_TOKEN),
    CORS_ORIGIN: v.optional(v.string(), "*"),
    /** Ingest URL announced in the origin's node record (what the API lists as ingestUrls). */
    RTMP_PUBLIC_URL: v.optional(
      v.pipe(v.string(), v.regex(/^rtmps?:\/\/\S+$/, "must be an rtmp:// URL")),
    ),
    STREAM_TTL_SECONDS: fields.positive(10),
    /**
     * A publish of a name another origin serves makes this origin its hot standby, which takes
     * the stream over when that origin or its encoder fails; false refuses such a publish.
     */
    ORIGIN_STANDBY: fields.bool(true),
    /** Keep a finished broadcast's HLS segments and write `vod.m3u8`. */
    KEEP_HLS: fields.bool(false),
    /** Seconds the live playlist lists for rewind; 0 → `HLS_LIST_SIZE` alone decides. */
    HLS_DVR_SECONDS: v.optional(fields.number(0, 24 * 3600), "0"),
    /**
     * Low-Latency HLS (`ll.m3u8`, fMP4 parts) beside the TS playlist. Off by default: it
     * roughly doubles the origin's CPU per stream and keeps ~6 MiB of parts and segments per
     * 2.6 Mbit/s stream in memory (bench, docs/architecture.md "Low-Latency HLS (origin)").
     */
    HLS_LL: fields.bool(false),
    /** LL-HLS `PART-TARGET`, seconds; parts are cut on whole frames at most this long. */
    HLS_PART_SECONDS: v.optional(fields.number(0.2, 1), "0.333"),
    /** Blocking LL requests (playlist reloads, hinted parts) one stream may hold at a time. */
    HLS_LL_MAX_WAITERS: v.optional(fields.integer(1, 1_000_000), "2000"),
  }),
  envCheck("HLS_MAX_TARGET_SECONDS", (c) => {
    const targetFloor = Math.ceil(c.HLS_SEGMENT_SECONDS) + 1;
    return c.HLS_MAX_TARGET_SECONDS !== undefined && c.HLS_MAX_TARGET_SECONDS < targetFloor
      ? `must be at least ${targetFloor} (HLS_SEGMENT_SECONDS rounded up, plus 1)`
      : undefined;
  }),
  envCheck(
    "PUBLISH_KEYS",
    (c) =>
      c.PUBLISH_AUTH === "static" && c.PUBLISH_KEYS === ""
        ? "required when PUBLISH_AUTH=static (key=name,…)"
        : undefined,
  ),
);

export type OriginConfig = v.InferOutput<typeof originConfigSchema>;

/** `HLS_LIST_SIZE` widened to cover `HLS_DVR_SECONDS` of segments. */
export function dvrListSize(listSize: number, segmentSeconds: number, dvrSeconds: number): number {
  return Math.max(listSize, Math.ceil(dvrSeconds / segmentSeconds));
}
