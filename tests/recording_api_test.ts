/**
 * The recordings API end to end, on the all-in-one node (origin, discovery, API and edge in
 * one process, wired exactly as `deno task start` wires them): with `RECORD=all` and short
 * chunks a broadcast is recorded, `GET /api/v1/streams/{name}/recordings` lists its chunks
 * from the origin the registry names, and a listed URL downloads an MP4 that ffprobe reads
 * and ffmpeg decodes without a word.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type AllInOne, startAllInOne } from "../node/all_in_one.ts";
import { decodeErrors, probeStreams } from "./helpers/decode.ts";
import { publish } from "./helpers/media.ts";
import { waitFor } from "./helpers/wait.ts";

const BROADCAST_SECONDS = 8;

interface Listing {
  name: string;
  partial: boolean;
  unreachable: string[];
  recordings: {
    file: string;
    originId: string;
    size: number;
    durationSeconds: number;
    url: string;
  }[];
}

Deno.test("RECORD=all: a broadcast's chunks are listed by the API and download as clean MP4", async () => {
  const dir = await Deno.makeTempDir({ prefix: "cascade-rec-api-" });
  let node: AllInOne | undefined;
  try {
    node = await startAllInOne({
      HOST: "127.0.0.1",
      PORT: "0",
      RTMP_HOST: "127.0.0.1",
      RTMP_PORT: "0",
      CASCADE_DATA_DIR: join(dir, "data"),
      MEDIA_ROOT: join(dir, "media"),
      RECORD: "all",
      RECORD_DIR: join(dir, "recordings"),
      RECORD_CHUNK_SECONDS: "3",
      LOG_LEVEL: "warn",
    });
    const secrets = JSON.parse(await Deno.readTextFile(join(dir, "data", "secrets.json")));
    const api = `http://127.0.0.1:${node.port}/api/v1`;
    const headers = { Authorization: `Bearer ${secrets.adminToken}` };
    const list = async (): Promise<Listing> => {
      const res = await fetch(`${api}/streams/dev/recordings`, { headers });
      assert.equal(res.status, 200);
      return await res.json();
    };

    const ff = publish(`rtmp://127.0.0.1:${node.rtmpPort}/live/${secrets.devKey}`, {
      seconds: BROADCAST_SECONDS,
    });
    assert.equal((await ff.status).code, 0, ff.output);
    // The last chunk is finished when the recorder sees the publisher go.
    const listing = await waitFor("every chunk to be listed", async () => {
      const l = await list();
      const total = l.recordings.reduce((sum, r) => sum + r.durationSeconds, 0);
      return Math.abs(total - BROADCAST_SECONDS) < 1.5 ? l : undefined;
    }, { timeoutMs: 20_000 });
    assert.equal(listing.partial, false);
    assert.ok(listing.recordings.length >= 2, `${listing.recordings.length} chunks`);
    assert.deepEqual(
      listing.recordings.map((r) => r.file),
      listing.recordings.map((_, i) =>
        listing.recordings[0]!.file.replace(/-1\.mp4$/, `-${i + 1}.mp4`)
      ),
    );
    assert.ok(listing.recordings.every((r) => r.originId === node!.origin.id));

    const chunk = listing.recordings[0]!;
    const res = await fetch(chunk.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "video/mp4");
    const path = join(dir, "download.mp4");
    await Deno.writeFile(path, new Uint8Array(await res.arrayBuffer()));
    assert.equal((await Deno.stat(path)).size, chunk.size);
    const { codecs, seconds } = await probeStreams(path);
    assert.deepEqual(codecs, ["aac", "h264"]);
    assert.ok(Math.abs(seconds - chunk.durationSeconds) < 0.2, `${seconds} s`);
    assert.equal(await decodeErrors(path), "", "ffmpeg -v error prints nothing");
  } finally {
    await node?.close();
    await Deno.remove(dir, { recursive: true });
  }
});
