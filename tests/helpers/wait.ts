/**
 * Deadline-based waiting for tests: poll a condition until it holds or the deadline passes.
 * Tests use this instead of fixed sleeps, so they are as fast as the system allows and
 * fail with a message that says what never happened.
 */

/** Resolves after `ms` (used only between polls of a condition). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `check` every `intervalMs` until it returns a value other than `undefined`, `null` or
 * `false`,
 * and returns that value; throws `what` when `timeoutMs` passes first. Errors thrown by
 * `check` count as "not yet" and the last one is reported on timeout.
 */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  { timeoutMs = 10_000, intervalMs = 50 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (true) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? `: last error: ${lastError.message}` : "";
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await delay(intervalMs);
  }
}
