/**
 * The API's wire format as zod schemas: they validate every request and generate the
 * OpenAPI document, so the two cannot drift. Request bodies of the admin routes are strict
 * (an unknown field is a 400 naming it, which catches typos such as `disable`); hook bodies
 * ignore unknown fields so that origins and nginx-rtmp may send more than we read.
 */
import { z } from "@hono/zod-openapi";
import { STREAM_NAME_RE } from "@cascade/common/config";
import { isRendition, PROFILE_RE } from "@cascade/common/renditions";
import { MAX_KEY_LENGTH } from "./publish.ts";
import { REGION_RE } from "./regions.ts";

export const StreamName = z.string()
  .regex(STREAM_NAME_RE, "must be 1-64 of a-z, 0-9, _ and -, starting with a letter or digit")
  .openapi({ example: "cam1", description: "Public stream name" });

const Region = z.string().regex(REGION_RE, "must be 1-64 of A-Z, a-z, 0-9, _, . and -");

const Timestamp = z.string().openapi({
  format: "date-time",
  example: "2025-01-01T12:00:00.000Z",
});

export const ErrorBody = z.object({
  error: z.object({
    code: z.string().openapi({ example: "not_found" }),
    message: z.string().openapi({ example: "Unknown stream: cam1" }),
  }),
}).openapi("Error");

export const NameParams = z.object({
  name: StreamName.openapi({ param: { name: "name", in: "path" } }),
});

/** A stream's own transcode profile (docs/architecture.md, "Adaptive bitrate"). */
const TranscodeProfile = z.string().regex(PROFILE_RE).openapi({
  description: "Renditions made of this stream: `none`, or rungs such as `480p,240p` " +
    "(1080p, 720p, 480p, 360p, 240p, 144p); unset or null: the origin's TRANSCODE_PROFILE",
  example: "480p,240p",
});

export const CreateStreamBody = z.strictObject({
  name: StreamName.refine((n) => !isRendition(n), {
    message: "names ending in a rendition suffix such as _480p are reserved for renditions",
  }),
  record: z.boolean().default(false).openapi({
    description: "Whether origins keep a recording",
  }),
  transcode: TranscodeProfile.optional(),
}).openapi("CreateStream");

export const UpdateStreamBody = z.strictObject({
  disabled: z.boolean().optional().openapi({
    description: "A disabled stream is refused at publish; disabling a live one kicks it",
  }),
  record: z.boolean().optional(),
  transcode: TranscodeProfile.nullable().optional().openapi({
    description: "Applies from the next publish; null returns to TRANSCODE_PROFILE",
  }),
}).refine(
  (b) => b.disabled !== undefined || b.record !== undefined || b.transcode !== undefined,
  { message: "give at least one of disabled, record, transcode" },
).openapi("UpdateStream");

export const StreamKeyGrant = z.object({
  name: StreamName,
  streamKey: z.string().openapi({
    description: "Secret publish key, shown only in this answer",
    example: "sk_3q2-7wEjYVfN0Lr6u9x8bT1cKkQe5aZpG4hJmXo2sDw",
  }),
  ingestUrls: z.array(z.string()).openapi({
    description: "RTMP URLs to publish to, with the key; one per live origin",
    example: ["rtmp://10.0.0.5:1935/live/sk_…"],
  }),
  playbackUrl: z.string().openapi({ description: "Where viewers get the playback URL" }),
}).openapi("StreamKeyGrant");

export const StreamWarning = z.object({
  code: z.string().openapi({ example: "keyframe_interval" }),
  message: z.string().openapi({
    example: "Keyframe interval 8.3 s — set 2 s in OBS → Settings → Output (ffmpeg: -g 60)",
  }),
}).openapi("StreamWarning");

/**
 * What the origin measured of a live stream's encoder (`StreamRecord.media`); each figure is
 * null while unknown: not live, not measured yet, or announced by a writer that does not
 * measure (nginx-rtmp's discovery).
 */
const encoderFields = {
  keyframeInterval: z.number().nullable().openapi({
    description: "Seconds between video keyframes (mean of the last few); null for audio-only",
    example: 2,
  }),
  frameRate: z.number().nullable().openapi({ description: "Video frames per second", example: 30 }),
  codecs: z.string().nullable().openapi({
    description: "RFC 6381 codecs",
    example: "avc1.64001f,mp4a.40.2",
  }),
  width: z.number().int().nullable().openapi({ example: 1280 }),
  height: z.number().int().nullable().openapi({ example: 720 }),
  bitrate: z.number().nullable().openapi({
    description: "Bits per second from the encoder over the last few seconds",
    example: 2_500_000,
  }),
  warnings: z.array(StreamWarning).openapi({
    description: "Encoder settings to fix, e.g. a keyframe interval longer than the origin's " +
      "segment duration (`keyframe_interval`); empty when none is known",
  }),
};

