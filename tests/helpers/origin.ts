/**
 * Starts an in-process origin for tests on random ports with a temporary MEDIA_ROOT, and
 * records what its hub receives so tests can assert on real frames.
 */
import type { HubMessage } from "@cascade/media/frame";
import { configureLogging } from "@cascade/common/log";
import type { OriginConfig } from "../../origin/src/config.ts";
import type { OriginDeps } from "../../origin/src/origin.ts";
import { loadOriginNodeConfig, type OriginNode, startOriginNode } from "../../node/origin_node.ts";

configureLogging({ level: Deno.env.get("LOG_TESTS") === "1" ? "debug" : "warn" });

export interface TestOrigin extends OriginNode, AsyncDisposable {
  config: OriginConfig;
  mediaRoot: string;
  rtmpUrl(key: string): string;
  /** `http://127.0.0.1:PORT` of the origin's HTTP listener. */
  httpUrl: string;
  /** Everything each stream name received, in order (recorded from publish start). */
  received: Map<string, HubMessage[]>;
}

export async function startTestOrigin(
  env: Record<string, string> = {},
  deps: Omit<OriginDeps, "extensions"> = {},
): Promise<TestOrigin> {
  const mediaRoot = await Deno.makeTempDir({ prefix: "cascade-media-" });
  const nodeConfig = loadOriginNodeConfig({
    RTMP_HOST: "127.0.0.1",
    RTMP_PORT: "0",
    ORIGIN_HTTP_HOST: "127.0.0.1",
    ORIGIN_HTTP_PORT: "0",
    MEDIA_ROOT: mediaRoot,
    PUBLISH_AUTH: "static",
    PUBLISH_KEYS: "test_key_1234=alpha,test_key_5678=beta",
    NODE_ID: "test-origin",
    // ffmpeg every few seconds per stream is CPU most tests do not need; theirs turn it on.
    THUMBNAIL_SECONDS: "0",
    ...env,
  });
  const config = nodeConfig.origin;
  const origin = await startOriginNode(nodeConfig, deps);
  const received = new Map<string, HubMessage[]>();
  origin.hub.on(async (e) => {
    if (e.type !== "publish.start") return;
    const list: HubMessage[] = [];
    received.set(e.stream.info.name, list);
    for await (const msg of e.stream.subscribe("test-recorder", 100_000)) list.push(msg);
  });
  return Object.assign(origin, {
    config,
    mediaRoot,
    received,
    httpUrl: `http://127.0.0.1:${origin.httpPort}`,
    rtmpUrl: (key: string) => `rtmp://127.0.0.1:${origin.rtmpPort}/${config.RTMP_APP}/${key}`,
    async [Symbol.asyncDispose]() {
      await origin.close();
      await Deno.remove(mediaRoot, { recursive: true }).catch(() => {});
    },
  });
}
