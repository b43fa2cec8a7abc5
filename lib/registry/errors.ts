/**
 * The one error registry callers catch: the backing store cannot be reached (Redis down,
 * slow or the registry closed). Callers keep running, retry on their next tick and
 * re-announce on reconnect.
 */
export class RegistryUnavailableError extends Error {
  override name = "RegistryUnavailableError";

  constructor(detail: string, options?: ErrorOptions) {
    super(`Registry unavailable: ${detail}`, options);
  }
}
