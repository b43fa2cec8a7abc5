/**
 * RTMP limits with a real publisher alongside: a silent connection is dropped at the
 * handshake timeout, a connection that never sends media at the idle timeout, a bad
 * handshake or an oversized message at once, and connections beyond the limit are refused —
 * each closing only that connection while the ffmpeg publisher carries on.
 */
import assert from "node:assert/strict";
import { ChunkWriter } from "@cascade/media/rtmp/chunk_writer";
import { encodeAmf0 } from "@cascade/media/amf0";
import { startTestOrigin } from "./helpers/origin.ts";
import { publish } from "./helpers/media.ts";
import { waitFor } from "./helpers/wait.ts";

/** Resolves with the time (ms) until the server closed `conn`, reading and discarding. */
async function closedAfter(conn: Deno.Conn, timeoutMs = 10_000): Promise<number> {
  const started = Date.now();
  const buf = new Uint8Array(8192);
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    while ((await conn.read(buf)) !== null) { /* discard */ }
  } catch {
    /* reset counts as closed */
  } finally {
    clearTimeout(timer);
  }
  return Date.now() - started;
}

async function handshake(conn: Deno.Conn): Promise<void> {
  const c0c1 = new Uint8Array(1537);
  c0c1[0] = 3;
  await conn.write(c0c1);
  let got = 0;
  const buf = new Uint8Array(4096);
  while (got < 3073) {
    const n = await conn.read(buf);
    if (n === null) throw new Error("closed during handshake");
    got += n;
  }
  await conn.write(new Uint8Array(1536));
}

Deno.test("timeouts, bad input and the connection limit close only the offending connection", async () => {
  await using origin = await startTestOrigin({
    RTMP_MAX_CONNECTIONS: "3",
    RTMP_HANDSHAKE_TIMEOUT_SECONDS: "1",
    RTMP_IDLE_TIMEOUT_SECONDS: "3",
    RTMP_MAX_MESSAGE_BYTES: "65536",
  });
  await using ff = publish(origin.rtmpUrl("test_key_1234"), { seconds: 20 });
  const live = await waitFor("publisher live", () => origin.hub.get("alpha"));
  const port = origin.rtmpPort;
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port });

  // Silent: dropped by the handshake timeout (1 s; checked once a second).
  const silent = await connect();
  const silentMs = await closedAfter(silent);
  assert.ok(silentMs >= 900 && silentMs < 3500, `silent connection closed after ${silentMs} ms`);

  // Encrypted RTMPE version byte: dropped at once.
  const rtmpe = await connect();
  await rtmpe.write(new Uint8Array([6, ...new Uint8Array(1536)]));
  assert.ok((await closedAfter(rtmpe)) < 1000, "bad handshake closed at once");

  // A header declaring a message over the limit: dropped at once.
  const big = await connect();
  await handshake(big);
  const header = new Uint8Array([0x03, 0, 0, 0, 0x10, 0, 0, 20, 0, 0, 0, 0]); // fmt 0, length 1 MiB
  await big.write(header);
  assert.ok((await closedAfter(big)) < 1000, "oversized message closed at once");

  // Connected but never publishing: dropped by the idle timeout (3 s).
  const idle = await connect();
  await handshake(idle);
  const w = new ChunkWriter();
  await idle.write(w.write({
    csid: 3,
    typeId: 20,
    streamId: 0,
    timestamp: 0,
    payload: encodeAmf0("connect", 1, { app: "live" }),
  }));
  const idleMs = await closedAfter(idle);
  assert.ok(idleMs >= 2500 && idleMs < 6000, `idle connection closed after ${idleMs} ms`);

  // Limit 3: the publisher + 2 held connections, then a fourth is refused at once.
  const held = [await connect(), await connect()];
  await waitFor("held connections counted", () => origin.rtmp.connections === 3);
  const extra = await connect();
  assert.ok((await closedAfter(extra)) < 1000, "connection over the limit refused at once");
  for (const c of held) c.close();

  // The publisher never noticed.
  assert.equal(origin.hub.get("alpha"), live, "the publisher is untouched");
  const frames = live.info.frames;
  await waitFor("publisher still sending", () => live.info.frames > frames + 30);
  ff.child.kill("SIGTERM");
  await ff.status;
});
