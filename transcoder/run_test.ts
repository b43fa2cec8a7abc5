import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "@cascade/common/config";
import { transcoderRoleConfigSchema } from "./run.ts";

const ENV = { REDIS_URL: "redis://127.0.0.1:6379", HOOK_TOKEN: "0123456789abcdef" };

Deno.test("transcoderRoleConfigSchema needs Redis and HOOK_TOKEN and takes the TRANSCODE_* settings", () => {
  const config = loadConfig(transcoderRoleConfigSchema, { ...ENV, TRANSCODE_PROFILE: "480P,240p" });
  assert.equal(config.HOOK_TOKEN, ENV.HOOK_TOKEN);
  assert.equal(config.TRANSCODE_PROFILE, "480p,240p");
  assert.equal(config.TRANSCODER_PORT, 8085);
  assert.throws(
    () => loadConfig(transcoderRoleConfigSchema, { REDIS_URL: ENV.REDIS_URL }),
    (err: unknown) =>
      err instanceof ConfigError && /^Invalid HOOK_TOKEN: required/.test(err.message),
  );
  assert.throws(
    () => loadConfig(transcoderRoleConfigSchema, { HOOK_TOKEN: ENV.HOOK_TOKEN }),
    /Invalid REDIS_URL: required/,
  );
  assert.throws(
    () => loadConfig(transcoderRoleConfigSchema, { ...ENV, TRANSCODE_PROFILE: "4k" }),
    /Invalid TRANSCODE_PROFILE/,
  );
});
