import assert from "node:assert/strict";
import { FfmpegUnavailableError, snapshot, SnapshotTimeoutError } from "./snapshot.ts";

Deno.test("snapshot() kills a hung ffmpeg after the timeout", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-thumb-" });
  try {
    const hung = `${dir}/ffmpeg`;
    await Deno.writeTextFile(hung, "#!/bin/sh\nexec sleep 30\n");
    await Deno.chmod(hung, 0o755);
    const started = Date.now();
    await assert.rejects(
      snapshot(new Uint8Array(16), { ffmpeg: hung, height: 180, timeoutMs: 300 }),
      SnapshotTimeoutError,
    );
    assert.ok(Date.now() - started < 5000, "killed well before sleep ends");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("snapshot() says ffmpeg is unavailable when it cannot start", async () => {
  await assert.rejects(
    snapshot(new Uint8Array(16), { ffmpeg: "/nonexistent/ffmpeg", height: 180, timeoutMs: 300 }),
    FfmpegUnavailableError,
  );
});

Deno.test("snapshot() fails for input that is no H.264", async () => {
  await assert.rejects(
    snapshot(new Uint8Array(64), { ffmpeg: "ffmpeg", height: 180, timeoutMs: 5000 }),
    (err: Error) => !(err instanceof SnapshotTimeoutError) && err instanceof Error,
  );
});
