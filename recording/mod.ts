/**
 * Recording assembled for the origin: the `RECORD` policy, the recorder on the hub,
 * retention over `RECORD_DIR`, the object-storage archive when `S3_BUCKET` is set, the
 * listing used by the API, and the HTTP app serving local files. `startOrigin` calls
 * `startRecording(config, deps)` once and `close()` after the RTMP server has stopped, so
 * every broadcast's last chunk is finished before the archive stops.
 */

import { importWhenNeeded } from "@cascade/common/lazy_import";
import type { Hono } from "hono";
import type { S3Client } from "@aws-sdk/client-s3";
import type { Logger } from "@cascade/common/log";
import type { MetricsRegistry } from "@cascade/common/metrics";
import type { StreamConfig } from "@cascade/registry";
import type { StreamHub } from "@cascade/stream/hub";
import { listRecordings, type Recording } from "./api.ts";
import type { Archive } from "./archive.ts";
import type { RecordingConfig } from "./config.ts";
import { createRecordingsApp } from "./http.ts";
import { Recorder } from "./recorder.ts";
import { BYTES_PER_GB, Retention } from "./retention.ts";

export interface RecordingDeps {
  hub: StreamHub;
  log: Logger;
  metrics?: MetricsRegistry;
  /** Where `RECORD=flagged` reads each stream's `record` flag. */
  registry?: { getStreamConfig(name: string): Promise<StreamConfig | null> };
  /** Base of local download URLs (the origin's public URL), or how to get it when known. */
  publicUrl?: string | (() => string);
  corsOrigin?: string;
  /** Bearer token required to list recordings over HTTP (the origin's `HOOK_TOKEN`). */
  listToken?: string;
  /** An S3 client to use instead of one built from the config (tests). */
  s3Client?: S3Client;
}

export interface RecordingService {
  readonly recorder: Recorder | undefined;
  readonly retention: Retention;
  readonly archive: Archive | undefined;
  /** `/{name}/{file}.mp4` and the listing `/{name}/`, to mount under `/recordings`. */
  readonly app: Hono;
  /** The recordings of a stream, for `GET /api/v1/streams/{name}/recordings`. */
  list(name: string): Promise<Recording[]>;
  close(): Promise<void>;
}

/** `RECORD=all|none|flagged` as a `shouldRecord` function. */
export function recordPolicy(
  mode: RecordingConfig["RECORD"],
  registry: RecordingDeps["registry"],
): (name: string) => Promise<boolean> {
  if (mode === "all") return () => Promise.resolve(true);
  if (mode === "none" || !registry) return () => Promise.resolve(false);
  return async (name) => (await registry.getStreamConfig(name))?.record === true;
}

export async function startRecording(
  config: RecordingConfig,
  deps: RecordingDeps,
): Promise<RecordingService> {
  const log = deps.log;
  const dir = config.RECORD_DIR;
  if (config.RECORD === "flagged" && !deps.registry) {
    log.info("record.no_registry", {
      detail: "RECORD=flagged needs the registry's per-stream flag; nothing will be recorded",
    });
  }
  let archive: Archive | undefined;
  if (config.S3_BUCKET) {
    // Only archiving needs the S3 SDK, and loading it costs start time and memory (its
    // modules stay resident), so an origin without S3_BUCKET never loads or resolves it.
    // Named through the import map, which resolves it from a role's bundle too.
    const { Archive, createS3Client } = await importWhenNeeded<typeof import("./archive.ts")>(
      "@cascade/recording/archive",
    );
    archive = new Archive({
      dir,
      bucket: config.S3_BUCKET,
      prefix: config.S3_PREFIX,
      client: deps.s3Client ??
        createS3Client({ region: config.S3_REGION, endpoint: config.S3_ENDPOINT }),
      deleteLocal: config.S3_DELETE_LOCAL,
      partSizeBytes: config.S3_PART_MB * 1024 * 1024,
      publicUrl: config.S3_PUBLIC_URL,
      endpoint: config.S3_ENDPOINT,
      region: config.S3_REGION,
      log,
    });
    await archive.start();
  }
  let recorder: Recorder | undefined;
  const retention = new Retention({
    dir,
    maxBytes: config.RECORD_MAX_GB ? config.RECORD_MAX_GB * BYTES_PER_GB : undefined,
    maxAgeMs: config.RECORD_RETENTION_HOURS ? config.RECORD_RETENTION_HOURS * 3600_000 : undefined,
    isOpen: (path) => recorder?.isOpen(path) ?? false,
    isArchived: archive ? (path) => archive!.isArchived(path) : undefined,
    onDelete: (f) => void archive?.forgetLocal(f.path),
    log,
  });
  retention.start();
  if (config.RECORD !== "none") {
    recorder = new Recorder({
      hub: deps.hub,
      dir,
      chunkSeconds: config.RECORD_CHUNK_SECONDS,
      shouldRecord: recordPolicy(config.RECORD, deps.registry),
      log,
      metrics: deps.metrics,
      onChunk: (chunk) => {
        archive?.enqueue(chunk.path);
        if (retention.limited) void retention.sweep();
      },
      onDiskFull: () => retention.sweep(),
    });
  }
  const list = (name: string) =>
    listRecordings(dir, name, {
      archive,
      baseUrl: typeof deps.publicUrl === "function" ? deps.publicUrl() : deps.publicUrl,
    });
  return {
    recorder,
    retention,
    archive,
    app: createRecordingsApp({
      dir,
      corsOrigin: deps.corsOrigin,
      list,
      listToken: deps.listToken,
    }),
    list,
    async close() {
      await recorder?.close();
      await retention.stop();
      await archive?.close();
    },
  };
}
