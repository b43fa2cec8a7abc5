/**
 * The origin announces its streams from memory: the HLS packager's events drive a
 * `StreamAnnouncer`, so the registry hears of a stream the moment its first segment is
 * listed, of every new playlist as it is written (`stream.update` for edges), and of its end
 * at `#EXT-X-ENDLIST` — without reading the origin's own output back from disk. Each claim
 * carries what the stream hub measured of the encoder (codecs, picture size, keyframe
 * interval, frame rate, bit rate) beside the origin's segment duration, so that the API and
 * the dashboard can show an encoder that needs fixing, and where the playlist stands, so that
 * another origin can continue it. A name another origin holds makes this one its hot standby
 * (`standby.ts`). The one read is at start: broadcasts
 * an earlier run kept for VOD (`KEEP_HLS`) are announced again.
 */
import { join } from "node:path";
import type { Logger } from "@cascade/common/log";
import { VOD_PLAYLIST } from "@cascade/media/hls/layout";
import { parsePlaylist } from "@cascade/media/hls/playlist";
import { StreamAnnouncer } from "@cascade/registry/announcer";
import type { Registry, StreamMedia } from "@cascade/registry";
import type { Continuation } from "@cascade/media/hls/segmenter";
import type { LivePlaylist } from "@cascade/media/hls/playlist";
import type { StreamHub, StreamInfo } from "@cascade/stream/hub";
import { STREAM_NAME_RE } from "@cascade/common/config";
import type { PackagerEvents } from "./hls_packager.ts";
import { StandbyWatch } from "./standby.ts";

export interface OriginAnnouncing {
  /** Wire these into the packager. */
  readonly events: PackagerEvents;
  /** Starts refreshing and announces the VODs kept under the media root. */
  start(): Promise<void>;
  /** Releases every claim and VOD record this origin holds. */
  stop(): Promise<void>;
  /** Live names this origin stands by for (another origin holds the claim). */
  standbyStreams(): string[];
}

export function announceFromPackager(opts: {
  registry: Registry;
  originId: string;
  originUrl: () => string;
  mediaRoot: string;
  ttlSeconds: number;
  log: Logger;
  /** The hub the packager reads: its streams' measured figures go into the claims. */
  hub: StreamHub;
  /** `HLS_SEGMENT_SECONDS`, announced beside the figures. */
  segmentSeconds: number;
  /** `HLS_LL`: claims carry the `ll.m3u8` URL too. */
  lowLatency?: boolean;
  /** The packager's takeover: `name`'s playlist continues another origin's. */
  continueFrom(name: string, c: Continuation): Promise<boolean>;
  /** How often a standby reads its primary's claim (`STANDBY_CHECK_MS` by default). */
  standbyCheckMs?: number;
}): OriginAnnouncing {
  const standby: StandbyWatch = new StandbyWatch({
    registry: opts.registry,
    originId: opts.originId,
    log: opts.log,
    continueFrom: opts.continueFrom,
    takeOver: (name, replacing) => announcer.takeOver(name, replacing),
    checkMs: opts.standbyCheckMs,
  });
  const announcer = new StreamAnnouncer({
    registry: opts.registry,
    originId: opts.originId,
    originUrl: opts.originUrl,
    ttlSeconds: opts.ttlSeconds,
    log: opts.log,
    onRefused(name, current) {
      standby.refused(name, current);
      return "standby";
    },
  });
  return {
    events: {
      playlist(name, playlist, at) {
        if (playlist.ended) {
          standby.forget(name);
          return announcer.ended(name, "ended");
        }
        const info = opts.hub.get(name)?.info;
        announcer.live(name, {
          targetDuration: playlist.targetDuration,
          mediaSequence: playlist.mediaSequence,
          ...newestSegment(playlist),
          updatedAt: at,
          ll: opts.lowLatency,
          ...(info === undefined ? {} : encoderFigures(info, opts.segmentSeconds)),
        });
      },
      vod(name, targetDuration, at) {
        announcer.vod(name, { targetDuration, updatedAt: at });
      },
    },
    async start() {
      announcer.start();
      for (const vod of await keptVods(opts.mediaRoot, opts.log)) {
        announcer.vod(vod.name, vod);
      }
    },
    stop: () => {
      standby.stop();
      return announcer.stop();
    },
    standbyStreams: () => announcer.standbyStreams(),
  };
}

/** The newest segment's media and discontinuity sequence numbers; nothing while none is listed. */
function newestSegment(
  p: LivePlaylist,
): { lastSequence?: number; discontinuitySequence?: number } {
  const n = p.segments.length;
  if (n === 0) return {};
  let discontinuities = 0;
  for (const s of p.segments) if (s.discontinuity) discontinuities++;
  return {
    lastSequence: p.mediaSequence + n - 1,
    discontinuitySequence: p.discontinuitySequence + discontinuities,
  };
}

/** What the hub knows of a publisher, as a stream record carries it. */
export function encoderFigures(
  info: StreamInfo,
  segmentSeconds: number,
): { codecs?: string; media: StreamMedia } {
  const avc = info.video?.avc;
  const media: StreamMedia = {
    keyframeInterval: info.stats.keyframeInterval,
    frameRate: info.stats.frameRate,
    width: avc?.width ?? null,
    height: avc?.height ?? null,
    bitrate: info.stats.bitrate,
    segmentSeconds,
  };
  return info.codecs.length > 0 ? { codecs: info.codecs.join(","), media } : { media };
}

/** The `vod.m3u8` files under `mediaRoot`, with their target duration and mtime. */
async function keptVods(
  mediaRoot: string,
  log: Logger,
): Promise<{ name: string; targetDuration: number; updatedAt: number }[]> {
  const found = [];
  try {
    for await (const entry of Deno.readDir(mediaRoot)) {
      if (!entry.isDirectory || !STREAM_NAME_RE.test(entry.name)) continue;
      const path = join(mediaRoot, entry.name, VOD_PLAYLIST);
      try {
        const [text, info] = await Promise.all([Deno.readTextFile(path), Deno.stat(path)]);
        found.push({
          name: entry.name,
          targetDuration: parsePlaylist(text).targetDuration,
          updatedAt: info.mtime?.getTime() ?? Date.now(),
        });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) {
          log.warn("announce.vod_unreadable", { name: entry.name, error: err });
        }
      }
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) log.warn("announce.scan_failed", { error: err });
  }
  return found;
}
