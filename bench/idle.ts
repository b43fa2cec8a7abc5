/**
 * Scenario 7: the resident memory of each role with nothing to do. Each of origin, edge, api
 * and discovery is started as users start it (`roles.ts`) beside one redis-server, one at a
 * time, and once ready its RSS is read from `/proc` every half second for a few seconds;
 * the figure is the median of those readings (startup work settles within the first ones).
 */
import { startRedis } from "../tests/helpers/redis.ts";
import { delay } from "../tests/helpers/wait.ts";
import { percentile } from "./latency.ts";
import { privateBytes, rssBytes } from "./proc.ts";
import {
  generatePublishKeys,
  type Role,
  type RoleProcess,
  startApiRole,
  startDiscoveryRole,
  startEdgeRole,
  startOriginRole,
} from "./roles.ts";

export interface IdleRss {
  role: Role;
  /** Median of the readings. */
  rssBytes: number;
  /** Private part (`RssAnon`) at the end: RSS less the shared pages of the Deno binary. */
  privateBytes?: number;
  samples: number[];
}

const SAMPLE_MS = 500;

async function sampleRss(pid: number, seconds: number): Promise<number[]> {
  const samples: number[] = [];
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await delay(SAMPLE_MS);
    samples.push(await rssBytes(pid));
  }
  return samples;
}

/** Idle RSS of every role, each sampled for `seconds` after it is ready. */
export async function measureIdleRss(seconds: number): Promise<IdleRss[]> {
  const dir = await Deno.makeTempDir({ prefix: "cascade-bench-idle-" });
  await Deno.mkdir(`${dir}/media`);
  try {
    await using redis = await startRedis();
    const starters: Record<Role, () => Promise<RoleProcess>> = {
      origin: () =>
        startOriginRole({
          redisUrl: redis.url,
          mediaRoot: `${dir}/media`,
          recordDir: `${dir}/recordings`,
          keys: generatePublishKeys(["idle"]),
        }),
      edge: () => startEdgeRole(redis.url),
      api: () => startApiRole(redis.url),
      discovery: () => startDiscoveryRole(redis.url, `${dir}/media`, "http://127.0.0.1:8081"),
    };
    const out: IdleRss[] = [];
    for (const [role, start] of Object.entries(starters) as [Role, () => Promise<RoleProcess>][]) {
      const proc = await start();
      try {
        const samples = await sampleRss(proc.pid, seconds);
        out.push({
          role,
          rssBytes: percentile(samples, 50),
          privateBytes: await privateBytes(proc.pid),
          samples,
        });
      } finally {
        await proc.stop();
      }
    }
    return out;
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