/** Origins running a hot standby of a live stream (docs/architecture.md, "Failover and standby"). */
const StandbyField = z.array(z.string()).openapi({
  description: "Ids of the origins receiving this stream from an encoder of their own while " +
    "`originId` serves it: each takes over, continuing the playlist, if that origin or its " +
    "encoder fails. Empty when there is none",
  example: ["origin-2"],
});

export const Stream = z.object({
  name: StreamName,
  createdAt: Timestamp,
  disabled: z.boolean(),
  record: z.boolean(),
  transcode: z.string().nullable().openapi({
    description: "The stream's own transcode profile; null: the origin's TRANSCODE_PROFILE",
  }),
  live: z.boolean(),
  originId: z.string().nullable().openapi({ description: "Origin serving it, when live" }),
  startedAt: Timestamp.nullable(),
  playbackUrl: z.string(),
  standby: StandbyField,
  ...encoderFields,
}).openapi("Stream");

export const StreamList = z.object({ streams: z.array(Stream) }).openapi("StreamList");

export const Recording = z.object({
  file: z.string().openapi({ example: "2025-01-01T12-00-00.000Z-1.mp4" }),
  originId: z.string().openapi({ description: "Origin that listed it" }),
  size: z.number().int().nonnegative().openapi({ description: "Bytes" }),
  durationSeconds: z.number().nonnegative(),
  startedAt: Timestamp.openapi({ description: "Wall clock of the chunk's first frame" }),
  url: z.string().openapi({
    description: "Download URL: the origin while the file is on its disk, else object storage",
  }),
  archived: z.boolean().openapi({ description: "Object storage holds a verified copy" }),
  archiveUrl: z.string().optional().openapi({ description: "Object storage URL, when archived" }),
}).openapi("Recording");

/** One origin's answer to `GET /recordings/{name}/`: what it knows, without its id. */
export const OriginRecordingList = z.object({
  recordings: z.array(Recording.omit({ originId: true })),
});

export const RecordingList = z.object({
  name: StreamName,
  recordings: z.array(Recording).openapi({ description: "Oldest first" }),
  partial: z.boolean().openapi({
    description: "Some origins did not answer in time: their recordings are missing",
  }),
  unreachable: z.array(z.string()).openapi({ description: "Ids of those origins" }),
}).openapi("RecordingList");

export const LiveStream = z.object({
  name: StreamName,
  originId: z.string(),
  startedAt: Timestamp,
  playbackUrl: z.string().openapi({ description: "This stream's playback endpoint" }),
  hls: z.string().nullable().openapi({
    description: "HLS URL on the edge chosen for this client; null when playback is signed " +
      "and the caller presented no token (ask the playback endpoint with one)",
  }),
  llhls: z.string().nullable().openapi({
    description: "Low-Latency HLS URL beside `hls` (`ll.m3u8` instead of `index.m3u8`, same " +
      "edge and token); null where `hls` is null or when the stream's origin serves no " +
      "LL-HLS (an nginx-rtmp origin, or `HLS_LL=false`)",
    example: "http://edge1.example.com:8000/live/cam1/ll.m3u8",
  }),
  master: z.string().nullable().openapi({
    description: "Multivariant playlist on the same edge with the same token when the stream " +
      "has live renditions, else null (as in the playback answer)",
    example: "http://edge1.example.com:8000/live/cam1/master.m3u8",
  }),
  llmaster: z.string().nullable().openapi({
    description: "Low-Latency multivariant playlist when the stream has live renditions and " +
      "offers LL-HLS, else null",
  }),
  renditions: z.array(z.string()).openapi({
    description: "Rungs live for this stream (`480p`, …), highest first; each is also " +
      "playable as stream `{name}_{rung}`",
    example: ["480p", "240p"],
  }),
  standby: StandbyField,
  ...encoderFields,
}).openapi("LiveStream");

export const LiveList = z.object({ streams: z.array(LiveStream) }).openapi("LiveList");

