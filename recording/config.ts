/**
 * The recording and archive settings, as a valibot shape and schema. A composition root that
 * runs recording beside an origin parses them from the same environment at start, so an
 * invalid value exits 2 like any other.
 */
import * as v from "valibot";
import { fields } from "@cascade/common/config";

/** Unset or empty means "no limit"; otherwise a non-negative number. */
const optionalLimit = v.optional(fields.number(0));

export const recordingConfigShape = {
  /** `all` records every broadcast, `none` none, `flagged` those whose stream config says so. */
  RECORD: v.optional(v.picklist(["all", "none", "flagged"]), "flagged"),
  RECORD_DIR: v.optional(v.string(), "./recordings"),
  RECORD_CHUNK_SECONDS: v.optional(fields.number(1, 24 * 3600), "300"),
  /** Cap on the recordings' total size; oldest finished files go first. */
  RECORD_MAX_GB: optionalLimit,
  /** Finished files older than this are deleted (once archived, when archiving). */
  RECORD_RETENTION_HOURS: optionalLimit,
  /** Archive finished chunks to this bucket; unset → no archive. */
  S3_BUCKET: v.optional(v.pipe(v.string(), v.minLength(3), v.maxLength(63))),
  /** S3-compatible endpoint (MinIO, R2, …); unset → AWS for `S3_REGION`. */
  S3_ENDPOINT: v.optional(v.pipe(v.string(), v.url())),
  S3_PREFIX: v.optional(
    v.pipe(v.string(), v.transform((p) => p.replace(/^\/+|\/+$/g, ""))),
    "",
  ),
  S3_REGION: v.optional(v.string(), "us-east-1"),
  /** Delete the local file once its upload is verified. */
  S3_DELETE_LOCAL: fields.bool(false),
  /** Multipart part size; files up to one part go in a single PUT. S3 needs at least 5. */
  S3_PART_MB: v.optional(fields.integer(5, 5000), "8"),
  /** Base URL for download links of archived files; default: the endpoint's path-style URL. */
  S3_PUBLIC_URL: v.optional(v.pipe(v.string(), v.url())),
};

export const recordingConfigSchema = v.object(recordingConfigShape);
export type RecordingConfig = v.InferOutput<typeof recordingConfigSchema>;
