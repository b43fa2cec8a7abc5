import { quietLog } from "../../lib/common/testing/log.ts";
import { MemoryRegistry, MemoryStore } from "@cascade/registry/memory";
import { configureLogging } from "@cascade/common/log";
import { apiSuite } from "./app_cases.ts";

configureLogging({ level: "error" });

apiSuite("createApiApp() over MemoryRegistry", () =>
  Promise.resolve({
    open: () => Promise.resolve(new MemoryRegistry({ store: new MemoryStore(), log: quietLog })),
    async [Symbol.asyncDispose]() {},
  }));
