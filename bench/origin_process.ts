/**
 * A Cascade origin in a process of its own, so that the benchmark can read its CPU time and
 * memory from `/proc` without counting the publishers, the edge or the benchmark itself. It
 * is the origin of `deno task origin` without a registry: RTMP ingest, HLS packager and HTTP
 * on random loopback ports, any key publishes under its own name (`PUBLISH_AUTH=open`).
 *
 *   deno run -A bench/origin_process.ts MEDIA_ROOT
 *
 * Prints one JSON line `{"rtmpPort":…,"httpPort":…}` once both listen, and stops on SIGTERM.
 */
import { configureLogging } from "@cascade/common/log";
import { loadOriginNodeConfig, startOriginNode } from "../node/origin_node.ts";

const [mediaRoot] = Deno.args;
if (mediaRoot === undefined) throw new TypeError("Usage: origin_process.ts MEDIA_ROOT");

// Errors only: the open-publishing warning and the per-publish lines would be noise here.
configureLogging({ level: "error" });
const origin = await startOriginNode(
  loadOriginNodeConfig({
    RTMP_HOST: "127.0.0.1",
    RTMP_PORT: "0",
    ORIGIN_HTTP_HOST: "127.0.0.1",
    ORIGIN_HTTP_PORT: "0",
    MEDIA_ROOT: mediaRoot,
    PUBLISH_AUTH: "open",
    HLS_SEGMENT_SECONDS: "2",
    HLS_LIST_SIZE: "6",
    NODE_ID: "bench-origin",
    // The ingest path alone: no recorder subscribes to the streams.
    RECORD: "none",
  }),
);
console.log(JSON.stringify({ rtmpPort: origin.rtmpPort, httpPort: origin.httpPort }));

Deno.addSignalListener("SIGTERM", async () => {
  await origin.close();
  Deno.exit(0);
});
