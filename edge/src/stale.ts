/**
 * A live playlist whose origin cannot be reached is served from the cache, stale, for up to
 * `STALE_TARGETS` target durations: the time another origin has to take the stream over
 * (docs/architecture.md, "Failover and standby") before players see an error; they keep
 * polling meanwhile and play their buffer. After that, an origin that cannot be reached at
 * all makes the stream a 404, while one that answers badly stays a 502.
 */
import { HttpError } from "@cascade/common/http_errors";
import { type ByteLru, type CachedObject, cacheKey } from "./cache.ts";
import type { OriginFetchError } from "./origin_client.ts";
import { keyedFile, type MediaTarget } from "./paths.ts";
import { type Source, targetSeconds } from "./source.ts";

/** Target durations a playlist is served stale while its origin cannot be reached. */
export const STALE_TARGETS = 3;

/**
 * The playlist to serve for `target` after `failure`, from the copy cached under the first
 * of `sources` that has one; throws when there is none young enough.
 */
export function staleOrThrow(
  cache: ByteLru<CachedObject>,
  target: MediaTarget,
  sources: Source[],
  failure: OriginFetchError,
  now: number,
): { obj: CachedObject; source: Source } {
  let expired = false;
  for (const source of sources) {
    const obj = cache.peek(cacheKey(source.broadcast, keyedFile(target)));
    if (obj === undefined) continue;
    if (now - obj.fetchedAt <= STALE_TARGETS * targetSeconds(obj, source) * 1000) {
      return { obj, source };
    }
    expired = true;
  }
  if (expired && ["connect", "network", "timeout"].includes(failure.reason)) {
    throw new HttpError(404, "stream_unreachable", `Stream unreachable: ${target.name}`);
  }
  throw failure;
}
