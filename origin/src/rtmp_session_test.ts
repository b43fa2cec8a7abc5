import assert from "node:assert/strict";
import fc from "../../tests/helpers/fast_check.ts";
import { encodeAmf0 } from "@cascade/media/amf0";
import { ChunkWriter } from "@cascade/media/rtmp/chunk_writer";
import { ChunkReader } from "@cascade/media/rtmp/chunk_reader";
import { MessageType, setChunkSizePayload } from "@cascade/media/rtmp/messages";
import { decodeAmf0 } from "@cascade/media/amf0";
import { configureLogging, log } from "@cascade/common/log";
import { StaticAuthorizer } from "./auth.ts";
import { StreamHub } from "@cascade/stream/hub";
import { RtmpSession } from "./rtmp_session.ts";
import { concatBytes } from "@cascade/media/bytes";
import type { PublishDecision } from "@cascade/common/publish_auth";
import {
  clientHandshake,
  SERVER_HANDSHAKE_BYTES,
} from "../../lib/media/rtmp/testing/client_handshake.ts";

configureLogging({ level: "error" });

const KEY = "session_test_key";
const MAX_MESSAGE = 64 * 1024;

function makeSession() {
  const hub = new StreamHub(log);
  const sent: Uint8Array[] = [];
  let closedWith: string | null = null;
  const keys = new StaticAuthorizer(new Map([[KEY, "alpha"]]));
  const decisions: Promise<PublishDecision>[] = [];
  const session = new RtmpSession({
    app: "live",
    originId: "o1",
    clientIp: "127.0.0.1",
    hub,
    auth: {
      mode: keys.mode,
      authorize(req) {
        const decision = keys.authorize(req);
        decisions.push(decision);
        return decision;
      },
    },
    log,
    maxMessageSize: MAX_MESSAGE,
  }, {
    send: (b) => sent.push(b),
    close: (r) => (closedWith ??= r),
  });
  /**
   * Resolves once the session has acted on every publish decision asked so far: it attached
   * its handler to each decision before this waits on them, so its handlers run first.
   */
  const decided = async () => void await Promise.allSettled(decisions);
  return { session, hub, sent, closed: () => closedWith, decided };
}

/** Replies the server sent, decoded as AMF0 command names (after the handshake). */
function replies(sent: Uint8Array[]): string[] {
  const all = new Uint8Array(sent.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of sent) {
    all.set(b, at);
    at += b.length;
  }
  const reader = new ChunkReader();
  reader.push(all.subarray(SERVER_HANDSHAKE_BYTES));
  const out: string[] = [];
  for (const m of reader.drain()) {
    if (m.typeId !== MessageType.COMMAND_AMF0) continue;
    const v = decodeAmf0(m.payload);
    const info = v[3] as { code?: string } | undefined;
    out.push(info?.code ? `${v[0]}:${info.code}` : String(v[0]));
  }
  return out;
}

/** A valid publisher conversation: connect, createStream, publish, metadata, media. */
function publisherBytes(key = KEY, app = "live"): Uint8Array {
  const w = new ChunkWriter();
  const parts: Uint8Array[] = [clientHandshake()];
  const cmd = (streamId: number, ...v: Parameters<typeof encodeAmf0>) =>
    parts.push(w.write({ csid: 3, typeId: 20, streamId, timestamp: 0, payload: encodeAmf0(...v) }));
  parts.push(
    w.write({ csid: 2, typeId: 1, streamId: 0, timestamp: 0, payload: setChunkSizePayload(4096) }),
  );
  cmd(0, "connect", 1, { app, tcUrl: `rtmp://localhost/${app}`, type: "nonprivate" });
  cmd(0, "releaseStream", 2, null, key);
  cmd(0, "FCPublish", 3, null, key);
  cmd(0, "createStream", 4, null);
  cmd(1, "publish", 5, null, key, "live");
  return concatBytes(parts);
}

Deno.test("RtmpSession answers connect, createStream and publish like a media server", async () => {
  const { session, hub, sent, closed, decided } = makeSession();
  session.push(publisherBytes());
  await decided();
  assert.equal(closed(), null);
  assert.ok(hub.get("alpha"), "stream is live under its public name");
  assert.deepEqual(replies(sent), [
    "_result:NetConnection.Connect.Success",
    "_result",
    "_result",
    "onFCPublish:NetStream.Publish.Start",
    "_result",
    "onStatus:NetStream.Publish.Start",
  ]);
  session.closed("test over");
  assert.equal(hub.get("alpha"), undefined);
});

Deno.test("RtmpSession refuses a wrong app and a wrong key with an error status", async () => {
  for (
    const [bytes, code] of [
      [publisherBytes(KEY, "other"), "_error:NetConnection.Connect.Rejected"],
      [publisherBytes("not_the_key"), "onStatus:NetStream.Publish.BadName"],
    ] as const
  ) {
    const { session, hub, sent, closed, decided } = makeSession();
    session.push(bytes);
    await decided();
    assert.equal(hub.size, 0);
    assert.ok(replies(sent).includes(code), `${code} in ${replies(sent)}`);
    assert.notEqual(closed(), null, "the session asks to close");
  }
});

Deno.test("RtmpSession answers play with a clear error", async () => {
  const { session, sent, closed, decided } = makeSession();
  const w = new ChunkWriter();
  session.push(concatBytes([
    clientHandshake(),
    w.write({
      csid: 3,
      typeId: 20,
      streamId: 0,
      timestamp: 0,
      payload: encodeAmf0("connect", 1, { app: "live" }),
    }),
    w.write({
      csid: 3,
      typeId: 20,
      streamId: 0,
      timestamp: 0,
      payload: encodeAmf0("createStream", 2, null),
    }),
    w.write({
      csid: 8,
      typeId: 20,
      streamId: 1,
      timestamp: 0,
      payload: encodeAmf0("play", 3, null, "x"),
    }),
  ]));
  await decided();
  assert.ok(replies(sent).includes("onStatus:NetStream.Play.Failed"));
  assert.equal(closed(), "play refused");
});

Deno.test("RtmpSession survives random and mutated chunk streams split anywhere", async () => {
  const valid = publisherBytes();
  const expectedError = (e: unknown) => e instanceof SyntaxError || e instanceof RangeError;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ minLength: 0, maxLength: 8000 }),
        // A valid handshake followed by random chunk bytes.
        fc.uint8Array({ maxLength: 6000 }).map((tail) => concatBytes([clientHandshake(), tail])),
        // The valid conversation with random bytes overwritten.
        fc.array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 12,
        }).map((edits) => {
          const copy = valid.slice();
          for (const [at, v] of edits) if (at >= SERVER_HANDSHAKE_BYTES) copy[at] = v;
          return copy;
        }),
      ),
      fc.array(fc.nat(), { maxLength: 20 }),
      async (bytes, cuts) => {
        const { session, decided } = makeSession();
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        let last = 0;
        try {
          for (const p of [...points, bytes.length]) {
            session.push(bytes.subarray(last, p));
            last = p;
            assert.ok(session.bufferedBytes <= 2 * MAX_MESSAGE + 64, "memory stays bounded");
          }
        } catch (e) {
          if (!expectedError(e)) throw e;
        }
        await decided();
        session.closed("done");
      },
    ),
    { numRuns: 300 },
  );
});
