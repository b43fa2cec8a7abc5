import assert from "node:assert/strict";
import { GiveUp, waitFor } from "./wait.ts";

Deno.test("waitFor() returns the first value that is not undefined, null or false", async () => {
  const answers = [undefined, null, false, 0, 1];
  let calls = 0;
  const value = await waitFor("a number", () => answers[calls++], { intervalMs: 1 });
  assert.equal(value, 0);
  assert.equal(calls, 4);
});

Deno.test("waitFor() retries a check that throws an ordinary error", async () => {
  let calls = 0;
  const value = await waitFor("the third call", () => {
    if (++calls < 3) throw new Error("Connection refused");
    return "up";
  }, { intervalMs: 1 });
  assert.equal(value, "up");
  assert.equal(calls, 3);
});

Deno.test("waitFor() gives up at once when the check throws GiveUp", async () => {
  let calls = 0;
  const started = Date.now();
  await assert.rejects(
    waitFor("a program that has exited", () => {
      calls++;
      throw new GiveUp("ffmpeg exited");
    }, { timeoutMs: 60_000, intervalMs: 1 }),
    (err) => err instanceof GiveUp && err.message === "ffmpeg exited",
  );
  assert.equal(calls, 1);
  // Far below the 60 s deadline: the wait did not sit out its timeout.
  assert.ok(Date.now() - started < 30_000);
});

Deno.test("waitFor() times out with a message naming what it waited for and the last error", async () => {
  await assert.rejects(
    waitFor("cam1 to be announced", () => {
      throw new Error("Connection refused");
    }, { timeoutMs: 30, intervalMs: 5 }),
    {
      message: "Timed out after 30 ms waiting for cam1 to be announced: " +
        "last error: Connection refused",
    },
  );
  await assert.rejects(waitFor("nothing", () => false, { timeoutMs: 10, intervalMs: 5 }), {
    message: "Timed out after 10 ms waiting for nothing",
  });
});
