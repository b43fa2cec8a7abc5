import assert from "node:assert/strict";
import { masterPlaylist } from "./master_playlist.ts";

Deno.test("masterPlaylist() lists every variant with its attributes, in order", () => {
  const text = masterPlaylist([
    {
      uri: "index.m3u8",
      bandwidth: 3_000_000,
      averageBandwidth: 2_600_000,
      width: 1280,
      height: 720,
      codecs: ["avc1.64001f", "mp4a.40.2"],
      frameRate: 30,
    },
    { uri: "../cam_480p/index.m3u8", bandwidth: 1_500_000, codecs: ["avc1.64001e"] },
  ]);
  assert.equal(
    text,
    [
      "#EXTM3U",
      "#EXT-X-VERSION:6",
      "#EXT-X-INDEPENDENT-SEGMENTS",
      '#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2600000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000',
      "index.m3u8",
      '#EXT-X-STREAM-INF:BANDWIDTH=1500000,CODECS="avc1.64001e"',
      "../cam_480p/index.m3u8",
      "",
    ].join("\n"),
  );
});
