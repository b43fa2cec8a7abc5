import assert from "node:assert/strict";
import { waitFor } from "../../tests/helpers/wait.ts";
import { quietLog } from "../common/testing/log.ts";
import { type ContractBackend, registryContract } from "./testing/contract.ts";
import { streamRecord } from "./testing/records.ts";
import { RegistryUnavailableError } from "./errors.ts";
import { MemoryRegistry, MemoryStore } from "./memory.ts";

function memoryBackend(): Promise<ContractBackend> {
  const store = new MemoryStore();
  const clients: MemoryRegistry[] = [];
  return Promise.resolve({
    open() {
      const registry = new MemoryRegistry({ store, log: quietLog });
      clients.push(registry);
      return registry;
    },
    outage() {
      for (const c of clients) c.setOnline(false);
      return Promise.resolve();
    },
    recover() {
      store.flush();
      for (const c of clients) c.setOnline(true);
      return Promise.resolve();
    },
    dispose: () => Promise.resolve(),
  });
}

registryContract("MemoryRegistry", memoryBackend);

Deno.test("MemoryRegistry expires claims even when nobody reads them", async () => {
  const registry = new MemoryRegistry();
  try {
    const downs: string[] = [];
    await registry.subscribe((e) => {
      if (e.type === "stream.down") downs.push(e.name);
    });
    await registry.claimStream(streamRecord("cam1", "o1"), 50);
    await waitFor("the expiry timer", () => downs.length === 1);
    assert.deepEqual(downs, ["cam1"]);
  } finally {
    await registry.close();
  }
});

Deno.test("MemoryRegistry.close() of one client leaves the shared store to others", async () => {
  const store = new MemoryStore();
  const a = new MemoryRegistry({ store });
  const b = new MemoryRegistry({ store });
  try {
    await a.claimStream(streamRecord("cam1", "o1"), 60_000);
    await a.close();
    await assert.rejects(a.getStream("cam1"), RegistryUnavailableError);
    assert.equal((await b.getStream("cam1"))?.originId, "o1");
  } finally {
    await b.close();
  }
});

Deno.test("MemoryRegistry.setOnline(true) runs reconnect callbacks only after an outage", async () => {
  const registry = new MemoryRegistry();
  try {
    let calls = 0;
    registry.onReconnect(() => calls++);
    registry.setOnline(true);
    assert.equal(calls, 0);
    registry.setOnline(false);
    await assert.rejects(registry.listStreams(), RegistryUnavailableError);
    registry.setOnline(true);
    assert.equal(calls, 1);
    assert.deepEqual(await registry.listStreams(), []);
  } finally {
    await registry.close();
  }
});
