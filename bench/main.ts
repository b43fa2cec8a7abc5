/**
 * `deno task bench`: Cascade as users run it, side by side with the incumbents on this
 * machine (issues 10 and 15). Ingest cost of the shipped origin with Redis, segment
 * availability latency at the origin and through the shipped edge, time to first playlist,
 * and the discovery watcher beside nginx-rtmp, all against nginx-rtmp (`ingest.ts`); the same
 * at 100 publishers with hub frame drops; each role's idle memory (`idle.ts`); cached edge
 * throughput against nginx `proxy_cache` (`edge_throughput.ts`, which runs
 * `edge/bench/edge_bench.ts`), and a cold-segment stampede against nginx `proxy_cache_lock`
 * (`stampede.ts`); and the all-in-one's memory under 8 publishers and 40 viewers
 * (`all_in_one.ts`); the CPU thumbnails cost per stream (`thumbnails.ts`: N publishers on the
 * shipped origin, thumbnails off, unwatched, watched); the transcoder's CPU per rendition of the
 * 720p clip (`transcode.ts`). Prints a table with the targets beside the figures and writes
 * `bench/results/latest.json` (every round, the machine, the tools) and
 * `bench/results/latest.md` (the table for the README). The soak (`soak.ts`: 100 publishers,
 * two origins, two edges, 2,000 viewers for 10 minutes) runs only when `--only` names it and
 * writes `bench/results/soak.{json,md}` instead. Needs ffmpeg, nginx with libnginx-mod-rtmp,
 * redis-server and wrk; not part of `deno task test`.
 *
 *   deno task bench                  # about 17 minutes: 20 and 100 streams, 30 s windows, 2 rounds
 *   deno task bench --quick          # a smoke run in about 3 minutes
 *   deno task bench --streams 10 --seconds 20 --rounds 1 --only ingest,stampede
 *   deno task bench --only soak --soak-minutes 2
 */
import { parseArgs } from "node:util";
import { probeJson } from "../tests/helpers/decode.ts";
import { makeClip } from "../tests/helpers/media.ts";
import { runAllInOne } from "./all_in_one.ts";
import { measurePlayerLatency } from "./player_latency.ts";
import { runEdgeThroughput } from "./edge_throughput.ts";
import { measureIdleRss } from "./idle.ts";
import { type IngestOptions, type IngestRound, runIngestRound } from "./ingest.ts";
import { summarize } from "./latency.ts";
import { machineInfo } from "./proc.ts";
import { renderMarkdown, renderText, type Results, tableRows } from "./report.ts";
import { INGEST_SERVERS, type IngestServer } from "./servers.ts";
import { runSoak } from "./soak.ts";
import { renderSoakMarkdown, renderSoakText, type SoakResults } from "./soak_report.ts";
import { runStampedes } from "./stampede.ts";
import { runThumbnailBench } from "./thumbnails.ts";
import { runTranscode } from "./transcode.ts";
import { RTMP_MODULE } from "../nginx/render.ts";
import { exists, onPath } from "../tools/sys.ts";
import { REDIS_SERVER } from "../tests/helpers/redis.ts";

const SCENARIOS = [
  "ingest",
  "scale",
  "idle",
  "edge",
  "stampede",
  "allinone",
  "latency",
  "thumbnails",
  "transcode",
  "soak",
] as const;
type Scenario = typeof SCENARIOS[number];
/** What runs without `--only`: everything but the soak, which takes 10 minutes on its own. */
const DEFAULT_SCENARIOS = SCENARIOS.filter((s) => s !== "soak");

const USAGE =
  `Usage: deno task bench [--quick] [--streams N] [--streams-high N] [--seconds S] [--rounds R]
                        [--probes P] [--viewers V] [--edge-seconds S] [--aio-seconds S]
                        [--latency-seconds S] [--ll-viewers N] [--transcode-seconds S]
                        [--soak-minutes M] [--soak-publishers N] [--soak-viewers V]
                        [--only ${SCENARIOS.join(",")}]
                        [--origin-flags "DENO RUN FLAGS"]`;

/** The servers compared at `--streams-high`: what users run, and the peer. */
const SCALE_SERVERS: readonly IngestServer[] = ["cascade", "nginx-rtmp"];

const CLIP = { size: "1280x720", fps: 30, bitrate: "2500k", seconds: 10 };
/**
 * The soak's clip: 2,000 viewers of the 2.6 Mbit/s clip would need 5 Gbit/s through two edges
 * into the load generators on this 2-core machine; at ~0.4 Mbit/s they need 0.8 Gbit/s.
 */
