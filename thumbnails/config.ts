/**
 * The thumbnail settings, as a zod shape and schema. A composition root that runs thumbnails
 * beside an origin parses them from the same environment at start, so an invalid value exits 2
 * like any other.
 */
import { z } from "zod";

export const thumbnailConfigShape = {
  /** Age after which a request makes a stream's picture anew; `0` turns the feature off. */
  THUMBNAIL_SECONDS: z.coerce.number().min(0).max(3600).default(5),
  /** Picture height in pixels; the width follows the aspect ratio. */
  THUMBNAIL_HEIGHT: z.coerce.number().int().min(16).max(2160).default(180),
  /** ffmpeg runs at the same time, at most, over all streams. */
  THUMBNAIL_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(2),
  /** An ffmpeg run taking longer is killed; a later request tries again. */
  THUMBNAIL_TIMEOUT_SECONDS: z.coerce.number().positive().max(600).default(5),
  THUMBNAIL_FFMPEG: z.string().min(1).default("ffmpeg"),
};

export const thumbnailConfigSchema = z.object(thumbnailConfigShape);
export type ThumbnailConfig = z.infer<typeof thumbnailConfigSchema>;
