/**
 * The origin's multivariant playlists, `/live/{name}/master.m3u8` and (LL-HLS)
 * `ll_master.m3u8`, built from the hub at each request: the source first (`index.m3u8`, or
 * `ll.m3u8`), then each live rendition `{name}_{rung}` whose media playlist exists, as
 * `../{name}_{rung}/index.m3u8` or `…/ll.m3u8` (relative, so the same text works through an
 * edge). Bit rates are what the hub measured over its last window (`BANDWIDTH` a
 * quarter above it, for the peaks a window hides), else the rung's nominal rate; a rendition keeps its source's frame rate, so the source's stands in
 * until the rendition's is measured (docs/architecture.md, "Adaptive bitrate").
 */
import { isRendition, renditionName, RUNGS } from "@cascade/common/renditions";
import { masterPlaylist, type Variant } from "@cascade/media/hls/master_playlist";
import { LIVE_PLAYLIST } from "@cascade/media/hls/layout";
import type { LiveStream, StreamHub } from "@cascade/stream/hub";

/** Peak over measured mean, for `BANDWIDTH`. */
const PEAK_FACTOR = 1.25;
/** The audio a rung passes through, when its measured rate is not known yet. */
const NOMINAL_AUDIO_BPS = 128_000;

/**
 * The master playlist of `name`, or undefined when `name` is not a live source here.
 * `ready(name)`: the media playlist of `name` exists, so a player may be sent to it;
 * `playlist`: that media playlist's file name, the same for every rung.
 */
export function originMasterPlaylist(
  hub: StreamHub,
  name: string,
  ready: (name: string) => boolean,
  playlist = LIVE_PLAYLIST,
): string | undefined {
  const source = hub.get(name);
  if (source === undefined || isRendition(name) || !ready(name)) return undefined;
  const variants = [variantOf(source, playlist, undefined, undefined)];
  const frameRate = source.info.stats.frameRate ?? undefined;
  for (const rung of RUNGS) {
    const rendition = renditionName(name, rung);
    const stream = hub.get(rendition);
    if (stream === undefined || !ready(rendition)) continue;
    const uri = `../${rendition}/${playlist}`;
    variants.push(variantOf(stream, uri, rung.videoKbps * 1000, frameRate));
  }
  return masterPlaylist(variants);
}

/** `nominalVideoBps` and `frameRate` stand in until the hub has measured the stream. */
function variantOf(
  stream: LiveStream,
  uri: string,
  nominalVideoBps: number | undefined,
  frameRate: number | undefined,
): Variant {
  const { info } = stream;
  const measured = info.stats.bitrate ?? undefined;
  const mean = measured ?? (nominalVideoBps ?? 0) + NOMINAL_AUDIO_BPS;
  const avc = info.video?.avc;
  return {
    uri,
    bandwidth: mean * PEAK_FACTOR,
    averageBandwidth: mean,
    ...(avc?.width !== undefined && avc.height !== undefined
      ? { width: avc.width, height: avc.height }
      : {}),
    codecs: info.codecs,
    frameRate: info.stats.frameRate ?? frameRate,
  };
}
