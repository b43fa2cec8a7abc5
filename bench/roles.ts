/**
 * Cascade's roles started the way users start them: the command lines of `deno task origin`,
 * `edge`, `api` and `discovery` (read from `deno.json`, flags included), each a process
 * of its own beside a real redis-server, configured only through the environment. The
 * benchmark sets what it must (Redis URL, random loopback ports, temporary directories, and
 * `PUBLISH_AUTH=static` with generated keys, since the default `api` mode needs an API
 * process) and leaves every other setting at its default. The all-in-one (`deno task start`)
 * runs from a temporary directory of its own instead, with no Redis. The processes' `pid` is
 * what `/proc` is read for.
 */
import { fileURLToPath } from "node:url";
import { freePort } from "../tests/helpers/ports.ts";
import { startProcess, type TestProcess } from "../tests/helpers/process.ts";
import { taskArgs } from "../tools/tasks.ts";

const REPO = fileURLToPath(new URL("../", import.meta.url));
/** The repository's config, which a program run from outside the repository must be given. */
const CONFIG = `${REPO}deno.json`;

/** Roles can take a while to start on a loaded machine (the publishers may already run). */
const START_TIMEOUT_MS = 60_000;

export type Role = "origin" | "edge" | "api" | "discovery";

/** A role's process and the port it serves on. */
export interface RoleProcess {
  readonly role: Role;
  readonly proc: TestProcess;
  readonly pid: number;
  readonly port: number;
  stop(): Promise<void>;
}

async function startRole(
  role: Role,
  port: number,
  env: Record<string, string>,
  ready: { readyUrl?: string; readyLine?: RegExp },
  denoFlags: string[] = [],
): Promise<RoleProcess> {
  const proc = await startProcess(Deno.execPath(), {
    args: withFlags(taskArgs(role), denoFlags),
    cwd: REPO,
    env,
    timeoutMs: START_TIMEOUT_MS,
    ...ready,
  });
  return { role, proc, pid: proc.child.pid, port, stop: async () => void await proc.stop() };
}

/** A task's arguments with `flags` added before its script. */
function withFlags(args: string[], flags: string[]): string[] {
  return [...args.slice(0, -1), ...flags, ...args.slice(-1)];
}

/** Keys for `PUBLISH_KEYS`: 32 characters of `[0-9a-f]`, one per stream name. */
export function generatePublishKeys(names: readonly string[]): Map<string, string> {
  return new Map(names.map((name) => [name, crypto.randomUUID().replaceAll("-", "")]));
}

export interface OriginOptions {
  redisUrl: string;
  mediaRoot: string;
  /** Where recordings would go (`RECORD` stays at its default). */
  recordDir: string;
  /** Stream name → publish key. */
  keys: ReadonlyMap<string, string>;
  /** Extra `deno run` flags, e.g. `--v8-flags=--prof`. */
  denoFlags?: string[];
  /** Settings a scenario turns on beyond the defaults (e.g. `HLS_LL=true`), labelled where reported. */
  env?: Record<string, string>;
}

export interface OriginProcess extends RoleProcess {
  readonly rtmpPort: number;
  readonly url: string;
}

/** `deno task origin`: RTMP and HTTP on random loopback ports, static publish keys. */
export async function startOriginRole(o: OriginOptions): Promise<OriginProcess> {
  const rtmpPort = freePort();
  const httpPort = freePort();
  const url = `http://127.0.0.1:${httpPort}`;
  const role = await startRole(
    "origin",
    httpPort,
    {
      REDIS_URL: o.redisUrl,
      RTMP_HOST: "127.0.0.1",
      RTMP_PORT: String(rtmpPort),
      ORIGIN_HTTP_HOST: "127.0.0.1",
      ORIGIN_HTTP_PORT: String(httpPort),
      MEDIA_ROOT: o.mediaRoot,
      RECORD_DIR: o.recordDir,
      PUBLISH_AUTH: "static",
      PUBLISH_KEYS: [...o.keys].map(([name, key]) => `${key}=${name}`).join(","),
      ...o.env,
    },
    { readyUrl: `${url}/healthz` },
    o.denoFlags,
  );
  return { ...role, rtmpPort, url };
}

/** `deno task edge` on a random loopback port, finding origins through Redis. */
export async function startEdgeRole(redisUrl: string): Promise<RoleProcess & { url: string }> {
  const port = freePort();
  const role = await startRole("edge", port, {
    REDIS_URL: redisUrl,
    EDGE_HOST: "127.0.0.1",
    EDGE_PORT: String(port),
  }, { readyLine: /edge\.listening/ });
  return { ...role, url: `http://127.0.0.1:${port}` };
}

/** `deno task api` on a random loopback port. */
export function startApiRole(redisUrl: string): Promise<RoleProcess> {
  const port = freePort();
  return startRole("api", port, {
    REDIS_URL: redisUrl,
    API_HOST: "127.0.0.1",
    API_PORT: String(port),
  }, { readyLine: /http\.listening/ });
}

/** `deno task discovery` beside an origin that writes `mediaRoot/{name}/index.m3u8`. */
export function startDiscoveryRole(
  redisUrl: string,
  mediaRoot: string,
  originUrl: string,
): Promise<RoleProcess> {
  const port = Number(new URL(originUrl).port);
  return startRole("discovery", port, {
    REDIS_URL: redisUrl,
    MEDIA_ROOT: mediaRoot,
    ORIGIN_HTTP_PORT: String(port),
    ORIGIN_PUBLIC_URL: originUrl,
  }, { readyLine: /discovery\.started/ });
}

export interface AllInOneRoleOptions {
  /** The working directory, where its `./media`, `./recordings` and `./.cascade` go. */
  workDir: string;
  /** Stream name → publish key. */
  keys: ReadonlyMap<string, string>;
}

export interface AllInOneProcess {
  readonly proc: TestProcess;
  readonly pid: number;
  /** The one HTTP port viewers use (`/live/…`). */
  readonly url: string;
  readonly rtmpPort: number;
  stop(): Promise<void>;
}

/**
 * `deno task start` as a newcomer runs it from a directory of their own: every role in one
 * process, no Redis, only the ports, the loopback host and `PUBLISH_KEYS` set.
 */
export async function startAllInOneRole(o: AllInOneRoleOptions): Promise<AllInOneProcess> {
  const port = freePort();
  const rtmpPort = freePort();
  const proc = await startProcess(Deno.execPath(), {
    args: withFlags(taskArgs("start"), ["--config", CONFIG]),
    cwd: o.workDir,
    env: {
      HOST: "127.0.0.1",
      PORT: String(port),
      RTMP_PORT: String(rtmpPort),
      PUBLISH_KEYS: [...o.keys].map(([name, key]) => `${key}=${name}`).join(","),
    },
    timeoutMs: START_TIMEOUT_MS,
    // The banner comes last, once every listener is up.
    readyLine: /Admin token is/,
  });
  return {
    proc,
    pid: proc.child.pid,
    url: `http://127.0.0.1:${port}`,
    rtmpPort,
    stop: async () => void await proc.stop(),
  };
}
