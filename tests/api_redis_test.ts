/**
 * The API's endpoint cases (`api/testing/`) over a real redis-server through
 * `RedisRegistry`: the same answers as over `MemoryRegistry`, with every case on its own
 * key prefix of one server.
 */
import { configureLogging } from "@cascade/common/log";
import { apiSuite, redisBackend } from "../api/testing/suite.ts";

configureLogging({ level: "error" });

apiSuite("createApiApp() over RedisRegistry", redisBackend);
