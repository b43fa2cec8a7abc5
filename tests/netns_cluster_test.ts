/**
 * Cascade spread over hosts, each a Linux network namespace on one private bridge
 * (`helpers/netns.ts`): the registry host runs Redis with Sentinel (a master, a replica and
 * three Sentinels), two origin hosts and two edge hosts run the shipped roles (the commands of
 * `deno task origin` / `deno task edge`), and a client host holds the encoder and the viewer.
 * Every role reaches the others by their addresses, never loopback. Checked: an edge serves a
 * stream whose origin is another host; an origin whose link goes down has its claim gone from
 * the registry within `STREAM_TTL_SECONDS` + 1 s, and the stream comes back through the edges
 * from the other origin once the encoder moves there; an edge cut off leaves the other edge
 * serving. Where namespaces cannot be created (not root, no iproute2), the test is registered
 * as skipped with the reason in its name.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type LivePlaylist, parsePlaylist } from "@cascade/media/hls/playlist";
import { taskArgs } from "../tools/tasks.ts";
import { decodeErrors } from "./helpers/decode.ts";
import { publishArgs } from "./helpers/media.ts";
import { NetnsLab, netnsUnavailable } from "./helpers/netns.ts";
import type { TestProcess } from "./helpers/process.ts";
import { waitFor } from "./helpers/wait.ts";

const TTL_SECONDS = 3;
const STREAM = "netcam";
const STREAM_KEY = "netns_test_key_1";
const MASTER = "mymaster";
const REDIS_PORT = 6379;
const REPLICA_PORT = 6380;
const SENTINEL_PORTS = [26379, 26380, 26381];
const RTMP_PORT = 1935;
const ORIGIN_PORT = 8081;
const EDGE_PORT = 8000;
/** The host the encoder and the viewer run on. */
const CLIENT = "client";

/** Runs `redis-cli` on the registry host against `port`; its output, trimmed. */
async function redisCli(lab: NetnsLab, port: number, ...command: string[]): Promise<string> {
  const r = await lab.run("reg", "redis-cli", [
    ...["-h", lab.address("reg"), "-p", String(port), "--raw", ...command],
  ], { timeoutMs: 5000 });
  if (r.code !== 0) throw new Error(`redis-cli ${command.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Starts the master, its replica and three Sentinels on the registry host; resolves with
 * `REDIS_SENTINELS` once the replica is in sync and every Sentinel knows it.
 */
async function startRegistry(lab: NetnsLab, dir: string): Promise<string> {
  const address = lab.address("reg");
  const procs: TestProcess[] = [];
  const server = (port: number, extra: string[]) => {
    const data = join(dir, `redis-${port}`);
    Deno.mkdirSync(data);
    procs.push(lab.spawn("reg", "redis-server", {
      cwd: data,
      args: [
        ...["--port", String(port), "--bind", address, "--dir", data, "--save", ""],
        ...["--appendonly", "no", "--notify-keyspace-events", "Ex"],
        // Without a password, protected mode answers only loopback; the lab is private.
        ...["--protected-mode", "no"],
        // The replica syncs at once instead of after the default 5 s wait for more replicas.
        ...["--repl-diskless-sync-delay", "0", ...extra],
      ],
    }));
  };
  const alive = () => {
    for (const p of procs) p.giveUpIfExited();
  };
  server(REDIS_PORT, []);
  server(REPLICA_PORT, ["--replicaof", address, String(REDIS_PORT)]);
  await waitFor("the replica to be in sync", async () => {
    alive();
    return /^slave0:.*state=online/m.test(await redisCli(lab, REDIS_PORT, "info", "replication"));
  }, { timeoutMs: 20_000 });
  for (const port of SENTINEL_PORTS) {
    const conf = join(dir, `sentinel-${port}.conf`);
    // Sentinel rewrites its file with what it learns, so each has its own.
    await Deno.writeTextFile(
      conf,
      [
        `port ${port}`,
        `bind ${address}`,
        "protected-mode no",
        `dir ${dir}`,
        `sentinel monitor ${MASTER} ${address} ${REDIS_PORT} 2`,
        `sentinel down-after-milliseconds ${MASTER} 5000`,
        "",
      ].join("\n"),
    );
    procs.push(lab.spawn("reg", "redis-server", { cwd: dir, args: [conf, "--sentinel"] }));
  }
  await waitFor("every Sentinel to know the master and its replica", async () => {
    alive();
    for (const port of SENTINEL_PORTS) {
      const fields = (await redisCli(lab, port, "sentinel", "master", MASTER)).split("\n");
      if (fields[fields.indexOf("num-slaves") + 1] !== "1") return false;
    }
    return true;
  }, { timeoutMs: 20_000, intervalMs: 100 });
  return SENTINEL_PORTS.map((port) => `${address}:${port}`).join(",");
}

/** The environment every role gets: the registry through the Sentinels, short claims. */
function roleEnv(sentinels: string): Record<string, string> {
  return {
    REDIS_SENTINELS: sentinels,
    REDIS_SENTINEL_MASTER: MASTER,
    // Empty is unset: a REDIS_URL of the test's own environment must not reach the roles.
    REDIS_URL: "",
    LOG_FORMAT: "json",
    DENO_NO_UPDATE_CHECK: "1",
  };
}

function startOrigin(lab: NetnsLab, host: string, id: string, dir: string, sentinels: string) {
  const address = lab.address(host);
  return lab.spawn(host, Deno.execPath(), {
    args: taskArgs("origin"),
    cwd: dir,
    env: {
      ...roleEnv(sentinels),
      NODE_ID: id,
      RTMP_HOST: address,
      RTMP_PORT: String(RTMP_PORT),
      RTMP_PUBLIC_URL: `rtmp://${address}:${RTMP_PORT}/live`,
      ORIGIN_HTTP_HOST: address,
      ORIGIN_HTTP_PORT: String(ORIGIN_PORT),
      // What edges fetch from: the origin's own address on the lab network.
      ORIGIN_PUBLIC_URL: `http://${address}:${ORIGIN_PORT}`,
      MEDIA_ROOT: join(dir, `media-${id}`),
      RECORD: "none",
      RECORD_DIR: join(dir, `recordings-${id}`),
      PUBLISH_AUTH: "static",
      PUBLISH_KEYS: `${STREAM_KEY}=${STREAM}`,
      STREAM_TTL_SECONDS: String(TTL_SECONDS),
      HLS_SEGMENT_SECONDS: "1",
    },
  });
}

