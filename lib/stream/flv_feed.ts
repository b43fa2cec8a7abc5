/**
 * A hub stream as FLV, and FLV back into hub messages, for moving a stream between processes
 * over a message channel (the origin's internal feed and rendition WebSockets and the
 * transcoder role, docs/architecture.md "Adaptive bitrate"). `flvFeed` turns a subscription
 * into FLV chunks, one per tag: the file header, the configs as sequence headers, then frames
 * from the next video keyframe, so the far end starts decodable wherever it joined.
 * `FlvHubReader` takes FLV in chunks of any size and hands back configs and frames.
 */
import { FlvDemuxer } from "@cascade/media/flv";
import { flvHeader, FlvStreamReader, flvTag } from "@cascade/media/flv_stream";
import type { HubMessage } from "@cascade/media/frame";

const TAG_AUDIO = 8;
const TAG_VIDEO = 9;

/**
 * The FLV of `messages`: the header first, then each config as it comes, then the frames from
 * the first video keyframe on (from the first frame for a stream without video). The tag time
 * is a frame's dts, in ms.
 */
export async function* flvFeed(messages: AsyncIterable<HubMessage>): AsyncGenerator<Uint8Array> {
  yield flvHeader();
  let hasVideo = false;
  let started = false;
  for await (const msg of messages) {
    if (msg.type === "config") {
      if (msg.track.kind === "video") hasVideo = true;
      yield flvTag(msg, 0);
      continue;
    }
    const f = msg.frame;
    if (!started) {
      if (hasVideo && !(f.kind === "video" && f.keyframe)) continue;
      started = true;
    }
    yield flvTag(msg, f.dts);
  }
}

/**
 * Reads FLV fed in chunks of any size into hub messages. Throws `SyntaxError` on bytes that
 * are not FLV and `UnsupportedCodecError` on codecs the hub does not carry.
 */
export class FlvHubReader {
  readonly #reader = new FlvStreamReader();
  readonly #demuxer = new FlvDemuxer();

  push(chunk: Uint8Array): HubMessage[] {
    const out: HubMessage[] = [];
    for (const tag of this.#reader.push(chunk)) {
      const msg = tag.type === TAG_VIDEO
        ? this.#demuxer.video(tag.timestamp, tag.body)
        : tag.type === TAG_AUDIO
        ? this.#demuxer.audio(tag.timestamp, tag.body)
        : null;
      if (msg !== null) out.push(msg);
    }
    return out;
  }
}
