/**
 * Recording started the way the origin starts it (`startRecording` over a parsed
 * `RecordingConfig`), for tests that publish to a test origin's hub: `RECORD=all` unless
 * the test says otherwise, a captured log to wait on (`record.stop`, `record.paused`, …),
 * and a temporary `RECORD_DIR` unless the test brings its own (a tmpfs, a directory it
 * inspects after the recording has closed). Disposing closes the recording, so the open
 * chunk is finished, and removes the directory it made.
 */
import { loadConfig } from "@cascade/common/config";
import type { StreamHub } from "@cascade/stream/hub";
import { type CapturedLog, captureLog } from "../../tests/helpers/log.ts";
import { recordingConfigSchema } from "../config.ts";
import { type RecordingDeps, type RecordingService, startRecording } from "../mod.ts";

export interface TestRecording extends AsyncDisposable {
  /** `RECORD_DIR`. */
  dir: string;
  log: CapturedLog;
  recording: RecordingService;
}

export interface TestRecordingOptions {
  /** `RECORD_DIR`, left in place on dispose; default a temp dir removed on dispose. */
  dir?: string;
  /** Recording variables over `RECORD=all`, e.g. `RECORD_CHUNK_SECONDS`. */
  env?: Record<string, string>;
  /** Dependencies beside the hub and the captured log (`publicUrl`, `s3Client`, …). */
  deps?: Omit<RecordingDeps, "hub" | "log">;
}

export async function startTestRecording(
  hub: StreamHub,
  options: TestRecordingOptions = {},
): Promise<TestRecording> {
  const dir = options.dir ?? await Deno.makeTempDir({ prefix: "cascade-rec-" });
  const log = captureLog();
  try {
    const config = loadConfig(recordingConfigSchema, {
      RECORD: "all",
      ...options.env,
      RECORD_DIR: dir,
    });
    const recording = await startRecording(config, { ...options.deps, hub, log });
    return {
      dir,
      log,
      recording,
      async [Symbol.asyncDispose]() {
        await recording.close();
        if (!options.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
      },
    };
  } catch (err) {
    if (!options.dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}
