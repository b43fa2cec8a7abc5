/**
 * The origin role assembled from its parts: stream hub, publish authorizer, RTMP listener,
 * browser ingest and the internal feed for a transcoder role (WebSockets on the HTTP
 * listener), HLS packager and HTTP delivery. `startOrigin` is what `origin/main.ts`, the
 * all-in-one node and the tests call; it takes the parsed config and returns a handle to stop it.
 * What runs beside the packager on the same hub (recording) is plugged in by the composition
 * root as an `OriginExtension`, so the origin imports no other service. With a registry, the
 * origin announces its streams from the packager's events (`announce.ts`).
 */
import { nodeId } from "@cascade/common/config";
import { log as rootLog, type Logger } from "@cascade/common/log";
import type { PublishAuthorizer } from "@cascade/common/publish_auth";
import {
  ApiAuthorizer,
  OpenAuthorizer,
  parsePublishKeys,
  refuseRenditionNames,
  StaticAuthorizer,
} from "./auth.ts";
import type { OriginConfig } from "./config.ts";
import { StreamHub } from "@cascade/stream/hub";
import { RtmpServer } from "./rtmp_server.ts";
import { HlsPackager } from "./hls_packager.ts";
import { LlPackager } from "./ll_packager.ts";
import { llHlsRoutes } from "./ll_http.ts";
import { createOriginApp } from "./http.ts";
import { originMasterPlaylist } from "./master.ts";
import { LL_PLAYLIST } from "@cascade/media/hls/layout";
import type { Hono } from "hono";
import { MetricsRegistry } from "@cascade/common/metrics";
import { processUsageSampler } from "@cascade/common/process_usage";
import { budgetOf, openFileLimit, shareOfDescriptors } from "@cascade/common/conn_budget";
import {
  fetchHandler,
  httpLimits,
  type HttpServer,
  serveHttp,
  type UpgradeHandler,
  upgradeRoutes,
} from "@cascade/common/http_server";
import {
  type Heartbeat,
  MAX_STANDBY_NAMES,
  type Registry,
  type Unsubscribe,
} from "@cascade/registry";
import { dvrListSize } from "./config.ts";
import { announceFromPackager, type OriginAnnouncing } from "./announce.ts";
import { refuseWhenLiveElsewhere } from "./standby.ts";
import { WS_INGEST_PATH, WsIngest } from "./ws_ingest.ts";
import { INTERNAL_PATH, InternalFeed } from "./internal_feed.ts";
import { opusTranscoders } from "./opus_transcoder.ts";

/** Default shares of the descriptors left after the reserve: RTMP publishers, HTTP viewers. */
const RTMP_SHARE = 0.25;
const HTTP_SHARE = 0.75;

export interface OriginDeps {
  log?: Logger;
  /** Overrides the authorizer chosen by `PUBLISH_AUTH` (the all-in-one node passes its API). */
  auth?: PublishAuthorizer;
  metrics?: MetricsRegistry;
  /** The registry to announce this node and its streams in, and to take kicks from. */
  registry?: Registry;
  /** Serve HTTP on `ORIGIN_HTTP_PORT` (default true; the all-in-one node mounts the app itself). */
  listenHttp?: boolean;
  /** Shares of the descriptor limit for unset RTMP and HTTP budgets (default 1/4 and 3/4). */
  rtmpShare?: number;
  httpShare?: number;
  /** Started in order once the hub exists; closed after the RTMP server has stopped. */
  extensions?: readonly OriginExtensionFactory[];
}

/** What an extension gets from the origin it runs in. */
export interface OriginContext {
  readonly id: string;
  readonly config: OriginConfig;
  readonly hub: StreamHub;
  readonly log: Logger;
  readonly metrics: MetricsRegistry;
  readonly registry: Registry | undefined;
  /** The origin's public base URL, without a trailing slash; known once `start()` runs. */
  publicUrl(): string;
}

/** Something that runs beside the packager on the origin's hub (recording, discovery). */
export interface OriginExtension {
  /** Routes mounted on the origin's HTTP app under `path`, e.g. `/recordings`. */
  readonly routes?: { path: string; app: Hono };
  /** Files it answers under `/live/{name}/` beside the HLS ones (`OriginHttpDeps.liveFile`). */
  readonly liveFile?: (
    name: string,
    file: string,
    request: Request,
  ) => Response | Promise<Response> | undefined;
  /** Called once the origin listens and its public URL is known. */
  start?(): Promise<void>;
  /** Called after the RTMP server has stopped, so every broadcast has ended. */
  close(): Promise<void>;
}

export type OriginExtensionFactory = (ctx: OriginContext) => Promise<OriginExtension>;

