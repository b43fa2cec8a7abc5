import assert from "node:assert/strict";

const SHUTDOWN = new URL("./shutdown.ts", import.meta.url).href;

/** A process that registers two cleanups, prints `ready` and waits for signals. */
function program(cleanupMs: number): Deno.ChildProcess {
  const script = `
    import { onShutdown } from ${JSON.stringify(SHUTDOWN)};
    const register = onShutdown(10_000);
    register(() => console.log("cleanup first-registered"));
    register(async () => {
      await new Promise((r) => setTimeout(r, ${cleanupMs}));
      console.log("cleanup last-registered");
    });
    console.log("ready");
    setInterval(() => {}, 1000);
  `;
  return new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function readUntilReady(
  child: Deno.ChildProcess,
): Promise<ReadableStreamDefaultReader<Uint8Array>> {
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes("ready")) {
    const { value, done } = await reader.read();
    assert.ok(!done, `exited before ready: ${text}`);
    text += new TextDecoder().decode(value);
  }
  return reader;
}

/** The cleanups' lines; the shutdown's own log lines share stdout. */
function cleanups(out: string): string[] {
  return out.split("\n").filter((l) => l.startsWith("cleanup "));
}

async function rest(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text;
    text += new TextDecoder().decode(value);
  }
}

Deno.test("onShutdown() runs cleanups in reverse order and exits 0, ignoring a forwarded repeat", async () => {
  const child = program(300);
  try {
    const reader = await readUntilReady(child);
    // What `deno task` does on Ctrl-C: the terminal's SIGINT, and a forwarded one.
    child.kill("SIGINT");
    child.kill("SIGINT");
    const [out, status] = await Promise.all([rest(reader), child.status]);
    assert.equal(status.code, 0);
    assert.deepEqual(cleanups(out), [
      "cleanup last-registered",
      "cleanup first-registered",
    ]);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.stderr.cancel().catch(() => {});
  }
});

Deno.test("onShutdown() exits 1 at once on a second signal a second later", async () => {
  const child = program(60_000);
  try {
    const reader = await readUntilReady(child);
    child.kill("SIGTERM");
    // The rule under test is about time: a repeat within a second is a forwarded copy.
    await new Promise((r) => setTimeout(r, 1200));
    child.kill("SIGTERM");
    const [out, status] = await Promise.all([rest(reader), child.status]);
    assert.equal(status.code, 1);
    assert.deepEqual(cleanups(out), []);
    assert.match(out, /shutdown\.start/);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.stderr.cancel().catch(() => {});
  }
});
