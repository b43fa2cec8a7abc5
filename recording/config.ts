/**
 * The recording and archive settings, as a zod shape and schema. A composition root that
 * runs recording beside an origin parses them from the same environment at start, so an
 * invalid value exits 2 like any other.
 */
import { z } from "zod";
import { fields } from "@cascade/common/config";

/** Unset or empty means "no limit"; otherwise a non-negative number. */
const optionalLimit = z.coerce.number().min(0).optional();

export const recordingConfigShape = {
  /** `all` records every broadcast, `none` none, `flagged` those whose stream config says so. */
  RECORD: z.enum(["all", "none", "flagged"]).default("flagged"),
  RECORD_DIR: z.string().min(1).default("./recordings"),
  RECORD_CHUNK_SECONDS: z.coerce.number().min(1).max(24 * 3600).default(300),
  /** Cap on the recordings' total size; oldest finished files go first. */
  RECORD_MAX_GB: optionalLimit,
  /** Finished files older than this are deleted (once archived, when archiving). */
  RECORD_RETENTION_HOURS: optionalLimit,
  /** Archive finished chunks to this bucket; unset → no archive. */
  S3_BUCKET: z.string().min(3).max(63).optional(),
  /** S3-compatible endpoint (MinIO, R2, …); unset → AWS for `S3_REGION`. */
  S3_ENDPOINT: z.string().url().optional(),
  S3_PREFIX: z.string().default("").transform((p) => p.replace(/^\/+|\/+$/g, "")),
  S3_REGION: z.string().min(1).default("us-east-1"),
  /** Delete the local file once its upload is verified. */
  S3_DELETE_LOCAL: fields.bool(false),
  /** Multipart part size; files up to one part go in a single PUT. S3 needs at least 5. */
  S3_PART_MB: z.coerce.number().int().min(5).max(5000).default(8),
  /** Base URL for download links of archived files; default: the endpoint's path-style URL. */
  S3_PUBLIC_URL: z.string().url().optional(),
};

export const recordingConfigSchema = z.object(recordingConfigShape);
export type RecordingConfig = z.infer<typeof recordingConfigSchema>;
