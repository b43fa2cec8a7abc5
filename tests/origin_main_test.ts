/**
 * `deno task origin` as a process: a missing or invalid variable ends it with exit code 2
 * and one line naming the variable.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runProcess } from "./helpers/process.ts";

const MAIN = fileURLToPath(new URL("../origin/main.ts", import.meta.url));

for (
  const [env, variable] of [
    [{ REDIS_URL: "" }, "REDIS_URL"],
    [{ REDIS_URL: "redis://127.0.0.1:1", RTMP_PORT: "abc" }, "RTMP_PORT"],
    [{ REDIS_URL: "redis://127.0.0.1:1", PUBLISH_AUTH: "static" }, "PUBLISH_KEYS"],
  ] as const
) {
  Deno.test(`origin/main.ts exits 2 naming ${variable} when it is wrong`, async () => {
    const r = await runProcess(Deno.execPath(), ["run", "-A", MAIN], {
      env,
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 2);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line: ${r.stderr}`);
    assert.match(lines[0]!, new RegExp(`^Invalid ${variable}: `));
  });
}
