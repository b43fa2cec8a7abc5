import assert from "node:assert/strict";
import { aacLcConfig } from "./aac.ts";
import { concatBytes } from "./bytes.ts";
import { FlvDemuxer, flvFileTags } from "./flv.ts";
import { flvHeader, FlvStreamReader, flvTag } from "./flv_stream.ts";
import type { HubMessage } from "./frame.ts";

const aac = aacLcConfig(48000, 2);
const messages: { msg: HubMessage; ts: number }[] = [
  { msg: { type: "config", track: { kind: "audio", codec: "aac", aac } }, ts: 0 },
  {
    msg: {
      type: "frame",
      frame: {
        kind: "audio",
        codec: "aac",
        dts: 20,
        pts: 20,
        keyframe: true,
        data: new Uint8Array([1, 2, 3]),
      },
    },
    ts: 20,
  },
  {
    msg: {
      type: "frame",
      frame: {
        kind: "audio",
        codec: "aac",
        dts: 0x1234567,
        pts: 0x1234567,
        keyframe: true,
        data: new Uint8Array(300).fill(7),
      },
    },
    ts: 0x1234567,
  },
];

function file(): Uint8Array {
  return concatBytes([flvHeader(), ...messages.map((m) => flvTag(m.msg, m.ts))]);
}

Deno.test("flvTag() writes tags flvFileTags() and FlvDemuxer read back", () => {
  const demuxer = new FlvDemuxer();
  const read = [...flvFileTags(file())].map((t) => ({
    ts: t.timestamp,
    msg: demuxer.audio(t.timestamp, t.body),
  }));
  assert.equal(read.length, 3);
  assert.equal(read[0]!.msg?.type, "config");
  assert.equal(read[2]!.ts, 0x1234567);
  const last = read[2]!.msg;
  assert.ok(last?.type === "frame");
  assert.equal(last.frame.data.length, 300);
});

Deno.test("FlvStreamReader.push() returns the same tags whatever the chunking", () => {
  const bytes = file();
  for (const step of [1, 7, 13, bytes.length]) {
    const reader = new FlvStreamReader();
    const tags = [];
    for (let i = 0; i < bytes.length; i += step) {
      tags.push(...reader.push(bytes.subarray(i, i + step)));
    }
    assert.deepEqual(
      tags.map((t) => [t.type, t.timestamp, t.body.length]),
      [...flvFileTags(bytes)].map((t) => [t.type, t.timestamp, t.body.length]),
      `chunks of ${step}`,
    );
  }
});

Deno.test("FlvStreamReader.push() refuses a stream without the FLV signature", () => {
  assert.throws(() => new FlvStreamReader().push(new Uint8Array(16)), SyntaxError);
});