export interface Origin {
  readonly id: string;
  readonly hub: StreamHub;
  readonly rtmp: RtmpServer;
  readonly rtmpPort: number;
  /** Browser publishers over WebSocket (`/ingest/ws`). */
  readonly wsIngest: WsIngest;
  /** HTTP upgrades the origin takes (`/ingest/ws`), for a listener that is not its own. */
  readonly upgrade: UpgradeHandler;
  readonly packager: HlsPackager;
  /** The Low-Latency HLS packager; absent with `HLS_LL=false`. */
  readonly llPackager: LlPackager | undefined;
  readonly metrics: MetricsRegistry;
  /** The HTTP app (`/live/…`, the extensions' routes, `/healthz`, `/metrics`). */
  readonly app: ReturnType<typeof createOriginApp>;
  /** Port of the HTTP listener, when listening. */
  readonly httpPort: number | undefined;
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

/** `NODE_ID`, else hostname and HTTP port (the default a discovery process beside it uses). */
export function originId(config: OriginConfig): string {
  return nodeId(config.NODE_ID, config.ORIGIN_HTTP_PORT);
}

export async function startOrigin(config: OriginConfig, deps: OriginDeps = {}): Promise<Origin> {
  const id = originId(config);
  const log = (deps.log ?? rootLog).child({ role: "origin" });
  const metrics = deps.metrics ?? new MetricsRegistry();
  const hub = new StreamHub(log, metrics, config.RTMP_TAKEOVER_IDLE_SECONDS * 1000);
  const chosen = deps.auth ?? createAuthorizer(config, log);
  const auth = refuseRenditionNames(
    deps.registry && !config.ORIGIN_STANDBY
      ? refuseWhenLiveElsewhere(chosen, deps.registry, id)
      : chosen,
  );
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
    budget: budgetOf(
      config.RTMP_MAX_CONNECTIONS ??
        shareOfDescriptors(openFileLimit() ?? 1024, deps.rtmpShare ?? RTMP_SHARE),
      {
        perAddress: config.RTMP_MAX_CONNECTIONS_PER_ADDRESS,
        pending: config.RTMP_MAX_PENDING_CONNECTIONS,
      },
    ),
    maxMessageSize: config.RTMP_MAX_MESSAGE_BYTES,
    maxPendingMessageSize: config.RTMP_MAX_PENDING_MESSAGE_BYTES,
    maxBufferedBytes: config.RTMP_MAX_BUFFERED_MB * 1024 * 1024,
    handshakeTimeoutMs: config.RTMP_HANDSHAKE_TIMEOUT_SECONDS * 1000,
    idleTimeoutMs: config.RTMP_IDLE_TIMEOUT_SECONDS * 1000,
  });
  const wsIngest = new WsIngest({
    app: config.RTMP_APP,
    originId: id,
    hub,
    auth,
    log,
    maxMessageBytes: config.WS_INGEST_MAX_MESSAGE_BYTES,
    maxFps: config.WS_INGEST_MAX_FPS,
    maxKbps: config.WS_INGEST_MAX_KBPS,
    authTimeoutMs: config.WS_INGEST_AUTH_TIMEOUT_SECONDS * 1000,
    idleTimeoutMs: config.WS_INGEST_IDLE_TIMEOUT_SECONDS * 1000,
    opusTranscoder: opusTranscoders(config.WS_INGEST_FFMPEG, log),
  });
  // A transcoder role pulls sources and pushes renditions here ("Adaptive bitrate").
  const internal = new InternalFeed({
    hub,
    log,
    token: config.HOOK_TOKEN,
    maxMessageBytes: config.RTMP_MAX_MESSAGE_BYTES,
  });
  const upgrade = upgradeRoutes({
    [WS_INGEST_PATH]: wsIngest.upgrade,
    [INTERNAL_PATH]: internal.upgrade,
  });
  log.info("ws_ingest.ready", {
    path: WS_INGEST_PATH,
    maxMessageBytes: config.WS_INGEST_MAX_MESSAGE_BYTES,
    maxFps: config.WS_INGEST_MAX_FPS,
    maxKbps: config.WS_INGEST_MAX_KBPS,
    authTimeoutSeconds: config.WS_INGEST_AUTH_TIMEOUT_SECONDS,
    idleTimeoutSeconds: config.WS_INGEST_IDLE_TIMEOUT_SECONDS,
    ffmpeg: config.WS_INGEST_FFMPEG,
  });
  log.info("rtmp.listening", {
    url: `rtmp://${config.RTMP_HOST}:${rtmp.port}/${config.RTMP_APP}`,
    ...rtmp.budget,
    fileLimit: openFileLimit(),
    idleTimeoutSeconds: config.RTMP_IDLE_TIMEOUT_SECONDS,
    takeoverIdleSeconds: config.RTMP_TAKEOVER_IDLE_SECONDS,
  });
  registerIngestMetrics(metrics, hub, rtmp, wsIngest);
  let publicUrl = "";
  const announcing: OriginAnnouncing | undefined = deps.registry
    ? announceFromPackager({
      registry: deps.registry,
      originId: id,
      originUrl: () => publicUrl,
      mediaRoot: config.MEDIA_ROOT,
      ttlSeconds: config.STREAM_TTL_SECONDS,
      log,
      hub,
      segmentSeconds: config.HLS_SEGMENT_SECONDS,
      lowLatency: config.HLS_LL,
      continueFrom: (name, c): Promise<boolean> => packager.continueFrom(name, c),
    })
    : undefined;
  const packager = new HlsPackager(hub, {
    events: announcing?.events,
    mediaRoot: config.MEDIA_ROOT,
    segmentSeconds: config.HLS_SEGMENT_SECONDS,
    listSize: dvrListSize(config.HLS_LIST_SIZE, config.HLS_SEGMENT_SECONDS, config.HLS_DVR_SECONDS),
    maxTargetSeconds: config.HLS_MAX_TARGET_SECONDS,
    keepSegments: config.KEEP_HLS,
    republishGraceSeconds: config.REPUBLISH_GRACE_SECONDS,
    log,
    metrics,
  });
  const llPackager = config.HLS_LL
    ? new LlPackager(hub, {
      mediaRoot: config.MEDIA_ROOT,
      segmentSeconds: config.HLS_SEGMENT_SECONDS,
      listSize: dvrListSize(
        config.HLS_LIST_SIZE,
        config.HLS_SEGMENT_SECONDS,
        config.HLS_DVR_SECONDS,
      ),
      maxTargetSeconds: config.HLS_MAX_TARGET_SECONDS,
      partSeconds: config.HLS_PART_SECONDS,
      maxWaiters: config.HLS_LL_MAX_WAITERS,
      keepSegments: config.KEEP_HLS,
      republishGraceSeconds: config.REPUBLISH_GRACE_SECONDS,
      log,
      metrics,
    })
    : undefined;
  const extensions: OriginExtension[] = [];
  const app = createOriginApp({
    id,
    mediaRoot: config.MEDIA_ROOT,
    corsOrigin: config.CORS_ORIGIN,
    // At most half a target duration (target = ceil(segment) + 1), in whole seconds.
    playlistMaxAgeSeconds: Math.floor((Math.ceil(config.HLS_SEGMENT_SECONDS) + 1) / 2),
    metrics,
    livePlaylist: (name) => packager.livePlaylist(name),
    liveFile: (name, file, request) => {
      for (const ext of extensions) {
        const answered = ext.liveFile?.(name, file, request);
        if (answered !== undefined) return answered;
      }
      return undefined;
    },
    masterPlaylist: (name) =>
      originMasterPlaylist(hub, name, (n) => packager.livePlaylist(n) !== undefined),
    ...(llPackager
      ? {
        llHls: llHlsRoutes({
          mediaRoot: config.MEDIA_ROOT,
          source: (name) => llPackager.source(name),
          renditionReports: (name) => llPackager.renditionReports(name),
          masterPlaylist: (name) =>
            originMasterPlaylist(
              hub,
              name,
              (n) => llPackager.source(n) !== undefined,
              LL_PLAYLIST,
            ),
        }),
      }
      : {}),
  });
  const context: OriginContext = {
    id,
    config,
    hub,
    log,
    metrics,
    registry: deps.registry,
    publicUrl: () => publicUrl,
  };
  for (const factory of deps.extensions ?? []) extensions.push(await factory(context));
  for (const ext of extensions) if (ext.routes) app.route(ext.routes.path, ext.routes.app);
  let server: HttpServer | undefined;
  if (deps.listenHttp ?? true) {
    server = await serveHttp({
      hostname: config.ORIGIN_HTTP_HOST,
      port: config.ORIGIN_HTTP_PORT,
      handler: fetchHandler(app.fetch, log),
      upgrade,
      limits: httpLimits(config, deps.httpShare ?? HTTP_SHARE),
      log,
    });
  }
  publicUrl = (config.ORIGIN_PUBLIC_URL ??
    `http://127.0.0.1:${server?.port ?? config.ORIGIN_HTTP_PORT}`).replace(/\/+$/, "");
  const registered = deps.registry
    ? await joinRegistry(
      deps.registry,
      config,
      id,
      publicUrl,
      hub,
      rtmp,
      (name, description) => rtmp.kick(name, description) || wsIngest.kick(name, description),
      log,
      () => announcing?.standbyStreams() ?? [],
    )
    : undefined;
  await announcing?.start();
  for (const ext of extensions) await ext.start?.();
  return {
    id,
    hub,
    rtmp,
    rtmpPort: rtmp.port,
    wsIngest,
    upgrade,
    packager,
    llPackager,
    metrics,
    app,
    httpPort: server?.port,
    async close() {
      await Promise.all([rtmp.close(), wsIngest.close(), internal.close()]);
      // Playlists end (`#EXT-X-ENDLIST`) before the extensions see the streams go.
      await Promise.all([packager.close(), llPackager?.close()]);
      await Promise.all(extensions.map((e) => e.close()));
      await announcing?.stop();
      await registered?.close();
      await server?.close();
    },
  };
}

