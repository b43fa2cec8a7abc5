/**
 * The transcoder's settings, as a zod shape and schema, parsed from the environment by the
 * composition roots that run it: beside an origin (`node/origin_node.ts`, which also reads
 * `TRANSCODE_LOCAL`) and as a role of its own (`transcoder/main.ts`); docs/architecture.md,
 * "Adaptive bitrate".
 */
import { z } from "zod";
import { PROFILE_RE } from "@cascade/common/renditions";
import { fields } from "@cascade/common/config";

export const transcoderConfigShape = {
  /** The ladder every stream gets unless its stream config says otherwise: `none` or `480p,240p`. */
  TRANSCODE_PROFILE: z.string().trim().toLowerCase().regex(PROFILE_RE).default("none"),
  /** The ffmpeg program; when it cannot run, renditions are off and sources untouched. */
  TRANSCODE_FFMPEG: z.string().min(1).default("ffmpeg"),
  /** Frames queued for each ffmpeg before it loses frames to the next keyframe. */
  TRANSCODE_QUEUE_FRAMES: z.coerce.number().int().min(16).max(100_000).default(300),
  /** x264 preset of the renditions: faster presets cost less CPU per rendition. */
  TRANSCODE_PRESET: z.enum([
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
  ]).default("veryfast"),
};

export const transcoderConfigSchema = z.object(transcoderConfigShape);
export type TranscoderConfig = z.infer<typeof transcoderConfigSchema>;

/**
 * An origin node's choice: `true` (default) makes renditions in its own process; `false`
 * leaves them to the transcoder role (`deno task transcoder`), so this origin makes none
 * whatever a stream's config or `TRANSCODE_PROFILE` says.
 */
export const localTranscodeShape = { TRANSCODE_LOCAL: fields.bool(true) };
