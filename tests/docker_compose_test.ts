/**
 * `docker-compose.yml` checked without a Docker engine: Debian's `docker-compose` validates
 * and normalises it (`config`), and the normalised services must be the whole topology, each
 * with a restart policy and a health check, Redis persisting to its append-only file, and the
 * nginx-rtmp origin sharing its HLS volume with its discovery process. The profile `sentinel`
 * adds a replica and three Sentinels, which the roles use once `REDIS_SENTINELS` is set. The
 * Dockerfiles must copy only files that exist.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runProcess } from "./helpers/process.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const COMPOSE = `${ROOT}docker-compose.yml`;
const TOKENS = {
  API_ADMIN_TOKEN: "compose-admin-token-0123456789",
  HOOK_TOKEN: "compose-hook-token-0123456789",
};
const SERVICES = [
  "api",
  "edge-1",
  "edge-2",
  "lb",
  "nginx-discovery",
  "nginx-origin",
  "origin-1",
  "origin-2",
  "redis",
  "redis-replica",
  "sentinel-1",
  "sentinel-2",
  "sentinel-3",
];
/** Only with `--profile sentinel`. */
const SENTINEL_PROFILE = ["redis-replica", "sentinel-1", "sentinel-2", "sentinel-3"];

async function compose(args: string[], env: Record<string, string> = TOKENS) {
  try {
    return await runProcess("docker-compose", ["-f", COMPOSE, ...args], {
      // Only what the file needs: nothing from the caller's environment may leak in.
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new Error("docker-compose is not installed (Debian package docker-compose)");
    }
    throw err;
  }
}

/** The normalised `config` output split per service: name → that service's lines. */
function serviceBlocks(yaml: string): Map<string, string> {
  const blocks = new Map<string, string>();
  let inServices = false;
  let current: string | undefined;
  for (const line of yaml.split("\n")) {
    if (/^\S/.test(line)) {
      inServices = line === "services:";
      current = undefined;
      continue;
    }
    if (!inServices) continue;
    const start = line.match(/^ {2}([a-z0-9-]+):$/);
    if (start) {
      current = start[1]!;
      blocks.set(current, "");
    } else if (current !== undefined) {
      blocks.set(current, `${blocks.get(current)}${line}\n`);
    }
  }
  return blocks;
}

Deno.test("docker-compose.yml is valid and runs every service with restarts and health checks", async () => {
  const quiet = await compose(["config", "-q"]);
  assert.equal(quiet.code, 0, quiet.stderr);

  const names = await compose(["config", "--services"]);
  assert.deepEqual(names.stdout.trim().split("\n").sort(), SERVICES);

  const config = await compose(["config"]);
  assert.equal(config.code, 0, config.stderr);
  const blocks = serviceBlocks(config.stdout);
  assert.deepEqual([...blocks.keys()].sort(), SERVICES);
  for (const [name, block] of blocks) {
    assert.match(block, /^ {4}restart: unless-stopped$/m, `${name} has no restart policy`);
    // Discovery has no HTTP endpoint; its restart policy covers a crash.
    if (name !== "nginx-discovery") {
      assert.match(
        block,
        /^ {4}healthcheck:\n(?: {6}.*\n)*? {6}test:/m,
        `${name}: no health check`,
      );
    }
  }

  const redis = blocks.get("redis")!;
  assert.match(redis, /- --appendonly\n\s+- "?yes"?\n/);
  assert.match(redis, /- redis-data:\/data/);
  assert.match(blocks.get("nginx-origin")!, /- nginx-hls:\/var\/hls:rw/);
  assert.match(blocks.get("nginx-discovery")!, /- nginx-hls:\/var\/hls:ro/);
  assert.match(blocks.get("nginx-discovery")!, /MEDIA_ROOT: \/var\/hls/);
  for (const origin of ["origin-1", "origin-2"]) {
    assert.match(blocks.get(origin)!, /PUBLISH_AUTH: api/);
    // Origins announce their own streams: no watcher process or setting beside them.
    assert.match(blocks.get(origin)!, /ORIGIN_PUBLIC_URL: http:\/\/origin-\d:8081/);
    assert.doesNotMatch(blocks.get(origin)!, /EMBED_DISCOVERY/);
  }
  assert.match(blocks.get("lb")!, /EDGES: edge-1:8000,edge-2:8000/);

  for (const name of SENTINEL_PROFILE) {
    assert.match(blocks.get(name)!, /^ {4}profiles:\n {4}- sentinel$/m, `${name} is not optional`);
  }
  for (const name of SERVICES.filter((s) => !SENTINEL_PROFILE.includes(s))) {
    assert.doesNotMatch(blocks.get(name)!, /^ {4}profiles:/m, `${name} must always run`);
  }
  assert.match(blocks.get("redis-replica")!, /- --replicaof\n\s+- redis\n\s+- '6379'\n/);
  assert.match(blocks.get("redis-replica")!, /- --notify-keyspace-events\n\s+- Ex\n/);
  for (const name of ["sentinel-1", "sentinel-2", "sentinel-3"]) {
    const block = blocks.get(name)!.replace(/\\\n\s*\\?/g, "");
    assert.match(block, /sentinel monitor mymaster redis 6379 2/, `${name} watches redis`);
    assert.match(block, /--sentinel/);
    assert.match(block, new RegExp(`- ${name}-data:/data`), `${name} keeps its own state`);
  }
  // Every role can be pointed at the Sentinels; unset, they use REDIS_URL.
  for (const role of ["api", "origin-1", "origin-2", "nginx-discovery", "edge-1", "edge-2"]) {
    assert.match(blocks.get(role)!, /REDIS_SENTINELS: ''/, `${role} takes REDIS_SENTINELS`);
    assert.match(blocks.get(role)!, /REDIS_URL: redis:\/\/redis:6379/);
  }
});

Deno.test("docker-compose.yml hands REDIS_SENTINELS to every role", async () => {
  const sentinels = "sentinel-1:26379,sentinel-2:26379,sentinel-3:26379";
  const config = await compose(["--profile", "sentinel", "config"], {
    ...TOKENS,
    REDIS_SENTINELS: sentinels,
  });
  assert.equal(config.code, 0, config.stderr);
  const blocks = serviceBlocks(config.stdout);
  for (const role of ["api", "origin-1", "origin-2", "nginx-discovery", "edge-1", "edge-2"]) {
    assert.match(blocks.get(role)!, new RegExp(`REDIS_SENTINELS: ${sentinels}`), role);
    assert.match(blocks.get(role)!, /REDIS_SENTINEL_MASTER: mymaster/, role);
  }
});

Deno.test("docker-compose.yml refuses to start without the tokens and says which is missing", async () => {
  const { code, stderr } = await compose(["config", "-q"], {});
  assert.notEqual(code, 0);
  assert.match(stderr, /API_ADMIN_TOKEN|HOOK_TOKEN/);
});

Deno.test("the Dockerfiles copy only files that exist", async () => {
  for (const dockerfile of ["Dockerfile", "nginx/Dockerfile"]) {
    const text = await Deno.readTextFile(`${ROOT}${dockerfile}`);
    const copies = [...text.matchAll(/^COPY (?:--\S+ )*(.+) \S+$/gm)];
    assert.ok(copies.length > 0, `${dockerfile} copies nothing`);
    for (const copy of copies) {
      for (const source of copy[1]!.split(" ")) {
        await Deno.stat(`${ROOT}${source}`);
      }
    }
  }
  const cached = (await Deno.readTextFile(`${ROOT}Dockerfile`)).match(
    /deno cache[^\n]*(?:\\\n[^\n]*)*/,
  );
  assert.ok(cached, "the Dockerfile caches the roles' dependencies");
  for (const main of cached[0].match(/[\w/]+\.ts/g) ?? []) await Deno.stat(`${ROOT}${main}`);
});
