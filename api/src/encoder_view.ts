/**
 * A live stream's encoder figures and warnings as the API shows them, in the live directory
 * and in a stream's admin view alike: read from the origin's registry record
 * (docs/architecture.md, "Registry"), null where the record does not say.
 */
import { encoderWarnings, type StreamWarning } from "@cascade/registry/encoder_warnings";
import type { StreamRecord } from "@cascade/registry/types";

export interface EncoderView {
  keyframeInterval: number | null;
  frameRate: number | null;
  codecs: string | null;
  width: number | null;
  height: number | null;
  bitrate: number | null;
  warnings: StreamWarning[];
}

/** The figures of `live`, or all null (and no warning) when the stream is not live. */
export function encoderView(live: StreamRecord | null): EncoderView {
  const media = live?.media;
  return {
    keyframeInterval: media?.keyframeInterval ?? null,
    frameRate: media?.frameRate ?? null,
    codecs: live?.codecs ?? null,
    width: media?.width ?? null,
    height: media?.height ?? null,
    bitrate: media?.bitrate ?? null,
    warnings: encoderWarnings(media),
  };
}
