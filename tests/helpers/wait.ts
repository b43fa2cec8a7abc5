/**
 * Deadline-based waiting for tests: poll a condition until it holds or the deadline passes.
 * Tests use this instead of fixed sleeps, so they are as fast as the system allows and
 * fail with a message that says what never happened. A check that knows the condition can
 * never hold any more (the program it waits on has exited) throws `GiveUp`, which ends the
 * wait at once instead of costing the whole timeout.
 */

/** Resolves after `ms` (used only between polls of a condition). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Thrown by a `waitFor` check to stop waiting now: the condition can no longer come true. */
export class GiveUp extends Error {
  override name = "GiveUp";
}

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than `undefined`, `null` or
 * `false`, and returns that value; throws naming `what` when `timeoutMs` passes first. A
 * `GiveUp` thrown by `check` is rethrown at once; any other error counts as "not yet" (a
 * server not listening yet refuses the connection) and the last one is reported on timeout.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  { timeoutMs = 10_000, intervalMs = 50 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? `: last error: ${lastError.message}` : "";
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await delay(intervalMs);
  }
}
