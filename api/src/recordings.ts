/**
 * A stream's recordings across the cluster, for `GET /api/v1/streams/{name}/recordings`. The
 * API cannot see the origins' disks, so it asks every origin the registry knows for its
 * listing (`GET {url}/recordings/{name}/`) in parallel, each within a short timeout, and
 * merges the answers oldest first. `HOOK_TOKEN` goes as bearer token only to the origins
 * `API_TRUSTED_ORIGINS` vouches for (`trusted_origins.ts`). An origin that fails, times out
 * or answers something unreadable is skipped and named in `unreachable`, so one dead origin
 * never hides the recordings of the others.
 */
import type { z } from "@hono/zod-openapi";
import type { Logger } from "@cascade/common/log";
import type { NodeRecord } from "@cascade/registry/types";
import { OriginRecordingList, type Recording } from "./schemas.ts";
import { trustsOrigin } from "./trusted_origins.ts";

export type RecordingView = z.infer<typeof Recording>;

export interface CollectOptions {
  /** Bearer token the origins' listings require (`HOOK_TOKEN`). */
  token: string | undefined;
  /** URL prefixes of the origins `token` may be sent to; undefined → every origin. */
  trustedOrigins: readonly string[] | undefined;
  /** Longest wait for one origin's whole answer. */
  timeoutMs: number;
  log: Logger;
}

export interface CollectedRecordings {
  /** Oldest first; a file two origins list under one URL appears once. */
  recordings: RecordingView[];
  /** Ids of the origins that gave no usable answer, sorted. */
  unreachable: string[];
}

/** Asks every origin in `origins` for the recordings of `name`; never throws for an origin. */
export async function collectRecordings(
  origins: NodeRecord[],
  name: string,
  opts: CollectOptions,
): Promise<CollectedRecordings> {
  const answers = await Promise.all(origins.map(async (origin) => {
    try {
      return { origin, listed: await askOrigin(origin, name, opts) };
    } catch (err) {
      opts.log.warn("recordings.origin_failed", { origin: origin.id, stream: name, error: err });
      return { origin, listed: null };
    }
  }));
  const recordings: RecordingView[] = [];
  const unreachable: string[] = [];
  const urls = new Set<string>();
  for (const { origin, listed } of answers) {
    if (listed === null) {
      unreachable.push(origin.id);
      continue;
    }
    for (const r of listed) {
      if (urls.has(r.url)) continue;
      urls.add(r.url);
      recordings.push({ ...r, originId: origin.id });
    }
  }
  recordings.sort((a, b) =>
    compare(a.startedAt, b.startedAt) || compare(a.file, b.file) ||
    compare(a.originId, b.originId)
  );
  return { recordings, unreachable: unreachable.sort(compare) };
}

/** One origin's listing, its URLs made absolute against the origin's own URL. */
async function askOrigin(
  origin: NodeRecord,
  name: string,
  opts: CollectOptions,
): Promise<Omit<RecordingView, "originId">[]> {
  const url = `${origin.url.replace(/\/+$/, "")}/recordings/${name}/`;
  // Without the token an origin that requires it answers 401 and is listed as unreachable.
  const token = trustsOrigin(opts.trustedOrigins, origin.url) ? opts.token : undefined;
  const abort = new AbortController();
  const timer = setTimeout(
    () => abort.abort(new Error(`No answer within ${opts.timeoutMs} ms`)),
    opts.timeoutMs,
  );
  try {
    const res = await fetch(url, {
      headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
      redirect: "error",
      signal: abort.signal,
    });
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`Origin answered ${res.status}`);
    }
    const parsed = OriginRecordingList.safeParse(await res.json());
    if (!parsed.success) {
      throw new TypeError(`Cannot read the origin's listing: ${parsed.error.issues[0]?.message}`);
    }
    return parsed.data.recordings.map((r) => ({
      ...r,
      url: new URL(r.url, url).href,
      ...(r.archiveUrl === undefined ? {} : { archiveUrl: new URL(r.archiveUrl, url).href }),
    }));
  } finally {
    clearTimeout(timer);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
