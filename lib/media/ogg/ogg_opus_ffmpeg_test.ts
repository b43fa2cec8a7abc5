/**
 * The Ogg writer against ffmpeg: real Opus packets (ffmpeg's libopus, read back with the
 * test Ogg reader) rewritten one packet per page with `opusHead`, `opusTags` and granule
 * positions from `opusPacketSamples`; ffprobe must read the result's duration and ffmpeg
 * decode it without a word.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { OGG_FLAGS, writeOggPage } from "./page.ts";
import { opusHead, opusPacketSamples, opusTags } from "./opus.ts";
import { concatBytes } from "../bytes.ts";
import { decodeErrors, probeJson } from "../../../tests/helpers/decode.ts";
import { opusPackets } from "../../../tests/helpers/media.ts";

Deno.test("an Ogg Opus stream written page by page is read and decoded by ffmpeg", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-ogg-" });
  try {
    const packets = await opusPackets(3, 2);
    assert.ok(packets.length >= 140, `packets: ${packets.length}`);
    const serial = 0x5eed;
    const pages = [
      writeOggPage({
        flags: OGG_FLAGS.BOS,
        granulePosition: 0n,
        serial,
        sequence: 0,
        packets: [opusHead(2, 48000)],
      }),
      writeOggPage({
        flags: 0,
        granulePosition: 0n,
        serial,
        sequence: 1,
        packets: [opusTags("cascade")],
      }),
    ];
    let granule = 0n;
    for (const [i, packet] of packets.entries()) {
      granule += BigInt(opusPacketSamples(packet));
      const flags = i === packets.length - 1 ? OGG_FLAGS.EOS : 0;
      pages.push(
        writeOggPage({
          flags,
          granulePosition: granule,
          serial,
          sequence: i + 2,
          packets: [packet],
        }),
      );
    }
    const written = join(dir, "written.ogg");
    await Deno.writeFile(written, concatBytes(pages));
    const info = await probeJson(written, "-show_streams", "-show_format") as {
      streams: { codec_name: string; channels: number }[];
      format: { duration: string };
    };
    assert.equal(info.streams[0]?.codec_name, "opus");
    assert.equal(info.streams[0]?.channels, 2);
    const seconds = Number(info.format.duration);
    assert.ok(Math.abs(seconds - Number(granule) / 48000) < 0.05, `duration ${seconds}`);
    assert.equal(await decodeErrors(written), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
