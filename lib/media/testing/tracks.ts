/**
 * Track configs for tests that feed a hub by hand (the recorder's, the hub's own): an
 * H.264 config whose level can change, to provoke a codec change, and a 44.1 kHz stereo
 * AAC-LC config. Their `record` bytes are just enough for the MP4 muxer's sample entries;
 * nothing decodes them.
 */
import type { AacConfig, AvcConfig, TrackConfig } from "../frame.ts";

/** H.264 High profile at `level` (e.g. `0x1f` for 3.1), 320×240. */
export function avcTrack(level: number): TrackConfig {
  return {
    kind: "video",
    codec: "h264",
    avc: {
      profile: 0x64,
      compatibility: 0,
      level,
      nalLengthSize: 4,
      sps: [],
      pps: [],
      record: new Uint8Array([1, 0x64, 0, level, 0xff, 0xe0, 0]),
      width: 320,
      height: 240,
    } satisfies AvcConfig,
  };
}

/** AAC-LC, 44.1 kHz, stereo. */
export const aacTrack: TrackConfig = {
  kind: "audio",
  codec: "aac",
  aac: {
    objectType: 2,
    sampleRateIndex: 4,
    sampleRate: 44100,
    channelConfig: 2,
    record: new Uint8Array([0x12, 0x10]),
  } satisfies AacConfig,
};
