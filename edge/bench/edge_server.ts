/**
 * An edge for benchmarks, in its own process: an embedded registry that says stream `bench`
 * lives at the origin given on the command line, and the edge on `node:http` or `Deno.serve`.
 *
 *   deno run -A edge/bench/edge_server.ts ORIGIN_URL node|deno|bare
 *
 * Prints `listening PORT` once it accepts connections.
 */
import http from "node:http";
import { Buffer } from "node:buffer";
import { quietLog } from "../../lib/common/testing/log.ts";
import { MemoryRegistry } from "@cascade/registry/memory";
import { createEdgeApp } from "../src/app.ts";
import { Edge } from "../src/edge.ts";
import { serveEdgeNode } from "../src/node_server.ts";

const [originUrl, kind = "node"] = Deno.args;
if (originUrl === undefined) throw new TypeError("Usage: edge_server.ts ORIGIN_URL node|deno|bare");

const registry = new MemoryRegistry({ log: quietLog });
await registry.claimStream({
  name: "bench",
  originId: "bench-origin",
  originUrl,
  manifest: `${originUrl}/live/bench/index.m3u8`,
  startedAt: 1,
  updatedAt: 1,
  targetDuration: 3,
  mediaSequence: 1,
}, 24 * 3600 * 1000);
const edge = new Edge({ registry, cacheBytes: 256 * 1024 * 1024, log: quietLog });
await edge.start();

if (kind === "bare") {
  // The ceiling of the transport: node:http writing the same bodies with no edge logic.
  const seg = new Uint8Array(await (await fetch(`${originUrl}/live/bench/1.ts`)).arrayBuffer());
  const list = new Uint8Array(
    await (await fetch(`${originUrl}/live/bench/index.m3u8`)).arrayBuffer(),
  );
  const server = http.createServer((req, res) => {
    const body = req.url?.endsWith(".m3u8") ? list : seg;
    res.writeHead(200, { "Content-Length": String(body.byteLength) });
    res.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    console.log(`listening ${typeof address === "object" && address ? address.port : 0}`);
  });
} else if (kind === "deno") {
  const app = createEdgeApp(edge);
  Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: (addr) => console.log(`listening ${addr.port}`),
  }, app.fetch);
} else {
  const server = await serveEdgeNode({ edge, hostname: "127.0.0.1", port: 0 });
  console.log(`listening ${server.port}`);
}