/** The node record's `standby` names: absent when none, at most `MAX_STANDBY_NAMES`. */
function standbyField(names: string[]): { standby?: string[] } {
  return names.length === 0 ? {} : { standby: names.slice(0, MAX_STANDBY_NAMES) };
}

/** Publishers, and per-stream ingest bit rate and frames, computed when scraped. */
function registerIngestMetrics(
  metrics: MetricsRegistry,
  hub: StreamHub,
  rtmp: RtmpServer,
  wsIngest: WsIngest,
): void {
  metrics.gauge("cascade_rtmp_connections", "Open RTMP connections").collect(() =>
    rtmp.connections
  );
  metrics.gauge("cascade_ws_ingest_connections", "Open browser ingest WebSockets").collect(() =>
    wsIngest.connections
  );
  metrics.gauge("cascade_publishers", "Live publishers on this origin").collect(() => hub.size);
  const last = new Map<string, { at: number; bytes: number }>();
  metrics.gauge("cascade_ingest_bits_per_second", "Ingest bit rate per stream", ["stream"])
    .collect((g) => {
      g.reset();
      const now = performance.now();
      for (const s of hub.streams()) {
        const prev = last.get(s.info.name);
        const bytes = s.info.bytes;
        const rate = prev && now > prev.at ? ((bytes - prev.bytes) * 8000) / (now - prev.at) : 0;
        g.labels(s.info.name).set(Math.max(0, Math.round(rate)));
        last.set(s.info.name, { at: now, bytes });
      }
      for (const name of last.keys()) if (!hub.get(name)) last.delete(name);
    });
  metrics.gauge("cascade_ingest_frames", "Frames received per live stream", ["stream"])
    .collect((g) => {
      g.reset();
      for (const s of hub.streams()) g.labels(s.info.name).set(s.info.frames);
    });
}

