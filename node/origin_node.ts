/**
 * The origin as operators run it, composed from its services: the origin role, recording,
 * thumbnails and the transcoder beside its packager on the same hub, and the broadcast page on
 * its HTTP port. `origin/main.ts`, the all-in-one node, the benchmark and the tests start
 * origins through here, so they all run the same assembly.
 */
import { loadConfig } from "@cascade/common/config";
import { type RecordingConfig, recordingConfigSchema } from "@cascade/recording/config";
import { type RecordingService, startRecording } from "@cascade/recording";
import { type ThumbnailConfig, thumbnailConfigSchema, Thumbnails } from "@cascade/thumbnails";
import { startTranscoder, type Transcoder } from "@cascade/transcoder";
import * as v from "valibot";
import {
  localTranscodeShape,
  type TranscoderConfig,
  transcoderConfigShape,
} from "@cascade/transcoder/config";
import { BROADCAST_PATH, broadcastRoutes } from "../web/broadcast_routes.ts";
import { type OriginConfig, originConfigSchema } from "../origin/src/config.ts";
import {
  type Origin,
  type OriginDeps,
  type OriginExtensionFactory,
  startOrigin,
} from "../origin/src/origin.ts";

export interface OriginNodeConfig {
  origin: OriginConfig;
  recording: RecordingConfig;
  thumbnails: ThumbnailConfig;
  transcoder: TranscoderConfig & { TRANSCODE_LOCAL: boolean };
}

const originTranscoderSchema = v.object({ ...transcoderConfigShape, ...localTranscodeShape });

/** Both configs from one environment; throws `ConfigError` naming the first bad variable. */
export function loadOriginNodeConfig(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): OriginNodeConfig {
  return {
    origin: loadConfig(originConfigSchema, env),
    recording: loadConfig(recordingConfigSchema, env),
    thumbnails: loadConfig(thumbnailConfigSchema, env),
    transcoder: loadConfig(originTranscoderSchema, env),
  };
}

export interface OriginNode extends Origin {
  /** Recorder, retention, archive, and `list(name)` for the recordings API. */
  readonly recording: RecordingService;
  /** Renditions of the broadcasts (`TRANSCODE_PROFILE`); `available` false without ffmpeg. */
  readonly transcoder: Transcoder;
}

/** Recording on the origin's hub, its files served under `/recordings`. */
function recordingExtension(
  config: RecordingConfig,
  onStart: (r: RecordingService) => void,
): OriginExtensionFactory {
  return async (ctx) => {
    const recording = await startRecording(config, {
      hub: ctx.hub,
      log: ctx.log,
      metrics: ctx.metrics,
      registry: ctx.registry,
      publicUrl: ctx.publicUrl,
      corsOrigin: ctx.config.CORS_ORIGIN,
      listToken: ctx.config.HOOK_TOKEN,
    });
    onStart(recording);
    return { routes: { path: "/recordings", app: recording.app }, close: () => recording.close() };
  };
}

/** Thumbnails of the live streams at `/live/{name}/thumb.jpg`. */
function thumbnailExtension(config: ThumbnailConfig): OriginExtensionFactory {
  return (ctx) => {
    const thumbnails = new Thumbnails(config, { hub: ctx.hub, log: ctx.log, metrics: ctx.metrics });
    return Promise.resolve({
      liveFile: (name, file, request) => thumbnails.liveFile(name, file, request),
      start: () => Promise.resolve(thumbnails.start()),
      close: () => thumbnails.close(),
    });
  };
}

/**
 * The adaptive-bitrate ladder: renditions of each broadcast on the same hub. With
 * `TRANSCODE_LOCAL=false` the transcoder runs with the empty ladder and reads no stream
 * configs: the transcoder role makes the renditions and pushes them in.
 */
function transcoderExtension(
  config: OriginNodeConfig["transcoder"],
  onStart: (t: Transcoder) => void,
): OriginExtensionFactory {
  return async (ctx) => {
    const local = config.TRANSCODE_LOCAL;
    if (!local) {
      ctx.log.info("transcode.remote", { effect: "renditions come from deno task transcoder" });
    }
    const transcoder = await startTranscoder(
      local ? config : { ...config, TRANSCODE_PROFILE: "none" },
      {
        hub: ctx.hub,
        log: ctx.log,
        metrics: ctx.metrics,
        registry: local ? ctx.registry : undefined,
      },
    );
    onStart(transcoder);
    return { close: () => transcoder.close() };
  };
}

/** `/broadcast`, the page that publishes to this origin's ingest WebSocket from a browser. */
const broadcastExtension: OriginExtensionFactory = () =>
  Promise.resolve({
    routes: { path: BROADCAST_PATH, app: broadcastRoutes() },
    close: () => Promise.resolve(),
  });

/** Starts the origin with recording, the transcoder, thumbnails and the broadcast page. */
export async function startOriginNode(
  config: OriginNodeConfig,
  deps: Omit<OriginDeps, "extensions"> = {},
): Promise<OriginNode> {
  let recording: RecordingService | undefined;
  let transcoder: Transcoder | undefined;
  const extensions = [
    recordingExtension(config.recording, (r) => recording = r),
    transcoderExtension(config.transcoder, (t) => transcoder = t),
    broadcastExtension,
    thumbnailExtension(config.thumbnails),
  ];
  const origin = await startOrigin(config.origin, { ...deps, extensions });
  return Object.assign(origin, { recording: recording!, transcoder: transcoder! });
}
