/**
 * One-shot archive run: uploads every finished recording under `RECORD_DIR` that the
 * ledger does not list as uploaded (resuming multipart uploads where they stopped), then
 * exits. For backfills and for hosts where recordings were made while object storage was
 * unreachable; the origin runs the same `Archive` continuously. Configured by the same
 * environment variables as the origin (`RECORD_DIR`, `S3_*`, AWS credentials). Exits 0 when
 * everything is uploaded, 1 when something is still pending, 2 on a configuration error.
 *
 *   deno run -A recording/archive_main.ts
 */
import * as v from "valibot";
import { exitOnConfigError, loadConfig, loggingShape } from "@cascade/common/config";
import { configureLogging, log } from "@cascade/common/log";
import { Archive, createS3Client } from "./archive.ts";
import { recordingConfigShape } from "./config.ts";

const schema = v.object({
  ...recordingConfigShape,
  S3_BUCKET: v.pipe(v.string(), v.minLength(3), v.maxLength(63)),
  ...loggingShape,
});

const config = exitOnConfigError(() => loadConfig(schema));
configureLogging({ level: config.LOG_LEVEL, format: config.LOG_FORMAT });
const archive = new Archive({
  dir: config.RECORD_DIR,
  bucket: config.S3_BUCKET,
  prefix: config.S3_PREFIX,
  client: createS3Client({ region: config.S3_REGION, endpoint: config.S3_ENDPOINT }),
  deleteLocal: config.S3_DELETE_LOCAL,
  partSizeBytes: config.S3_PART_MB * 1024 * 1024,
  publicUrl: config.S3_PUBLIC_URL,
  endpoint: config.S3_ENDPOINT,
  region: config.S3_REGION,
  // One pass: a file that fails all its attempts is reported, not retried later.
  fileRetryMs: 24 * 3600_000,
  log,
});
await archive.start();
log.info("archive.run", { dir: config.RECORD_DIR, files: archive.pending });
await archive.idle();
const failed = archive.failed;
await archive.close();
log.info("archive.done", { failed });
Deno.exit(failed > 0 ? 1 : 0);