/** `?region=` and `?ttl=` of the playback routes; `ttl` is bounded by `maxTtlSeconds`. */
export function playbackQuery(maxTtlSeconds: number) {
  return z.object({
    region: Region.optional().openapi({
      param: { name: "region", in: "query" },
      description: "Viewer region; else X-Viewer-Region, else the client address's region",
    }),
    ttl: z.coerce.number().int().min(60).max(maxTtlSeconds).optional().openapi({
      param: { name: "ttl", in: "query" },
      description: `Lifetime of the playback token in seconds (60-${maxTtlSeconds}, ` +
        "PLAYBACK_TOKEN_MAX_TTL_SECONDS); default PLAYBACK_TOKEN_TTL_SECONDS. A player needs " +
        "the token for every request, so it must outlast the viewing session. Ignored when " +
        "playback is not signed",
    }),
  });
}

export const PlaybackHeaders = z.object({
  "x-viewer-region": Region.optional().openapi({
    description: "Viewer region, when no region parameter is given",
  }),
});

/** The LL-HLS URL beside an `hls` one: the same place and token, `ll.m3u8`. */
const LlHlsUrl = z.string().nullable().openapi({
  description: "Low-Latency HLS playlist (`ll.m3u8`: fMP4 parts, blocking reload) beside " +
    "`hls`, with the same token; for hls.js with `lowLatencyMode` and Safari. Null when the " +
    "stream's origin serves no LL-HLS (an nginx-rtmp origin, or `HLS_LL=false`): play `hls`",
  example: "http://edge1.example.com:8000/live/cam1/ll.m3u8",
});

export const EdgeChoice = z.object({
  id: z.string(),
  region: z.string(),
  hls: z.string(),
  llhls: LlHlsUrl,
}).openapi("EdgeChoice");

export const Playback = z.object({
  name: StreamName,
  live: z.boolean(),
  region: z.string().nullable().openapi({ description: "The viewer region used" }),
  hls: z.string().openapi({
    description: "HLS URL on the chosen edge (on the origin only when no edge is alive)",
    example: "http://edge1.example.com:8000/live/cam1/index.m3u8",
  }),
  llhls: LlHlsUrl,
  master: z.string().nullable().openapi({
    description: "Multivariant playlist (`master.m3u8`: the source first, then each live " +
      "rendition such as `{name}_480p`) beside `hls`, with the same token; null when the " +
      "stream has no live renditions",
    example: "http://edge1.example.com:8000/live/cam1/master.m3u8",
  }),
  llmaster: z.string().nullable().openapi({
    description: "Low-Latency multivariant playlist (`ll_master.m3u8`: each rung's " +
      "`ll.m3u8`, the source first) beside `hls`, with the same token; null when the stream " +
      "has no live renditions or its origin serves no LL-HLS",
    example: "http://edge1.example.com:8000/live/cam1/ll_master.m3u8",
  }),
  edges: z.array(EdgeChoice).openapi({
    description: "Alternatives in order of preference, the chosen edge first",
  }),
  expiresAt: Timestamp.nullable().openapi({
    description: "When the playback token expires; null when playback is not signed",
  }),
}).openapi("Playback");

export const PublishHookBody = z.object({
  app: z.string().max(128).default(""),
  key: z.string().min(1).max(MAX_KEY_LENGTH),
  clientIp: z.string().max(128).default(""),
  originId: z.string().max(256).default(""),
}).openapi("PublishHookRequest");

export const PublishHookAllowed = z.object({
  name: StreamName,
  record: z.boolean(),
}).openapi("PublishHookAllowed");

export const NginxQuery = z.object({
  token: z.string().optional().openapi({
    param: { name: "token", in: "query" },
    description: "HOOK_TOKEN",
  }),
  relay: z.string()
    .regex(/^rtmps?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, "must be an rtmp:// URL")
    .optional()
    .openapi({
      param: { name: "relay", in: "query" },
      description: "Redirect to `{relay}/{name}`: nginx-rtmp then pushes there",
    }),
});

/** nginx-rtmp's `on_publish` form; `name` is the stream key. Other fields are ignored. */
export const NginxPublishForm = z.object({
  name: z.string().min(1).max(MAX_KEY_LENGTH),
  app: z.string().max(128).optional(),
  addr: z.string().max(128).optional(),
  call: z.string().max(64).optional(),
}).openapi("NginxPublishForm");

/** nginx-rtmp's `on_publish_done` form, accepted whatever it carries. */
export const NginxDoneForm = z.object({
  call: z.string().max(64).optional(),
}).openapi("NginxDoneForm");
