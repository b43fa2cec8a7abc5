/**
 * `StreamSubscriptions` against a real `MemoryRegistry` that counts its stream subscriptions,
 * on a clock the test moves: an edge hears the streams it was asked for and nothing else,
 * lets go of names nobody asks for, and tries again after a failed subscription.
 */
import assert from "node:assert/strict";
import { quietLog } from "../../lib/common/testing/log.ts";
import type { RegistryEvent, RegistryEventHandler } from "@cascade/registry";
import { waitFor } from "../../tests/helpers/wait.ts";
import { CountingRegistry, registryEvents, streamRecord } from "../testing/registry.ts";
import { StreamSubscriptions, type StreamSubscriptionsOptions } from "./stream_subscriptions.ts";

/** Counts the subscriptions made and those still held. */
class SubscribingRegistry extends CountingRegistry {
  subscribed = 0;
  held = 0;
  override async subscribeStream(name: string, handler: RegistryEventHandler) {
    const off = await super.subscribeStream(name, handler);
    this.subscribed++;
    this.held++;
    let done = false;
    return () => {
      if (!done) this.held--;
      done = true;
      off();
    };
  }
}

interface Setup extends AsyncDisposable {
  registry: SubscribingRegistry;
  subscriptions: StreamSubscriptions;
  clock: { now: number };
  events: [string, string][];
  forgotten: string[];
  claim(name: string, updatedAt?: number): Promise<void>;
}

function setup(opts: Partial<StreamSubscriptionsOptions> = {}): Setup {
  const registry = new SubscribingRegistry({ log: quietLog });
  const clock = { now: 0 };
  const subscriptions = new StreamSubscriptions({
    registry,
    log: quietLog,
    idleMs: 10_000,
    clock: () => clock.now,
    ...opts,
  });
  const events: [string, string][] = [];
  const forgotten: string[] = [];
  subscriptions.listen({
    event: (e: RegistryEvent) => void events.push([e.type, e.name]),
    forget: (name) => void forgotten.push(name),
  });
  return {
    registry,
    subscriptions,
    clock,
    events,
    forgotten,
    async claim(name, updatedAt = 1_000) {
      const url = "http://o1:8081";
      assert.ok((await registry.claimStream(streamRecord(name, url, { updatedAt }), 60_000)).ok);
    },
    async [Symbol.asyncDispose]() {
      subscriptions.close();
      await registry.close();
    },
  };
}

Deno.test("StreamSubscriptions hears the streams it was asked for, and only those", async () => {
  await using s = setup();
  s.subscriptions.asked("cam");
  s.subscriptions.asked("cam");
  await registryEvents();
  await s.claim("cam");
  await s.claim("other");
  await s.claim("cam", 2_000);
  await s.claim("other", 2_000);
  await registryEvents();
  assert.deepEqual(s.events, [["stream.up", "cam"], ["stream.update", "cam"]]);
  assert.equal(s.registry.subscribed, 1);
  assert.deepEqual(s.subscriptions.names(), ["cam"]);
});

Deno.test("StreamSubscriptions.sweep() lets go of names not asked for within idleMs", async () => {
  await using s = setup();
  s.subscriptions.asked("a");
  s.subscriptions.asked("b");
  s.clock.now = 5_000;
  s.subscriptions.asked("a");
  await registryEvents();
  s.clock.now = 10_000;
  s.subscriptions.sweep();
  assert.deepEqual(s.subscriptions.names(), ["a"]);
  assert.deepEqual(s.forgotten, ["b"]);
  assert.equal(s.registry.held, 1);
  await s.claim("b");
  await registryEvents();
  assert.deepEqual(s.events, [], "b is no longer heard");
  // Asked for again, it is heard again.
  s.subscriptions.asked("b");
  await registryEvents();
  await s.claim("b", 2_000);
  await registryEvents();
  assert.deepEqual(s.events, [["stream.update", "b"]]);
  assert.equal(s.registry.held, 2);
});

Deno.test("StreamSubscriptions sweeps by itself every idleMs / 2", async () => {
  await using s = setup({ idleMs: 20, clock: () => performance.now() });
  s.subscriptions.asked("cam");
  await waitFor("cam to be let go", () => s.forgotten.includes("cam"));
  assert.deepEqual(s.subscriptions.names(), []);
  assert.equal(s.registry.held, 0);
});

Deno.test("StreamSubscriptions holds at most maxNames, the least recently asked going first", async () => {
  await using s = setup({ maxNames: 2 });
  for (const name of ["a", "b", "a", "c"]) s.subscriptions.asked(name);
  await registryEvents();
  assert.deepEqual(s.subscriptions.names(), ["a", "c"]);
  assert.deepEqual(s.forgotten, ["b"]);
  assert.equal(s.registry.held, 2);
});

Deno.test("StreamSubscriptions tries a failed subscription again at the next request", async () => {
  await using s = setup();
  s.registry.setOnline(false);
  s.subscriptions.asked("cam");
  await registryEvents();
  assert.deepEqual(s.subscriptions.names(), []);
  s.registry.setOnline(true);
  s.subscriptions.asked("cam");
  await registryEvents();
  await s.claim("cam");
  await registryEvents();
  assert.deepEqual(s.events, [["stream.up", "cam"]]);
});

Deno.test("StreamSubscriptions.close() lets go of every stream and subscribes no more", async () => {
  await using s = setup();
  s.subscriptions.asked("cam");
  await registryEvents();
  s.subscriptions.close();
  s.subscriptions.asked("other");
  await registryEvents();
  await s.claim("cam");
  await s.claim("other");
  await registryEvents();
  assert.deepEqual(s.events, []);
  assert.equal(s.registry.held, 0);
  assert.equal(s.registry.subscribed, 1);
});
