/**
 * Registry support for edge tests: a `MemoryRegistry` that counts stream lookups (how tests
 * prove that a refused request never reached the registry, or that a memo held), a builder
 * for the stream record an origin would claim, and a way to let the registry's events
 * (delivered asynchronously) arrive before the test goes on.
 */
import { MemoryRegistry } from "@cascade/registry/memory";
import type { StreamRecord } from "@cascade/registry/types";

/** A `MemoryRegistry` that counts `getStream` calls. */
export class CountingRegistry extends MemoryRegistry {
  gets = 0;
  override getStream(name: string) {
    this.gets++;
    return super.getStream(name);
  }
}

/** The claim of `name` by the origin at `originUrl` (id `origin-1` unless `over` says). */
export function streamRecord(
  name: string,
  originUrl: string,
  over: Partial<StreamRecord> = {},
): StreamRecord {
  return {
    name,
    originId: "origin-1",
    originUrl,
    manifest: `${originUrl}/live/${name}/index.m3u8`,
    startedAt: 1_000,
    updatedAt: 1_000,
    targetDuration: 2,
    mediaSequence: 100,
    ...over,
  };
}

/** Resolves once the registry's pending events have been delivered. */
export function registryEvents(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
