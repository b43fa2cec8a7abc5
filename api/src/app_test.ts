/**
 * The API's endpoint cases (`api/testing/`) over `MemoryRegistry`; `tests/api_redis_test.ts`
 * runs the same cases over Redis.
 */
import { configureLogging } from "@cascade/common/log";
import { apiSuite, memoryBackend } from "../testing/suite.ts";

configureLogging({ level: "error" });

apiSuite("createApiApp() over MemoryRegistry", memoryBackend);
