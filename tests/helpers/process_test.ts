import assert from "node:assert/strict";
import { startProcess, TestProcess } from "./process.ts";
import { GiveUp } from "./wait.ts";
import { freePort } from "./ports.ts";

Deno.test("TestProcess.waitForOutput() fails as soon as the program exits, with its output", async () => {
  await using proc = new TestProcess("sh", { args: ["-c", "echo crashed early; exit 3"] });
  await assert.rejects(
    proc.waitForOutput(/never printed/, 120_000),
    (err) => err instanceof GiveUp && /sh exited; output:\ncrashed early/.test(err.message),
  );
});

Deno.test("startProcess() gives up waiting for a port once the program has exited", async () => {
  await assert.rejects(
    startProcess("sh", { args: ["-c", "exit 1"], readyPort: freePort(), timeoutMs: 120_000 }),
    GiveUp,
  );
});
