/**
 * The transcoder's settings, as a valibot shape and schema, parsed from the environment by the
 * composition roots that run it: beside an origin (`node/origin_node.ts`, which also reads
 * `TRANSCODE_LOCAL`) and as a role of its own (`transcoder/main.ts`); docs/architecture.md,
 * "Adaptive bitrate".
 */
import * as v from "valibot";
import { PROFILE_RE } from "@cascade/common/renditions";
import { fields } from "@cascade/common/config";

export const transcoderConfigShape = {
  /** The ladder every stream gets unless its stream config says otherwise: `none` or `480p,240p`. */
  TRANSCODE_PROFILE: v.optional(
    v.pipe(v.string(), v.trim(), v.toLowerCase(), v.regex(PROFILE_RE)),
    "none",
  ),
  /** The ffmpeg program; when it cannot run, renditions are off and sources untouched. */
  TRANSCODE_FFMPEG: v.optional(v.string(), "ffmpeg"),
  /** Frames queued for each ffmpeg before it loses frames to the next keyframe. */
  TRANSCODE_QUEUE_FRAMES: v.optional(fields.integer(16, 100_000), "300"),
  /** x264 preset of the renditions: faster presets cost less CPU per rendition. */
  TRANSCODE_PRESET: v.optional(
    v.picklist([
      "ultrafast",
      "superfast",
      "veryfast",
      "faster",
      "fast",
      "medium",
    ]),
    "veryfast",
  ),
};

export const transcoderConfigSchema = v.object(transcoderConfigShape);
export type TranscoderConfig = v.InferOutput<typeof transcoderConfigSchema>;

/**
 * An origin node's choice: `true` (default) makes renditions in its own process; `false`
 * leaves them to the transcoder role (`deno task transcoder`), so this origin makes none
 * whatever a stream's config or `TRANSCODE_PROFILE` says.
 */
export const localTranscodeShape = { TRANSCODE_LOCAL: fields.bool(true) };
