/**
 * Runs the API's endpoint cases against a registry backend: one `Deno.test` with a step
 * per case, each case on a fresh, empty registry of one store. `api/src/app_test.ts` runs
 * them over `MemoryRegistry`, `tests/api_redis_test.ts` over a real redis-server, and
 * `tests/api_recordings_test.ts` runs its recordings cases (which need real origins) over
 * both, so every endpoint is known to answer the same on either backend.
 */
import { MemoryRegistry, MemoryStore } from "@cascade/registry/memory";
import { RedisRegistry } from "@cascade/registry/redis";
import type { Registry } from "@cascade/registry/types";
import { quietLog } from "../../lib/common/testing/log.ts";
import { startRedis } from "../../tests/helpers/redis.ts";
import { type ApiCase, Harness } from "./harness.ts";
import { hookCases } from "./hook_cases.ts";
import { publicCases } from "./public_cases.ts";
import { serviceCases } from "./service_cases.ts";
import { streamCases } from "./stream_cases.ts";

/** Every endpoint case that needs nothing but the API and its registry. */
export const apiCases: ApiCase[] = [
  ...streamCases,
  ...hookCases,
  ...publicCases,
  ...serviceCases,
];

/** A source of fresh, empty registries on one store; disposed after the last case. */
export interface ApiBackend extends AsyncDisposable {
  open(): Promise<Registry>;
}

/** A fresh `MemoryRegistry`, on a store of its own, for each case. */
export function memoryBackend(): Promise<ApiBackend> {
  return Promise.resolve({
    open: () => Promise.resolve(new MemoryRegistry({ store: new MemoryStore(), log: quietLog })),
    async [Symbol.asyncDispose]() {},
  });
}

/** Registries on one redis-server started for the suite, each under its own key prefix. */
export async function redisBackend(): Promise<ApiBackend> {
  const server = await startRedis();
  let n = 0;
  return {
    open: () =>
      Promise.resolve(
        new RedisRegistry({ url: server.url, prefix: `api${++n}:`, log: quietLog }),
      ),
    [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
  };
}

/** Registers `cases` as one test with a step each, each on a fresh registry. */
export function apiSuite(
  name: string,
  backend: () => Promise<ApiBackend>,
  cases: ApiCase[] = apiCases,
): void {
  Deno.test(name, async (t) => {
    await using source = await backend();
    for (const [caseName, fn] of cases) {
      await t.step(caseName, async () => {
        const registry = await source.open();
        try {
          await fn(new Harness(registry));
        } finally {
          await registry.close();
        }
      });
    }
  });
}
