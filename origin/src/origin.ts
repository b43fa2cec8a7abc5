/**
 * The origin role assembled from its parts: stream hub, publish authorizer, RTMP listener,
 * HLS packager and HTTP delivery. `startOrigin` is what `origin/main.ts`, the all-in-one
 * node and the tests call; it takes the parsed config and returns a handle to stop it.
 */
import { log as rootLog, type Logger } from "@cascade/common/log";
import {
  ApiAuthorizer,
  OpenAuthorizer,
  parsePublishKeys,
  type PublishAuthorizer,
  StaticAuthorizer,
} from "./auth.ts";
import type { OriginConfig } from "./config.ts";
import { StreamHub } from "./hub.ts";
import { RtmpServer } from "./rtmp_server.ts";

export interface OriginDeps {
  log?: Logger;
  /** Overrides the authorizer chosen by `PUBLISH_AUTH` (the all-in-one node passes its API). */
  auth?: PublishAuthorizer;
}

export interface Origin {
  readonly id: string;
  readonly hub: StreamHub;
  readonly rtmp: RtmpServer;
  readonly rtmpPort: number;
  close(): Promise<void>;
}

export function createAuthorizer(config: OriginConfig, log: Logger): PublishAuthorizer {
  switch (config.PUBLISH_AUTH) {
    case "static":
      return new StaticAuthorizer(parsePublishKeys(config.PUBLISH_KEYS));
    case "open":
      log.warn("publish_auth.open", {
        warning: "PUBLISH_AUTH=open: ANYONE can publish under any name. Development only!",
      });
      return new OpenAuthorizer();
    case "api":
      return new ApiAuthorizer(config.API_URL, config.HOOK_TOKEN);
  }
}

export function originId(config: OriginConfig): string {
  return config.NODE_ID ?? `${Deno.hostname()}:${config.RTMP_PORT}`;
}

export function startOrigin(config: OriginConfig, deps: OriginDeps = {}): Origin {
  const id = originId(config);
  const log = (deps.log ?? rootLog).child({ role: "origin" });
  const hub = new StreamHub(log);
  const auth = deps.auth ?? createAuthorizer(config, log);
  hub.on((e) => {
    const info = e.stream.info;
    if (e.type === "publish.start") {
      log.info("publish.start", { stream: info.name, client: info.clientIp });
    } else {
      log.info("publish.stop", {
        stream: info.name,
        client: info.clientIp,
        codecs: info.codecs.join(","),
        seconds: Math.round((Date.now() - info.startedAt.getTime()) / 1000),
        frames: info.frames,
        reason: e.reason,
      });
    }
  });
  const rtmp = new RtmpServer({
    hostname: config.RTMP_HOST,
    port: config.RTMP_PORT,
    app: config.RTMP_APP,
    originId: id,
    hub,
    auth,
    log,
    maxConnections: config.RTMP_MAX_CONNECTIONS,
    maxMessageSize: config.RTMP_MAX_MESSAGE_BYTES,
    handshakeTimeoutMs: config.RTMP_HANDSHAKE_TIMEOUT_SECONDS * 1000,
    idleTimeoutMs: config.RTMP_IDLE_TIMEOUT_SECONDS * 1000,
  });
  log.info("rtmp.listening", { url: `rtmp://${config.RTMP_HOST}:${rtmp.port}/${config.RTMP_APP}` });
  return {
    id,
    hub,
    rtmp,
    rtmpPort: rtmp.port,
    async close() {
      await rtmp.close();
    },
  };
}