function startEdge(lab: NetnsLab, host: string, id: string, dir: string, sentinels: string) {
  const address = lab.address(host);
  return lab.spawn(host, Deno.execPath(), {
    args: taskArgs("edge"),
    cwd: dir,
    env: {
      ...roleEnv(sentinels),
      NODE_ID: id,
      EDGE_HOST: address,
      EDGE_PORT: String(EDGE_PORT),
      EDGE_PUBLIC_URL: `http://${address}:${EDGE_PORT}`,
    },
  });
}

/** Reads a key and the moment Redis drops it (epoch ms) at once. */
const GET_WITH_EXPIRY = "return {redis.call('get', KEYS[1]), redis.call('pexpiretime', KEYS[1])}";

/**
 * The stream's claim as the registry's master holds it, with the moment it expires unless
 * refreshed (epoch ms, the test's clock: one machine); null when there is none.
 */
async function claim(lab: NetnsLab): Promise<{ originId: string; expiresAt: number } | null> {
  const out = await redisCli(
    lab,
    REDIS_PORT,
    ...["eval", GET_WITH_EXPIRY, "1", `cascade:stream:${STREAM}`],
  );
  const [value, expiresAt] = out.split("\n");
  if (!value) return null;
  return { originId: JSON.parse(value).originId, expiresAt: Number(expiresAt) };
}

/** The live playlist at `base` (an edge or origin), seen from the client host. */
async function playlistAt(lab: NetnsLab, base: string): Promise<LivePlaylist | undefined> {
  const res = await lab.fetch(CLIENT, `${base}/live/${STREAM}/index.m3u8`);
  return res.status === 200 ? parsePlaylist(res.text()) : undefined;
}

/** A segment of `base`'s playlist, fetched from the client host: 200 and MPEG-TS bytes. */
async function segmentAt(lab: NetnsLab, base: string, uri: string): Promise<Uint8Array> {
  const res = await lab.fetch(CLIENT, new URL(uri, `${base}/live/${STREAM}/`).href, 5000);
  assert.equal(res.status, 200, `${base}: GET ${uri}`);
  assert.ok(res.body.length > 0 && res.body.length % 188 === 0, `${uri}: whole TS packets`);
  assert.equal(res.body[0], 0x47, `${uri}: starts with the TS sync byte`);
  return res.body;
}

const lastSequence = (p: LivePlaylist) => p.segments.at(-1)?.sequence ?? -1;