const SOAK_CLIP = { size: "426x240", fps: 30, bitrate: "300k", seconds: 10 };
const SEGMENT_BYTES = 800 * 1024;
/** Delay of the stampede's origin, standing in for a distant origin or a cold disk. */
const STAMPEDE_ORIGIN_DELAY_MS = 50;
/** The all-in-one's audience (issue 15): publishers, and viewers of each stream. */
const AIO_PUBLISHERS = 8;
const AIO_VIEWERS_PER_STREAM = 5;
/** The shipped default of `THUMBNAIL_SECONDS`. */
const THUMBNAIL_SECONDS = 5;

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`Invalid --${name}: expected a positive integer (got ${JSON.stringify(value)})`);
    console.error(USAGE);
    Deno.exit(2);
  }
  return n;
}

function parseOptions(args: string[]) {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        quick: { type: "boolean", default: false },
        streams: { type: "string" },
        "streams-high": { type: "string" },
        seconds: { type: "string" },
        rounds: { type: "string" },
        probes: { type: "string" },
        viewers: { type: "string" },
        "edge-seconds": { type: "string" },
        "aio-seconds": { type: "string" },
        "latency-seconds": { type: "string" },
        "ll-viewers": { type: "string" },
        "transcode-seconds": { type: "string" },
        "soak-minutes": { type: "string" },
        "soak-publishers": { type: "string" },
        "soak-viewers": { type: "string" },
        only: { type: "string" },
        "origin-flags": { type: "string" },
        help: { type: "boolean", default: false },
      },
    }).values;
  } catch (err) {
    console.error((err as Error).message);
    console.error(USAGE);
    Deno.exit(2);
  }
  if (parsed.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const quick = parsed.quick;
  const only = (parsed.only ?? DEFAULT_SCENARIOS.join(",")).split(",").map((s) => s.trim());
  const unknown = only.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length > 0) {
    console.error(`Invalid --only: unknown scenario ${unknown.join(", ")}`);
    console.error(USAGE);
    Deno.exit(2);
  }
  return {
    quick,
    streams: positiveInt("streams", parsed.streams, quick ? 4 : 20),
    streamsHigh: positiveInt("streams-high", parsed["streams-high"], quick ? 12 : 100),
    windowSeconds: positiveInt("seconds", parsed.seconds, quick ? 8 : 30),
    rounds: positiveInt("rounds", parsed.rounds, quick ? 1 : 2),
    probes: positiveInt("probes", parsed.probes, quick ? 2 : 4),
    viewers: positiveInt("viewers", parsed.viewers, 500),
    edgeSeconds: positiveInt("edge-seconds", parsed["edge-seconds"], quick ? 2 : 10),
    aioSeconds: positiveInt("aio-seconds", parsed["aio-seconds"], quick ? 40 : 240),
    latencySeconds: positiveInt("latency-seconds", parsed["latency-seconds"], quick ? 10 : 30),
    llViewers: positiveInt("ll-viewers", parsed["ll-viewers"], quick ? 100 : 500),
    transcodeSeconds: positiveInt("transcode-seconds", parsed["transcode-seconds"], quick ? 8 : 30),
    soakMinutes: positiveInt("soak-minutes", parsed["soak-minutes"], quick ? 1 : 10),
    soakPublishers: positiveInt("soak-publishers", parsed["soak-publishers"], 100),
    soakViewers: positiveInt("soak-viewers", parsed["soak-viewers"], 2000),
    idleSeconds: quick ? 3 : 6,
    scenarios: new Set(only as Scenario[]),
    originFlags: (parsed["origin-flags"] ?? "").split(/\s+/).filter((f) => f !== ""),
  };
}

/** Microsecond precision is noise in these measurements; keep the JSON readable. */
function roundNumber(v: number): number {
  return Number.isInteger(v) ? v : Math.round(v * 1000) / 1000;
}

function progress(line: string): void {
  console.error(`[bench] ${line}`);
}

function describeIngest(r: IngestRound): string {
  const origin = summarize(r.probes.flatMap((p) => p.origin.map((s) => s.afterLastFrameMs)));
  const edge = summarize(r.probes.flatMap((p) => p.edgeAfterOriginMs));
  return `${r.server}: ${r.cpuPercentPerStream.toFixed(3)} % of a core and ` +
    `${(r.rssPerStreamBytes / 2 ** 20).toFixed(2)} MiB per stream, ` +
    `segment latency p99 origin ${Math.round(origin.p99)} ms` +
    (edge.count > 0 ? `, edge after origin ${Math.round(edge.p99)} ms` : "") +
    (r.sidecar ? `, ${r.sidecar.role} ${r.sidecar.cpuPercent.toFixed(2)} % of a core` : "") +
    (r.registryMessages
      ? `, ${r.registryMessages.perSecond.toFixed(1)} registry messages/s per edge`
      : "") +
    (r.hubDroppedFrames !== undefined ? `, ${r.hubDroppedFrames} frames dropped` : "") +
    `, machine ${Math.round(r.machineBusy * 100)} % busy` +
    (r.publishersLost > 0 ? `, ${r.publishersLost} publisher(s) LOST` : "");
}

