/**
 * `runLlViewers` against an edge in front of the synthetic LL-HLS origin, parts every 100
 * ms: the scenario runs, its viewers fetch every part, and the edge's counters show one
 * origin request per part.
 */
import assert from "node:assert/strict";
import { quietLog } from "../../lib/common/testing/log.ts";
import { MemoryRegistry } from "@cascade/registry/memory";
import { LlOrigin } from "../testing/ll_origin.ts";
import { streamRecord } from "../testing/registry.ts";
import { Edge } from "../src/edge.ts";
import { serveEdgeNode } from "../src/node_server.ts";
import { runLlViewers } from "./ll_viewers.ts";

Deno.test("runLlViewers() reports one origin request per part for 30 viewers", async () => {
  await using origin = new LlOrigin({ partTarget: 0.1, targetDuration: 1, partsPerSegment: 10 });
  const registry = new MemoryRegistry({ log: quietLog });
  const edge = new Edge({ registry, cacheBytes: 64 * 1024 * 1024, log: quietLog });
  const server = await serveEdgeNode({ edge, hostname: "127.0.0.1", port: 0, log: quietLog });
  try {
    await edge.start();
    const claim = streamRecord("cam", origin.url, { targetDuration: 1 });
    assert.ok((await registry.claimStream(claim, 60_000)).ok);
    origin.run(100);
    const result = await runLlViewers({
      edgeUrl: `http://127.0.0.1:${server.port}`,
      name: "cam",
      viewers: 30,
      durationMs: 1500,
      rampMs: 200,
    });
    assert.ok(result.parts >= 5, `parts: ${result.parts}`);
    assert.ok(result.partsFetched >= result.parts * 30 * 0.8, JSON.stringify(result));
    // A part listed just before the count starts may be fetched just after, and vice versa.
    assert.ok(Math.abs(result.originRequests.part! - result.parts) <= 2, JSON.stringify(result));
    assert.ok(result.originBlockingRequestsPerPart <= 1.5, JSON.stringify(result));
    assert.deepEqual(Object.keys(result.statuses), ["200"]);
  } finally {
    await origin.close();
    await server.close(1000);
    await edge.close();
    await registry.close();
  }
});