async function clusterTest(): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-netns-" });
  try {
    await using lab = await NetnsLab.create(["reg", "o1", "o2", "e1", "e2", CLIENT]);
    const sentinels = await startRegistry(lab, dir);
    const http = (host: string, port: number) => `http://${lab.address(host)}:${port}`;
    const edge1 = http("e1", EDGE_PORT);
    const edge2 = http("e2", EDGE_PORT);
    const origin2 = http("o2", ORIGIN_PORT);
    const roles = [
      { proc: startOrigin(lab, "o1", "origin-1", dir, sentinels), url: http("o1", ORIGIN_PORT) },
      { proc: startOrigin(lab, "o2", "origin-2", dir, sentinels), url: origin2 },
      { proc: startEdge(lab, "e1", "edge-1", dir, sentinels), url: edge1 },
      { proc: startEdge(lab, "e2", "edge-2", dir, sentinels), url: edge2 },
    ];
    await Promise.all(
      roles.map(({ proc, url }) =>
        waitFor(`${proc.name} to answer /healthz`, async () => {
          proc.giveUpIfExited();
          return (await lab.fetch(CLIENT, `${url}/healthz`)).status === 200;
        }, { timeoutMs: 60_000, intervalMs: 100 })
      ),
    );
    const encode = (host: string) =>
      lab.spawn(CLIENT, "ffmpeg", {
        args: publishArgs(`rtmp://${lab.address(host)}:${RTMP_PORT}/live/${STREAM_KEY}`, {
          gop: 30,
        }),
      });

    // (1) An edge serves the stream of an origin on another host.
    const encoder1 = encode("o1");
    const first = await waitFor("edge-1 to list 2 segments", async () => {
      encoder1.giveUpIfExited();
      const p = await playlistAt(lab, edge1);
      return p !== undefined && p.segments.length >= 2 ? p : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
    assert.equal((await claim(lab))?.originId, "origin-1");
    const segment = await segmentAt(lab, edge1, first.segments.at(-1)!.uri);
    await Deno.writeFile(join(dir, "segment.ts"), segment);
    assert.equal(await decodeErrors(join(dir, "segment.ts")), "", "the segment decodes cleanly");

    // (2) Origin 1 cut off: its claim goes within the TTL (+1 s); the encoder moves to
    // origin 2 at once, which takes the stream over when the claim is gone. Timed from when
    // the link is certainly down to Redis's own expiry time of the claim, final from then on
    // (no refresh gets through), so a slow poll on a loaded machine does not count.
    await lab.linkDown("o1");
    const cutAt = Date.now();
    await encoder1.stop("SIGKILL");
    const encoder2 = encode("o2");
    let goneAt = Number.NaN;
    await waitFor("origin-1's claim to expire", async () => {
      const held = await claim(lab);
      if (held?.originId === "origin-1") {
        goneAt = held.expiresAt;
        return false;
      }
      // Not seen since the cut: gone by the time this answer came.
      if (Number.isNaN(goneAt)) goneAt = Date.now();
      return true;
    }, { timeoutMs: (TTL_SECONDS + 5) * 1000, intervalMs: 50 });
    const goneAfter = (goneAt - cutAt) / 1000;
    assert.ok(
      goneAfter <= TTL_SECONDS + 1,
      `claim gone ${goneAfter.toFixed(2)} s after the link went down (TTL ${TTL_SECONDS} s)`,
    );
    await waitFor("origin-2 to claim the stream", async () => {
      encoder2.giveUpIfExited();
      return (await claim(lab))?.originId === "origin-2";
    }, { timeoutMs: 20_000, intervalMs: 100 });
    // Served again through both edges, with origin 2's segments.
    for (const edge of [edge1, edge2]) {
      await waitFor(`${edge} to serve origin-2's segments`, async () => {
        const p = await playlistAt(lab, edge);
        const uri = p?.segments.at(-1)?.uri;
        if (uri === undefined) return false;
        const [viaEdge, direct] = await Promise.all([
          segmentAt(lab, edge, uri),
          segmentAt(lab, origin2, uri),
        ]);
        return viaEdge.length === direct.length && viaEdge.every((b, i) => b === direct[i]);
      }, { timeoutMs: 20_000, intervalMs: 200 });
    }

    // (3) Edge 1 cut off: edge 2 goes on serving new segments.
    const before = await playlistAt(lab, edge2);
    assert.ok(before, "edge-2 serves the playlist before edge-1 is cut off");
    await lab.linkDown("e1");
    await assert.rejects(lab.fetch(CLIENT, `${edge1}/healthz`, 1000), "edge-1 is unreachable");
    const after = await waitFor("edge-2 to list 2 newer segments", async () => {
      encoder2.giveUpIfExited();
      const p = await playlistAt(lab, edge2);
      return p !== undefined && lastSequence(p) >= lastSequence(before) + 2 ? p : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200 });
    await segmentAt(lab, edge2, after.segments.at(-1)!.uri);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const unavailable = await netnsUnavailable();
const NAME = "hosts in network namespaces: an edge serves another host's origin, a cut-off " +
  "origin's claim expires within the TTL + 1 s and its stream comes back from the other " +
  "origin, a cut-off edge leaves the other serving";

// A skipped test says why: Deno prints the name of an ignored test beside "ignored".
Deno.test({
  name: unavailable === undefined ? NAME : `${NAME} (skipped: ${unavailable})`,
  ignore: unavailable !== undefined,
  fn: clusterTest,
});
