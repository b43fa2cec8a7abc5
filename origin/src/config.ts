/**
 * The origin's configuration: the environment variables of docs/architecture.md that the origin
 * reads, parsed once with zod. `PUBLISH_AUTH=static` requires `PUBLISH_KEYS`.
 */
import { z } from "zod";
import {
  fields,
  httpLimitsShape,
  loggingShape,
  nodeShape,
  redisShape,
  secretFields,
} from "@cascade/common/config";
import { parsePublishKeys } from "./auth.ts";

export const originConfigSchema = z.object({
  ...redisShape,
  ...nodeShape,
  ...loggingShape,
  ...httpLimitsShape,
  RTMP_HOST: z.string().default("0.0.0.0"),
  RTMP_PORT: fields.port(1935),
  RTMP_APP: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default("live"),
  /** Unset: a quarter of the descriptors this process may open, after a reserve. */
  RTMP_MAX_CONNECTIONS: z.coerce.number().int().min(1).optional(),
  RTMP_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(1).optional(),
  /** Connections not (yet) publishing: handshaking, connecting, waiting for authorization. */
  RTMP_MAX_PENDING_CONNECTIONS: z.coerce.number().int().min(1).optional(),
  RTMP_MAX_MESSAGE_BYTES: z.coerce.number().int().min(65536).max(0xffffff).default(8 * 1024 * 1024),
  /** Largest message before a publish is authorized: commands are small. */
  RTMP_MAX_PENDING_MESSAGE_BYTES: z.coerce.number().int().min(4096).max(0xffffff).default(
    64 * 1024,
  ),
  /** Bytes all RTMP connections together may hold in messages still arriving. */
  RTMP_MAX_BUFFERED_MB: z.coerce.number().min(1).max(1 << 20).default(256),
  RTMP_HANDSHAKE_TIMEOUT_SECONDS: fields.positive(10),
  RTMP_IDLE_TIMEOUT_SECONDS: fields.positive(30),
  /**
   * A publish of a live name takes it over when the publisher holding it has sent nothing for
   * this long (its network dropped and the encoder is reconnecting); a live one keeps it.
   */
  RTMP_TAKEOVER_IDLE_SECONDS: fields.positive(5),
  /** Browser ingest (`/ingest/ws`): largest WebSocket message, bytes. */
  WS_INGEST_MAX_MESSAGE_BYTES: z.coerce.number().int().min(65536).max(64 * 1024 * 1024).default(
    4 * 1024 * 1024,
  ),
  /** Video frames per second and kbit/s a browser publisher may send, averaged over 2 s. */
  WS_INGEST_MAX_FPS: z.coerce.number().min(1).max(1000).default(120),
  WS_INGEST_MAX_KBPS: z.coerce.number().min(100).max(1_000_000).default(20000),
  /** Time from the upgrade to the publish message with the key. */
  WS_INGEST_AUTH_TIMEOUT_SECONDS: fields.positive(10),
  /** A browser publisher silent this long has vanished (the playlist waits for it). */
  WS_INGEST_IDLE_TIMEOUT_SECONDS: fields.positive(10),
  /** The ffmpeg that transcodes a browser's Opus audio to AAC; not found → video only. */
  WS_INGEST_FFMPEG: z.string().min(1).default("ffmpeg"),
  ORIGIN_HTTP_HOST: z.string().default("0.0.0.0"),
  ORIGIN_HTTP_PORT: fields.port(8081),
  /** Default: `http://127.0.0.1:{ORIGIN_HTTP_PORT}`. */
  ORIGIN_PUBLIC_URL: fields.httpUrl().optional(),
  MEDIA_ROOT: z.string().min(1).default("./media"),
  HLS_SEGMENT_SECONDS: z.coerce.number().min(0.5).max(30).default(2),
  HLS_LIST_SIZE: z.coerce.number().int().min(2).max(1000).default(6),
  /**
   * Highest `#EXT-X-TARGETDURATION` a stream's first keyframe interval may set; unset → 12,
   * or the floor `ceil(HLS_SEGMENT_SECONDS) + 1` when that is higher.
   */
  HLS_MAX_TARGET_SECONDS: z.coerce.number().int().min(1).max(60).optional(),
  REPUBLISH_GRACE_SECONDS: z.coerce.number().min(0).max(3600).default(10),
  PUBLISH_AUTH: z.enum(["api", "static", "open"]).default("api"),
  PUBLISH_KEYS: z.string().default("").superRefine((v, ctx) => {
    try {
      parsePublishKeys(v);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  }),
  API_URL: fields.httpUrl().default("http://127.0.0.1:8080"),
  HOOK_TOKEN: secretFields.HOOK_TOKEN.optional(),
  CORS_ORIGIN: z.string().default("*"),
  /** Ingest URL announced in the origin's node record (what the API lists as ingestUrls). */
  RTMP_PUBLIC_URL: z.string().regex(/^rtmps?:\/\/\S+$/, "must be an rtmp:// URL").optional(),
  STREAM_TTL_SECONDS: fields.positive(10),
  /**
   * A publish of a name another origin serves makes this origin its hot standby, which takes
   * the stream over when that origin or its encoder fails; false refuses such a publish.
   */
  ORIGIN_STANDBY: fields.bool(true),
  /** Keep a finished broadcast's HLS segments and write `vod.m3u8`. */
  KEEP_HLS: fields.bool(false),
  /** Seconds the live playlist lists for rewind; 0 → `HLS_LIST_SIZE` alone decides. */
  HLS_DVR_SECONDS: z.coerce.number().min(0).max(24 * 3600).default(0),
  /**
   * Low-Latency HLS (`ll.m3u8`, fMP4 parts) beside the TS playlist. Off by default: it
   * roughly doubles the origin's CPU per stream and keeps ~6 MiB of parts and segments per
   * 2.6 Mbit/s stream in memory (bench, docs/architecture.md "Low-Latency HLS (origin)").
   */
  HLS_LL: fields.bool(false),
  /** LL-HLS `PART-TARGET`, seconds; parts are cut on whole frames at most this long. */
  HLS_PART_SECONDS: z.coerce.number().min(0.2).max(1).default(0.333),
  /** Blocking LL requests (playlist reloads, hinted parts) one stream may hold at a time. */
  HLS_LL_MAX_WAITERS: z.coerce.number().int().min(1).max(1_000_000).default(2000),
}).superRefine((c, ctx) => {
  const targetFloor = Math.ceil(c.HLS_SEGMENT_SECONDS) + 1;
  if (c.HLS_MAX_TARGET_SECONDS !== undefined && c.HLS_MAX_TARGET_SECONDS < targetFloor) {
    ctx.addIssue({
      code: "custom",
      path: ["HLS_MAX_TARGET_SECONDS"],
      message: `must be at least ${targetFloor} (HLS_SEGMENT_SECONDS rounded up, plus 1)`,
    });
  }
  if (c.PUBLISH_AUTH === "static" && c.PUBLISH_KEYS === "") {
    ctx.addIssue({
      code: "custom",
      path: ["PUBLISH_KEYS"],
      message: "required when PUBLISH_AUTH=static (key=name,…)",
    });
  }
});

export type OriginConfig = z.infer<typeof originConfigSchema>;

/** `HLS_LIST_SIZE` widened to cover `HLS_DVR_SECONDS` of segments. */
export function dvrListSize(listSize: number, segmentSeconds: number, dvrSeconds: number): number {
  return Math.max(listSize, Math.ceil(dvrSeconds / segmentSeconds));
}
