/**
 * The callbacks a registry client holds (event handlers, reconnect callbacks), kept the same
 * way by both backends: each `add` is its own subscription, as with Redis, so one function
 * added twice runs twice and each unsubscribe removes one; a callback that throws is logged
 * and never stops the others or the registry.
 */
import type { Logger } from "@cascade/common/log";
import type { Unsubscribe } from "./types.ts";

export class CallbackSet<Args extends unknown[]> {
  readonly #entries = new Set<(...args: Args) => void>();
  readonly #what: string;
  readonly #log: Logger;

  /** `what` names the callbacks in the `registry.callback_failed` log line. */
  constructor(what: string, log: Logger) {
    this.#what = what;
    this.#log = log;
  }

  add(cb: (...args: Args) => void): Unsubscribe {
    const entry = (...args: Args) => cb(...args);
    this.#entries.add(entry);
    return () => {
      this.#entries.delete(entry);
    };
  }

  get size(): number {
    return this.#entries.size;
  }

  clear(): void {
    this.#entries.clear();
  }

  /** Calls every callback added before this call. */
  run(...args: Args): void {
    for (const cb of [...this.#entries]) {
      try {
        cb(...args);
      } catch (err) {
        this.#log.error("registry.callback_failed", { callback: this.#what, error: err });
      }
    }
  }
}
