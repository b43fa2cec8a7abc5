import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import type { IncomingMessage } from "node:http";
import { WebSocketServer } from "ws";
import { flvHeader, flvTag } from "@cascade/media/flv_stream";
import type { HubMessage, MediaFrame } from "@cascade/media/frame";
import { FlvHubReader } from "@cascade/stream/flv_feed";
import { StreamHub } from "@cascade/stream/hub";
import { avcTrack } from "../lib/media/testing/tracks.ts";
import { quietLog } from "../lib/common/testing/log.ts";
import { waitFor } from "../tests/helpers/wait.ts";
import { RenditionPush, SourceFeed, wsUrl } from "./remote.ts";

const TOKEN = "test-token-0123456789";
const track = avcTrack(0x1f);
const config: HubMessage = { type: "config", track };

function videoFrame(dts: number): MediaFrame {
  return { kind: "video", codec: "h264", dts, pts: dts, keyframe: true, data: Uint8Array.of(dts) };
}

function keyframe(dts: number): HubMessage {
  return { type: "frame", frame: videoFrame(dts) };
}

/** The part of a `ws` server socket the tests use. */
interface ServerSocket {
  send(data: Uint8Array): void;
  terminate(): void;
  on(event: "message", listener: (data: Buffer) => void): void;
}

/** A stand-in origin: a WebSocket server on a free port calling `serve` per connection. */
async function fakeOrigin(serve: (ws: ServerSocket, n: number, req: IncomingMessage) => void) {
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise<void>((resolve) => server.on("listening", resolve));
  const auth: string[] = [];
  const paths: string[] = [];
  server.on("connection", (ws: ServerSocket, req: IncomingMessage) => {
    auth.push(req.headers.authorization ?? "");
    paths.push(req.url ?? "");
    serve(ws, paths.length, req);
  });
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    auth,
    paths,
    async [Symbol.asyncDispose]() {
      for (const c of server.clients as Set<ServerSocket>) c.terminate();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

Deno.test("wsUrl() turns an origin's public base into the WebSocket URL of an internal path", () => {
  assert.equal(
    wsUrl("http://10.0.0.5:8081", "/internal/feed/cam"),
    "ws://10.0.0.5:8081/internal/feed/cam",
  );
  assert.equal(
    wsUrl("https://origin.example.com/", "/internal/renditions/cam_240p"),
    "wss://origin.example.com/internal/renditions/cam_240p",
  );
  assert.equal(
    wsUrl("https://cdn.example.com/origin-2", "/internal/feed/cam"),
    "wss://cdn.example.com/origin-2/internal/feed/cam",
  );
});

Deno.test("SourceFeed reconnects after its feed drops, the local source ending lost in between, and stop() ends it", async () => {
  await using origin = await fakeOrigin((ws, n) => {
    for (const msg of [flvHeader(), flvTag(config, 0), flvTag(keyframe(n), n)]) ws.send(msg);
    if (n === 1) setTimeout(() => ws.terminate(), 50);
  });
  const hub = new StreamHub(quietLog);
  const events: [string, boolean | null][] = [];
  hub.on((e) => events.push([e.type, e.type === "publish.stop" ? e.stream.lost : null]));
  const feed = new SourceFeed("cam", origin.url, { hub, log: quietLog, token: TOKEN });
  try {
    await waitFor("a second connection's frame", () =>
      (hub.get("cam")?.info.frames ?? 0) > 0 &&
      origin.paths.length === 2);
    assert.deepEqual(origin.paths, ["/internal/feed/cam", "/internal/feed/cam"]);
    assert.deepEqual(origin.auth, [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
    assert.deepEqual(events, [
      ["publish.start", null],
      ["publish.stop", true],
      ["publish.start", null],
    ]);
  } finally {
    feed.stop();
    await feed.done;
  }
  assert.equal(hub.get("cam"), undefined);
  assert.deepEqual(events.at(-1), ["publish.stop", false], "stop() is a clean end");
});

Deno.test("RenditionPush starts each connection with the FLV header and configs and reconnects until its stream ends", async () => {
  const received: HubMessage[][] = [];
  await using origin = await fakeOrigin((ws, n) => {
    const reader = new FlvHubReader();
    const got: HubMessage[] = [];
    received.push(got);
    ws.on("message", (data) => {
      got.push(...reader.push(new Uint8Array(data)));
      if (n === 1 && got.some((m) => m.type === "frame")) ws.terminate();
    });
  });
  const hub = new StreamHub(quietLog);
  const stream = hub.open("cam_240p", "test");
  stream.config(track);
  const push = new RenditionPush(stream, origin.url, { hub, log: quietLog, token: TOKEN });
  let dts = 0;
  const timer = setInterval(() => stream.frame(videoFrame(++dts)), 20);
  try {
    await waitFor(
      "frames on a second connection",
      () => received[1]?.some((m) => m.type === "frame") ?? false,
    );
    assert.deepEqual(origin.paths.slice(0, 2), [
      "/internal/renditions/cam_240p",
      "/internal/renditions/cam_240p",
    ]);
    for (const got of received.slice(0, 2)) {
      assert.equal(got[0]?.type, "config", "each connection starts with the config");
    }
  } finally {
    clearInterval(timer);
    hub.close(stream, "test over");
    await push.done;
  }
  assert.equal(origin.paths.length, 2, "no reconnect once the stream ended");
});
