/**
 * The thumbnail settings, as a valibot shape and schema. A composition root that runs
 * thumbnails beside an origin parses them from the same environment at start, so an invalid
 * value exits 2 like any other.
 */
import * as v from "valibot";
import { fields } from "@cascade/common/config";

export const thumbnailConfigShape = {
  /** Age after which a request makes a stream's picture anew; `0` turns the feature off. */
  THUMBNAIL_SECONDS: v.optional(fields.number(0, 3600), "5"),
  /** Picture height in pixels; the width follows the aspect ratio. */
  THUMBNAIL_HEIGHT: v.optional(fields.integer(16, 2160), "180"),
  /** ffmpeg runs at the same time, at most, over all streams. */
  THUMBNAIL_CONCURRENCY: v.optional(fields.integer(1, 64), "2"),
  /** An ffmpeg run taking longer is killed; a later request tries again. */
  THUMBNAIL_TIMEOUT_SECONDS: v.optional(
    v.pipe(fields.number(), v.gtValue(0), v.maxValue(600)),
    "5",
  ),
  THUMBNAIL_FFMPEG: v.optional(v.string(), "ffmpeg"),
};

export const thumbnailConfigSchema = v.object(thumbnailConfigShape);
export type ThumbnailConfig = v.InferOutput<typeof thumbnailConfigSchema>;