/** Encodes the publishers' clip into `dir` and describes it. */
async function prepareClip(
  dir: string,
  clip = CLIP,
): Promise<{ path: string; info: Results["clip"] }> {
  const path = `${dir}/clip.flv`;
  progress(`encoding a ${clip.seconds} s ${clip.size} ${clip.fps} fps clip at ${clip.bitrate}`);
  await makeClip(path, clip);
  const { format } = await probeJson(path, "-show_entries", "format=bit_rate,duration") as {
    format: { bit_rate: string; duration: string };
  };
  return {
    path,
    info: {
      size: clip.size,
      fps: clip.fps,
      bitsPerSecond: Number(format.bit_rate),
      seconds: Number(format.duration),
    },
  };
}

/** `rounds` rounds, in each of which every server takes its turn with `streams` publishers. */
async function ingestRounds(
  label: string,
  servers: readonly IngestServer[],
  rounds: number,
  o: IngestOptions,
): Promise<IngestRound[]> {
  const out: IngestRound[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const server of servers) {
      progress(
        `${label} round ${round}/${rounds}: ${o.streams} publishers into ${server}, ` +
          `${o.windowSeconds} s window`,
      );
      const r = await runIngestRound(server, o);
      progress(describeIngest(r));
      out.push(r);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const o = parseOptions(Deno.args);
  const startedAt = new Date();
  const machine = await machineInfo();
  const results: Results = {
    startedAt: startedAt.toISOString(),
    finishedAt: "",
    options: {
      quick: o.quick,
      streams: o.streams,
      streamsHigh: o.streamsHigh,
      windowSeconds: o.windowSeconds,
      rounds: o.rounds,
      probes: Math.min(o.probes, o.streams),
      viewers: o.viewers,
      edgeSeconds: o.edgeSeconds,
      aioSeconds: o.aioSeconds,
      stampedeOriginDelayMs: STAMPEDE_ORIGIN_DELAY_MS,
      originFlags: o.originFlags,
    },
    machine,
    clip: undefined,
    ingest: undefined,
    scale: undefined,
    idle: undefined,
    edgeThroughput: undefined,
    stampede: undefined,
    allInOne: undefined,
    playerLatency: undefined,
    thumbnails: undefined,
    transcode: undefined,
    table: [],
    errors: [],
  };
  const errors = results.errors;
  const hasNginx = machine.nginx !== null;
  const hasRtmp = hasNginx && await exists(RTMP_MODULE);

  const ingestScenarios = (["ingest", "scale"] as const).filter((x) => o.scenarios.has(x));
  if (ingestScenarios.length > 0) {
    if (machine.ffmpeg === null || !hasRtmp || !(await onPath(REDIS_SERVER))) {
      errors.push(
        `${
          ingestScenarios.join(", ")
        } skipped: needs ffmpeg, nginx, libnginx-mod-rtmp and redis-server`,
      );
    } else {
      const dir = await Deno.makeTempDir({ prefix: "cascade-bench-clip-" });
      try {
        const clip = await prepareClip(dir);
        results.clip = clip.info;
        const base = {
          clip: clip.path,
          probes: o.probes,
          windowSeconds: o.windowSeconds,
          edgePollMs: 10,
          staggerSeconds: 2,
          originFlags: o.originFlags,
        };
        for (const scenario of ingestScenarios) {
          try {
            if (scenario === "ingest") {
              results.ingest = await ingestRounds("ingest", INGEST_SERVERS, o.rounds, {
                ...base,
                streams: o.streams,
              });
            } else {
              results.scale = await ingestRounds("scale", SCALE_SERVERS, o.rounds, {
                ...base,
                streams: o.streamsHigh,
              });
            }
          } catch (err) {
            errors.push(`${scenario} failed: ${(err as Error).message}`);
            progress(errors.at(-1)!);
          }
        }
      } catch (err) {
        errors.push(`clip failed: ${(err as Error).message}`);
        progress(errors.at(-1)!);
      } finally {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    }
  }

  if (o.scenarios.has("idle")) {
    if (!(await onPath(REDIS_SERVER))) {
      errors.push("idle skipped: needs redis-server");
    } else {
      progress(`idle RSS of origin, edge, api and discovery, ${o.idleSeconds} s each`);
      try {
        results.idle = await measureIdleRss(o.idleSeconds);
        progress(
          results.idle.map((x) => `${x.role} ${(x.rssBytes / 2 ** 20).toFixed(1)} MiB`).join(", "),
        );
      } catch (err) {
        errors.push(`idle failed: ${(err as Error).message}`);
        progress(errors.at(-1)!);
      }
    }
  }

  if (o.scenarios.has("edge")) {
    if (!hasNginx || !(await onPath("wrk"))) {
      results.edgeThroughput = { skipped: "needs nginx and wrk" };
      errors.push("edge throughput skipped: needs nginx and wrk");
    } else {
      progress(
        `edge throughput: edge/bench/edge_bench.ts, ${o.rounds} round(s) of ${o.edgeSeconds} s per run`,
      );
      try {
        results.edgeThroughput = await runEdgeThroughput(o.edgeSeconds, o.rounds);
      } catch (err) {
        errors.push(`edge throughput failed: ${(err as Error).message}`);
        progress(errors.at(-1)!);
      }
    }
  }

  if (o.scenarios.has("stampede")) {
    if (!hasNginx) {
      errors.push("stampede skipped: needs nginx");
    } else {
      progress(`stampede: ${o.viewers} viewers on a cold segment, ${o.rounds} round(s)`);
      try {
        results.stampede = await runStampedes({
          viewers: o.viewers,
          originDelayMs: STAMPEDE_ORIGIN_DELAY_MS,
          segmentBytes: SEGMENT_BYTES,
        }, o.rounds);
      } catch (err) {
        errors.push(`stampede failed: ${(err as Error).message}`);
        progress(errors.at(-1)!);
      }
    }
  }

  /**
   * Runs `scenario` with the bench clip in a temporary directory, or says why it cannot run
   * (ffmpeg, and redis-server when asked, missing); a failure is recorded, not thrown.
   */
  const withClip = async (
    scenario: string,
    needs: { redis: boolean },
    run: (clip: string) => Promise<void>,
  ): Promise<void> => {
    if (machine.ffmpeg === null || (needs.redis && !(await onPath(REDIS_SERVER)))) {
      errors.push(`${scenario} skipped: needs ffmpeg${needs.redis ? " and redis-server" : ""}`);
      return;
    }
    const dir = await Deno.makeTempDir({ prefix: "cascade-bench-clip-" });
    try {
      const clip = await prepareClip(dir);
      results.clip = clip.info;
      await run(clip.path);
    } catch (err) {
      errors.push(`${scenario} failed: ${(err as Error).message}`);
      progress(errors.at(-1)!);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  };

  if (o.scenarios.has("allinone")) {
    await withClip("allinone", { redis: false }, async (clip) => {
      progress(
        `all-in-one: ${AIO_PUBLISHERS} publishers, ${
          AIO_PUBLISHERS * AIO_VIEWERS_PER_STREAM
        } viewers, RSS every 5 s for ${o.aioSeconds} s`,
      );
      const run = await runAllInOne({
        clip,
        publishers: AIO_PUBLISHERS,
        viewersPerStream: AIO_VIEWERS_PER_STREAM,
        seconds: o.aioSeconds,
      });
      results.allInOne = run;
      progress(
        `all-in-one: RSS ${(run.rssSettledBytes / 2 ** 20).toFixed(1)} MiB after ` +
          `${run.settleSeconds} s (max ${(run.rssMaxBytes / 2 ** 20).toFixed(1)} MiB), ` +
          `slope ${(run.slopeBytesPerMinute / 2 ** 20).toFixed(2)} MiB/min; viewers fetched ` +
          `${run.viewing.segments} segments (${(run.viewing.bytes / 1e6).toFixed(0)} MB), ` +
          `${run.viewing.errors} errors` +
          (run.publishersLost > 0 ? `, ${run.publishersLost} publisher(s) LOST` : ""),
      );
    });
  }

  if (o.scenarios.has("latency")) {
    await withClip("latency", { redis: false }, async (clip) => {
      progress(`player latency: hls.js in Chromium, ${o.latencySeconds} s per setup`);
      results.playerLatency = await measurePlayerLatency({
        clip,
        seconds: o.latencySeconds,
        llViewers: o.llViewers,
        llViewerSeconds: o.quick ? 10 : 20,
      });
      for (const run of results.playerLatency) {
        progress(`player latency ${run.setup}: ${JSON.stringify(run)}`);
      }
    });
  }

  if (o.scenarios.has("thumbnails")) {
    await withClip("thumbnails", { redis: true }, async (clip) => {
      progress(
        `thumbnails: ${o.streams} publishers, off, on unwatched, then asked for every ` +
          `${THUMBNAIL_SECONDS} s, ${o.windowSeconds} s window each`,
      );
      const run = results.thumbnails = await runThumbnailBench({
        clip,
        streams: o.streams,
        seconds: o.windowSeconds,
        thumbnailSeconds: THUMBNAIL_SECONDS,
      });
      progress(
        `thumbnails: origin ${run.off.cpuPercent.toFixed(1)} % of a core off, ` +
          `${run.unwatched.cpuPercent.toFixed(1)} % unwatched, ` +
          `${run.on.cpuPercent.toFixed(1)} % watched (${run.on.thumbnails} pictures): ` +
          `${run.cpuPercentPerStream.toFixed(2)} % of a core per watched stream`,
      );
    });
  }

  if (o.scenarios.has("transcode")) {
    await withClip("transcode", { redis: true }, async (clip) => {
      progress(`transcode: one rung at a time of the ${CLIP.size} clip, ${o.transcodeSeconds} s`);
      results.transcode = await runTranscode({ clip, seconds: o.transcodeSeconds });
      for (const run of results.transcode) {
        progress(`transcode ${run.rung}: ${JSON.stringify(run)}`);
      }
    });
  }

  const dir = new URL("./results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const written: string[] = [];
  const soak = o.scenarios.has("soak") ? await soakScenario(o, machine) : undefined;
  if (soak !== undefined) {
    await writeJson(new URL("soak.json", dir), soak);
    await Deno.writeTextFile(new URL("soak.md", dir), renderSoakMarkdown(soak));
    console.log(renderSoakText(soak));
    written.push("soak.json", "soak.md");
    errors.push(...soak.errors);
  }
  if ([...o.scenarios].some((s) => s !== "soak")) {
    results.finishedAt = new Date().toISOString();
    results.table = tableRows(results);
    await writeJson(new URL("latest.json", dir), results);
    await Deno.writeTextFile(new URL("latest.md", dir), renderMarkdown(results));
    console.log(renderText(results));
    written.push("latest.json", "latest.md");
  }
  for (const e of errors) console.log(`! ${e}`);
  progress(
    `took ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s; ` +
      `wrote ${written.map((f) => `bench/results/${f}`).join(", ")}`,
  );
  if (errors.length > 0) Deno.exit(1);
}

async function writeJson(url: URL, value: unknown): Promise<void> {
  await Deno.writeTextFile(
    url,
    JSON.stringify(value, (_, v) => (typeof v === "number" ? roundNumber(v) : v), 2) + "\n",
  );
}

/** The soak with its own clip, as its own results document. */
async function soakScenario(
  o: ReturnType<typeof parseOptions>,
  machine: Results["machine"],
): Promise<SoakResults> {
  const soak: SoakResults = {
    startedAt: new Date().toISOString(),
    finishedAt: "",
    machine,
    clip: undefined,
    options: { publishers: o.soakPublishers, viewers: o.soakViewers, minutes: o.soakMinutes },
    run: undefined,
    errors: [],
  };
  if (machine.ffmpeg === null || !(await onPath(REDIS_SERVER))) {
    soak.errors.push("soak skipped: needs ffmpeg and redis-server");
  } else {
    const dir = await Deno.makeTempDir({ prefix: "cascade-bench-clip-" });
    try {
      const clip = await prepareClip(dir, SOAK_CLIP);
      soak.clip = clip.info;
      progress(
        `soak: ${o.soakPublishers} publishers into 2 origins, ${o.soakViewers} viewers ` +
          `through 2 edges, ${o.soakMinutes} min`,
      );
      const run = soak.run = await runSoak({
        clip: clip.path,
        publishers: o.soakPublishers,
        viewers: o.soakViewers,
        minutes: o.soakMinutes,
      });
      progress(
        `soak: ${run.errors} errors, ${run.listedNotServed} listed but not served, origin ` +
          `requests per segment ${run.edges.map((e) => e.perSegment.toFixed(2)).join(", ")}`,
      );
    } catch (err) {
      soak.errors.push(`soak failed: ${(err as Error).message}`);
      progress(soak.errors.at(-1)!);
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }
  soak.finishedAt = new Date().toISOString();
  return soak;
}

if (import.meta.main) await main();
