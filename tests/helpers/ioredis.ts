/**
 * ioredis, for tests and the benchmark to look at Redis with a client other than the
 * registry's own (`lib/registry/redis_client.ts`). Test-only, so named by full `npm:`
 * specifier and locked in `deno.test.lock` (see `fast_check.ts`).
 */
export { Redis, type RedisOptions } from "npm:ioredis@^6.0.0";
