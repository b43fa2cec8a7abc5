/**
 * Graceful shutdown for composition roots: SIGINT/SIGTERM run the registered cleanups in
 * reverse order of registration, bounded by a deadline; a second signal (more than a second
 * after the first) or the deadline exits at once.
 */
import { log } from "./log.ts";

export type Cleanup = () => void | Promise<void>;

/**
 * Installs signal handlers once; returns `register(cleanup)`. After the cleanups finish the
 * process exits with code 0 (1 when a cleanup failed or the deadline passed).
 */
export function onShutdown(deadlineMs = 5000): (cleanup: Cleanup) => void {
  const cleanups: Cleanup[] = [];
  let stopping = false;
  let firstSignalAt = 0;
  const handler = async (signal: Deno.Signal) => {
    if (stopping) {
      // `deno task` forwards the terminal's Ctrl-C, which this process also got itself: only
      // a signal that comes later is a second Ctrl-C.
      if (performance.now() - firstSignalAt < 1000) return;
      log.warn("shutdown.forced", { signal });
      Deno.exit(1);
    }
    stopping = true;
    firstSignalAt = performance.now();
    log.info("shutdown.start", { signal });
    const timer = setTimeout(() => {
      log.error("shutdown.deadline", { ms: deadlineMs });
      Deno.exit(1);
    }, deadlineMs);
    let code = 0;
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        code = 1;
        log.error("shutdown.cleanup_failed", { error: err });
      }
    }
    clearTimeout(timer);
    log.info("shutdown.done");
    Deno.exit(code);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => void handler(signal));
  }
  return (cleanup) => cleanups.push(cleanup);
}
