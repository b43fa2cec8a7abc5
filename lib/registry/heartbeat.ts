/**
 * Node heartbeats: announce a node record now, every interval, and right after the
 * registry reconnects, so a node reappears quickly after a Redis restart and disappears
 * by TTL when its process dies. Shared by both registry backends.
 */
import type { Logger } from "@cascade/common/log";
import { RegistryUnavailableError } from "./errors.ts";
import type { Heartbeat, NodeRecord, Registry } from "./types.ts";

export function startHeartbeat(
  registry: Registry,
  node: NodeRecord | (() => NodeRecord),
  intervalMs: number,
  ttlMs: number,
  log: Logger,
): Heartbeat {
  if (!(intervalMs > 0) || !(ttlMs > intervalMs)) {
    throw new RangeError(
      `Invalid heartbeat: TTL ${ttlMs} ms must exceed interval ${intervalMs} ms`,
    );
  }
  const current = () => typeof node === "function" ? node() : node;
  let stopped = false;
  let failing = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const beat = async () => {
    const record = current();
    try {
      await registry.announceNode(record, ttlMs);
      if (failing) log.info("heartbeat.recovered", { kind: record.kind, id: record.id });
      failing = false;
    } catch (err) {
      // One line per outage, not one per beat.
      if (!failing) {
        const level = err instanceof RegistryUnavailableError ? "warn" : "error";
        log[level]("heartbeat.failed", { kind: record.kind, id: record.id, error: err });
      }
      failing = true;
    }
  };
  const run = () => {
    if (stopped) return;
    inFlight = inFlight.then(beat);
  };
  const schedule = () => {
    timer = setTimeout(() => {
      run();
      inFlight.then(() => {
        if (!stopped) schedule();
      });
    }, intervalMs);
  };

  run();
  schedule();
  const offReconnect = registry.onReconnect(run);

  return {
    async stop({ remove = true } = {}) {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      offReconnect();
      await inFlight;
      if (!remove) return;
      const record = current();
      try {
        await registry.removeNode(record.kind, record.id);
      } catch (err) {
        log.warn("heartbeat.remove_failed", { kind: record.kind, id: record.id, error: err });
      }
    },
  };
}
