/**
 * Two origins receiving publishers of the same stream name at the same moment, with real
 * ffmpeg publishers, a real redis-server and each origin announcing from its packager
 * through its own Redis connection: exactly one origin holds `stream:{name}`, the other is
 * refused, says so and stands by (listed in its node record), and the owner stays the same
 * over many refreshes, during which the standby keeps reading the claim.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Redis } from "./helpers/ioredis.ts";
import { RedisRegistry } from "@cascade/registry";
import { LIVE_PLAYLIST } from "@cascade/media/hls/layout";
import { captureLog } from "./helpers/log.ts";
import { publish } from "./helpers/media.ts";
import { startTestOrigin } from "./helpers/origin.ts";
import { RedisServer } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";
import { exists } from "../tools/sys.ts";

const PREFIX = "race:";
const NAME = "alpha";
/** Claims live 2 s and are refreshed every 500 ms (TTL / 4). */
const TTL_SECONDS = 2;
/** Refreshes of the owner's claim watched for a change of owner: two TTLs' worth. */
const REFRESHES = 8;

/** A registry client of its own, as a separate origin process has; closed on dispose. */
function registryClient(url: string): RedisRegistry & AsyncDisposable {
  const registry = new RedisRegistry({ url, prefix: PREFIX });
  return Object.assign(registry, { [Symbol.asyncDispose]: () => registry.close() });
}

Deno.test("two origins publishing one name at once: one owns stream:{name}, and keeps it", async () => {
  await using redis = await RedisServer.start();
  await using registryA = registryClient(redis.url);
  await using registryB = registryClient(redis.url);
  await using observer = registryClient(redis.url);
  const logA = captureLog();
  const logB = captureLog();
  const env = { STREAM_TTL_SECONDS: String(TTL_SECONDS) };
  await using originA = await startTestOrigin(
    { ...env, NODE_ID: "origin-a" },
    { registry: registryA, log: logA },
  );
  await using originB = await startTestOrigin(
    { ...env, NODE_ID: "origin-b" },
    { registry: registryB, log: logB },
  );
  const raw = new Redis(redis.url);
  try {
    await using _ffA = publish(originA.rtmpUrl("test_key_1234"), { seconds: 120 });
    await using _ffB = publish(originB.rtmpUrl("test_key_1234"), { seconds: 120 });
    for (const origin of [originA, originB]) {
      const playlist = join(origin.mediaRoot, NAME, LIVE_PLAYLIST);
      await waitFor(`${origin.id} to write ${playlist}`, () => exists(playlist), {
        timeoutMs: 30_000,
      });
      assert.ok(origin.hub.get(NAME), `${origin.id} has its own publisher of ${NAME}`);
    }

    const first = await waitFor(`stream:${NAME}`, () => observer.getStream(NAME), {
      timeoutMs: 15_000,
    });
    const owner = first.originId;
    assert.ok(["origin-a", "origin-b"].includes(owner), `owner ${owner} is one of the two`);
    const [winner, loserLog] = owner === "origin-a" ? [originA, logB] : [originB, logA];
    assert.equal(first.originUrl, winner.httpUrl);
    assert.equal(first.manifest, `${winner.httpUrl}/live/${NAME}/${LIVE_PLAYLIST}`);
    const refused = await waitFor(
      "the other origin to be refused and stand by",
      () => loserLog.events("announce.standby").find((l) => l.fields.name === NAME),
      {
        timeoutMs: 15_000,
      },
    );
    assert.equal(refused.fields.primary, owner);
    const loserId = owner === "origin-a" ? "origin-b" : "origin-a";
    await waitFor("the standby in the loser's node record", async () => {
      return (await observer.getNode("origin", loserId))?.standby?.includes(NAME);
    }, { timeoutMs: 10_000 });

    // Watch the claim through many refreshes (each one resets its TTL), while the loser's
    // announcer keeps claiming the name on its own timer: the owner must never change.
    const key = `${PREFIX}stream:${NAME}`;
    const owners = new Set<string>();
    let refreshes = 0;
    let lastTtl = Infinity;
    await waitFor(`${REFRESHES} refreshes of ${key}`, async () => {
      const [[, ttl], [, value]] = (await raw.multi().pttl(key).get(key).exec()) as [
        [unknown, number],
        [unknown, string | null],
      ];
      owners.add(value === null ? "(none)" : JSON.parse(value).originId);
      if (ttl > lastTtl) refreshes++;
      lastTtl = ttl;
      return refreshes >= REFRESHES;
    }, { timeoutMs: 30_000, intervalMs: 20 });
    assert.deepEqual([...owners], [owner], "the owner never changed and the claim never lapsed");
    const refusals = loserLog.events("announce.standby").filter((l) => l.fields.name === NAME);
    assert.deepEqual(refusals.map((l) => l.fields.primary), [owner], "refused, logged once");
    assert.equal(loserLog.events("standby.took_over").length, 0, "a live primary is left alone");
    const streams = await observer.listStreams();
    assert.deepEqual(streams.map((s) => [s.name, s.originId]), [[NAME, owner]]);
  } finally {
    raw.disconnect();
  }
});
