import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "@cascade/common/config";
import { thumbnailConfigSchema } from "./config.ts";

Deno.test("thumbnailConfigSchema has the documented defaults and 0 turns thumbnails off", () => {
  assert.deepEqual(loadConfig(thumbnailConfigSchema, {}), {
    THUMBNAIL_SECONDS: 5,
    THUMBNAIL_HEIGHT: 180,
    THUMBNAIL_CONCURRENCY: 2,
    THUMBNAIL_TIMEOUT_SECONDS: 5,
    THUMBNAIL_FFMPEG: "ffmpeg",
  });
  assert.equal(loadConfig(thumbnailConfigSchema, { THUMBNAIL_SECONDS: "0" }).THUMBNAIL_SECONDS, 0);
});

Deno.test("thumbnailConfigSchema names the variable it refuses", () => {
  for (
    const [name, value] of [
      ["THUMBNAIL_SECONDS", "-1"],
      ["THUMBNAIL_HEIGHT", "7"],
      ["THUMBNAIL_CONCURRENCY", "0"],
      ["THUMBNAIL_TIMEOUT_SECONDS", "0"],
    ]
  ) {
    assert.throws(
      () => loadConfig(thumbnailConfigSchema, { [name!]: value }),
      (err: Error) => err instanceof ConfigError && err.message.startsWith(`Invalid ${name}`),
    );
  }
});
