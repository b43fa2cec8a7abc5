import assert from "node:assert/strict";
import { configureLogging } from "@cascade/common/log";
import { StreamHub } from "@cascade/stream/hub";
import { hubStreamStats } from "./stream_stats.ts";

configureLogging({ level: "error" });

Deno.test("hubStreamStats() measures the ingest bit rate between calls and forgets ended streams", () => {
  const hub = new StreamHub();
  let clock = 0;
  const stats = hubStreamStats(hub, () => clock);
  assert.equal(stats("alpha"), undefined);

  const stream = hub.open("alpha", "127.0.0.1");
  clock = stream.info.startedAt.getTime() + 2000;
  stream.info.bytes = 250_000; // 1 Mb/s over the first 2 s
  assert.equal(stats("alpha")?.bitrate, 1_000_000);

  clock += 500;
  stream.info.bytes += 1_000_000;
  assert.equal(stats("alpha")?.bitrate, 1_000_000, "a window under 1 s keeps the last rate");

  clock += 500;
  assert.equal(stats("alpha")?.bitrate, 8_000_000, "1 MB in the last second");

  hub.close(stream, "test");
  assert.equal(stats("alpha"), undefined);
});