/**
 * Announces this origin (heartbeat with its ingest URL, load, CPU and memory) and obeys `stream.kick`
 * for streams published here.
 */
async function joinRegistry(
  registry: Registry,
  config: OriginConfig,
  id: string,
  url: string,
  hub: StreamHub,
  rtmp: RtmpServer,
  kick: (name: string, description: string) => boolean,
  log: Logger,
  standby: () => string[],
): Promise<{ close(): Promise<void> }> {
  const startedAt = Date.now();
  const rtmpUrl = config.RTMP_PUBLIC_URL ??
    `rtmp://${new URL(url).hostname}:${rtmp.port}/${config.RTMP_APP}`;
  const usage = processUsageSampler();
  const heartbeat: Heartbeat = registry.startHeartbeat(() => ({
    id,
    kind: "origin",
    url,
    rtmpUrl,
    region: config.REGION,
    load: hub.size,
    startedAt,
    ...standbyField(standby()),
    ...usage(),
  }));
  // Kicks arrive as registry events; a subscription lost to an outage is renewed on reconnect.
  let unsubscribe: Unsubscribe | undefined;
  const subscribeKicks = async () => {
    if (unsubscribe) return;
    try {
      unsubscribe = await registry.subscribe((event) => {
        if (event.type !== "stream.kick" || !hub.get(event.name)) return;
        if (event.originId && event.originId !== id) return;
        log.info("publish.kicked", { stream: event.name });
        kick(event.name, "Stream disabled by an operator");
      });
    } catch (err) {
      log.warn("registry.subscribe_failed", { error: (err as Error).message });
    }
  };
  const offReconnect = registry.onReconnect(() => void subscribeKicks());
  await subscribeKicks();
  return {
    async close() {
      offReconnect();
      unsubscribe?.();
      await heartbeat.stop();
    },
  };
}
