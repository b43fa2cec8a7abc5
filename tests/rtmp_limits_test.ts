/**
 * RTMP limits with a real publisher alongside: a silent connection is dropped at the
 * handshake timeout, a connection that never sends media at the idle timeout (neither
 * before its time), a bad handshake or an oversized message at once, and connections beyond
 * the limit are refused — each closing only that connection while the ffmpeg publisher
 * carries on. "At once" is shown by timeouts far beyond the test's deadline, not by a clock.
 */
import assert from "node:assert/strict";
import { ChunkWriter } from "@cascade/media/rtmp/chunk_writer";
import { encodeAmf0 } from "@cascade/media/amf0";
import { startTestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { handshakeOver } from "../lib/media/rtmp/testing/client_handshake.ts";
import { waitFor } from "./helpers/wait.ts";

/** Generous: under `--parallel` on two busy cores a second can become ten. */
const DEADLINE_MS = 20_000;

/**
 * Reads and discards until the server closes `conn` and resolves with how long that took;
 * fails if the server has not closed it within `timeoutMs`.
 */
async function closedAfter(conn: Deno.Conn, timeoutMs = DEADLINE_MS): Promise<number> {
  const started = Date.now();
  const buf = new Uint8Array(8192);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    conn.close();
  }, timeoutMs);
  try {
    while ((await conn.read(buf)) !== null) { /* discard */ }
  } catch {
    /* reset counts as closed */
  } finally {
    clearTimeout(timer);
  }
  if (timedOut) throw new Error(`The server did not close the connection within ${timeoutMs} ms`);
  return Date.now() - started;
}

/** An origin with these limits and a live ffmpeg publisher beside the connections under test. */
async function originWithPublisher(env: Record<string, string>) {
  const origin = await startTestOrigin({ RTMP_MAX_MESSAGE_BYTES: "65536", ...env });
  const ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 30 });
  const dispose = async () => {
    await ff.stop();
    await origin[Symbol.asyncDispose]();
  };
  try {
    const live = await waitFor("publisher live", () => origin.hub.get("alpha"), {
      timeoutMs: DEADLINE_MS,
    });
    const port = origin.rtmpPort;
    return {
      origin,
      connect: () => Deno.connect({ hostname: "127.0.0.1", port }),
      /** The publisher never noticed: the same stream, still receiving frames. */
      async assertPublisherUntouched() {
        assert.equal(origin.hub.get("alpha"), live, "the publisher is untouched");
        const frames = live.info.frames;
        await waitFor("publisher still sending", () => live.info.frames > frames + 30, {
          timeoutMs: DEADLINE_MS,
        });
      },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

Deno.test("the handshake and idle timeouts close only the silent connections, not before their time", async () => {
  await using o = await originWithPublisher({
    RTMP_HANDSHAKE_TIMEOUT_SECONDS: "1",
    RTMP_IDLE_TIMEOUT_SECONDS: "3",
  });

  // Silent: dropped by the handshake timeout (1 s; checked once a second).
  const silentMs = await closedAfter(await o.connect());
  assert.ok(silentMs >= 900, `silent connection closed after ${silentMs} ms`);

  // Connected but never publishing: dropped by the idle timeout (3 s).
  const idle = await o.connect();
  await handshakeOver(idle);
  const w = new ChunkWriter();
  await idle.write(w.write({
    csid: 3,
    typeId: 20,
    streamId: 0,
    timestamp: 0,
    payload: encodeAmf0("connect", 1, { app: "live" }),
  }));
  const idleMs = await closedAfter(idle);
  assert.ok(idleMs >= 2500, `idle connection closed after ${idleMs} ms`);

  await o.assertPublisherUntouched();
});

Deno.test("bad input and the connection limit close only the offending connection, at once", async () => {
  // Timeouts far beyond the deadline: a connection closed within it was closed for its input.
  await using o = await originWithPublisher({
    RTMP_MAX_CONNECTIONS: "3",
    RTMP_HANDSHAKE_TIMEOUT_SECONDS: "120",
    RTMP_IDLE_TIMEOUT_SECONDS: "120",
  });

  // Encrypted RTMPE version byte: dropped at once.
  const rtmpe = await o.connect();
  await rtmpe.write(new Uint8Array([6, ...new Uint8Array(1536)]));
  await closedAfter(rtmpe);

  // A header declaring a message over the limit: dropped at once.
  const big = await o.connect();
  await handshakeOver(big);
  const header = new Uint8Array([0x03, 0, 0, 0, 0x10, 0, 0, 20, 0, 0, 0, 0]); // fmt 0, length 1 MiB
  await big.write(header);
  await closedAfter(big);

  // Limit 3: the publisher + 2 held connections, then a fourth is refused at once.
  const held = [await o.connect(), await o.connect()];
  await waitFor("held connections counted", () => o.origin.rtmp.connections === 3, {
    timeoutMs: DEADLINE_MS,
  });
  const extra = await o.connect();
  await closedAfter(extra);
  for (const c of held) c.close();

  await o.assertPublisherUntouched();
});
