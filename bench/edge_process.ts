/**
 * A Cascade edge in a process of its own for the latency benchmark, fed the way production
 * feeds it: a discovery watcher reads the origin's playlists under MEDIA_ROOT and claims each
 * live stream in a registry, and the edge (on `node:http`, as `deno task edge` serves) looks
 * streams up there and fetches from the origin's HTTP port. The registry is the in-memory
 * one, so no Redis is needed; everything else is the code a deployed edge runs.
 *
 *   deno run -A bench/edge_process.ts MEDIA_ROOT ORIGIN_URL
 *
 * Prints `listening PORT` once it accepts connections, and stops on SIGTERM.
 */
import { configureLogging, log } from "@cascade/common/log";
import { MemoryRegistry } from "@cascade/registry/memory";
import { DiscoveryWatcher } from "@cascade/discovery/watcher";
import { createEdge } from "../edge/src/app.ts";
import { serveEdgeNode } from "../edge/src/node_server.ts";

const [mediaRoot, originUrl] = Deno.args;
if (mediaRoot === undefined || originUrl === undefined) {
  throw new TypeError("Usage: edge_process.ts MEDIA_ROOT ORIGIN_URL");
}

configureLogging({ level: "error" });
const registry = new MemoryRegistry({ log });
const watcher = new DiscoveryWatcher({
  registry,
  mediaRoot,
  originId: "bench-origin",
  originUrl,
  ttlSeconds: 10,
  log,
});
await watcher.start();
const edge = createEdge({ registry, cacheBytes: 256 * 1024 * 1024, log });
await edge.start();
const server = await serveEdgeNode({ edge, hostname: "127.0.0.1", port: 0 });
console.log(`listening ${server.port}`);

Deno.addSignalListener("SIGTERM", async () => {
  await server.close(1000);
  await watcher.stop();
  await edge.close();
  await registry.close();
  Deno.exit(0);
});
