/**
 * The API's endpoint cases (`api/src/app_cases.ts`) over a real redis-server through
 * `RedisRegistry`: the same answers as over `MemoryRegistry`, with every case on its own
 * key prefix of one server.
 */
import { configureLogging } from "@cascade/common/log";
import { quietLog } from "../lib/common/testing/log.ts";
import { RedisRegistry } from "@cascade/registry/redis";
import { apiSuite } from "../api/src/app_cases.ts";
import { startRedis } from "./helpers/redis.ts";

configureLogging({ level: "error" });

apiSuite("createApiApp() over RedisRegistry", async () => {
  const server = await startRedis();
  let n = 0;
  return {
    open: () =>
      Promise.resolve(
        new RedisRegistry({ url: server.url, prefix: `api${++n}:`, log: quietLog }),
      ),
    [Symbol.asyncDispose]: () => server[Symbol.asyncDispose](),
  };
});
