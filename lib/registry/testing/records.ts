/**
 * Registry records for tests: a complete `StreamRecord` or `VodRecord` from a name and an
 * origin id (and the encoder figures a record may carry), with fixed times so that assertions can name them. The origin's URL defaults to
 * `http://{originId}.test:8081`; give `originUrl` (a fake or real origin's address) and the
 * manifest follows it. Test support only: imported by relative path, not exported by the
 * package.
 */
import type { StreamMedia, StreamRecord, VodRecord } from "../types.ts";

/** A live stream of `name` on `originId`; `extra` overrides any field. */
export function streamRecord(
  name: string,
  originId = "origin-1",
  extra: Partial<StreamRecord> = {},
): StreamRecord {
  const originUrl = extra.originUrl ?? `http://${originId}.test:8081`;
  return {
    name,
    originId,
    originUrl,
    manifest: `${originUrl}/live/${name}/index.m3u8`,
    startedAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_500,
    targetDuration: 2,
    mediaSequence: 7,
    ...extra,
  };
}

/** Figures of a 720p30 stream with 2 s keyframes on 2 s segments; `extra` overrides any. */
export function streamMedia(extra: Partial<StreamMedia> = {}): StreamMedia {
  return {
    keyframeInterval: 2,
    frameRate: 30,
    width: 1280,
    height: 720,
    bitrate: 2_500_000,
    segmentSeconds: 2,
    ...extra,
  };
}

/** The finished broadcast of `name` kept on `originId`; `extra` overrides any field. */
export function vodRecord(
  name: string,
  originId = "origin-1",
  extra: Partial<VodRecord> = {},
): VodRecord {
  const originUrl = extra.originUrl ?? `http://${originId}.test:8081`;
  return {
    name,
    originId,
    originUrl,
    manifest: `${originUrl}/live/${name}/vod.m3u8`,
    updatedAt: 1_700_000_100_000,
    targetDuration: 2,
    ...extra,
  };
}
