/**
 * The stream registry: who is live on which origin, which nodes exist, stream
 * configuration and key lookups, and stream events. `RedisRegistry` for clusters,
 * `MemoryRegistry` for the all-in-one node and tests; import `./memory` alone to leave
 * the Redis client out.
 */
export * from "./types.ts";
export { RegistryUnavailableError } from "./errors.ts";
export { MemoryRegistry, type MemoryRegistryOptions, MemoryStore } from "./memory.ts";
export { DEFAULT_PREFIX, RedisRegistry, type RedisRegistryOptions } from "./redis.ts";
