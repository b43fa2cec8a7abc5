/**
 * Publish authorization behind one interface. `static` maps configured keys to names,
 * `api` asks the API's publish hook, `open` (development only) publishes under the key
 * itself. The stream key is a secret: it is compared in constant time, sent only to the
 * hook, and never logged; callers log the resolved public name.
 */
import { STREAM_NAME_RE } from "@cascade/common/config";
import { reservedNameReason } from "@cascade/common/renditions";
import { safeEqual } from "@cascade/common/secrets";
import type {
  PublishAuthorizer,
  PublishDecision,
  PublishRequest,
} from "@cascade/common/publish_auth";

/** Keys operators may configure: 8–128 characters of `[A-Za-z0-9_-]`. */
export const CONFIGURED_KEY_RE = /^[A-Za-z0-9_-]{8,128}$/;

/** Parses `PUBLISH_KEYS=key=name,key2=name2`; throws `TypeError` naming the bad entry's position. */
export function parsePublishKeys(spec: string): Map<string, string> {
  const keys = new Map<string, string>();
  const entries = spec.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  entries.forEach((entry, i) => {
    const eq = entry.indexOf("=");
    const key = entry.slice(0, eq);
    const name = entry.slice(eq + 1);
    if (eq < 0 || !CONFIGURED_KEY_RE.test(key)) {
      throw new TypeError(`entry ${i + 1} needs a key of 8–128 characters of [A-Za-z0-9_-]`);
    }
    if (!STREAM_NAME_RE.test(name)) {
      throw new TypeError(`entry ${i + 1} has an invalid stream name`);
    }
    keys.set(key, name);
  });
  return keys;
}

export class StaticAuthorizer implements PublishAuthorizer {
  readonly mode = "static";
  readonly #entries: [string, string][];

  constructor(keys: Map<string, string>) {
    this.#entries = [...keys];
  }

  async authorize(req: PublishRequest): Promise<PublishDecision> {
    // Compare against every entry so the time taken does not depend on which one matched.
    let found: string | undefined;
    for (const [key, name] of this.#entries) {
      if (await safeEqual(key, req.key) && found === undefined) found = name;
    }
    return found ? { ok: true, name: found } : { ok: false, reason: "Unknown stream key" };
  }
}

export class OpenAuthorizer implements PublishAuthorizer {
  readonly mode = "open";

  authorize(req: PublishRequest): Promise<PublishDecision> {
    return Promise.resolve(
      STREAM_NAME_RE.test(req.key)
        ? { ok: true, name: req.key }
        : { ok: false, reason: "In open mode the key is the stream name: [a-z0-9_-], 1–64" },
    );
  }
}

/** Asks `POST {apiUrl}/api/v1/hooks/publish` (see docs/architecture.md, "Service hooks"). */
export class ApiAuthorizer implements PublishAuthorizer {
  readonly mode = "api";
  readonly #url: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(apiUrl: string, hookToken: string | undefined, timeoutMs = 3000) {
    this.#url = new URL("/api/v1/hooks/publish", apiUrl).href;
    this.#token = hookToken;
    this.#timeoutMs = timeoutMs;
  }

  async authorize(req: PublishRequest): Promise<PublishDecision> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let res: Response;
    try {
      res = await fetch(this.#url, {
        method: "POST",
        headers,
        body: JSON.stringify(req),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      return { ok: false, reason: `Publish hook unreachable: ${(err as Error).name}` };
    }
    const body = await res.json().catch(() => null) as { name?: unknown } | null;
    if (res.status === 200 && typeof body?.name === "string" && STREAM_NAME_RE.test(body.name)) {
      return { ok: true, name: body.name };
    }
    if (res.status === 200) {
      return { ok: false, reason: "Publish hook answered without a valid name" };
    }
    return {
      ok: false,
      reason: res.status === 403 ? "Publish refused" : `Publish hook answered ${res.status}`,
    };
  }
}

/**
 * Refuses a publish whose resolved name is reserved for a rendition (`x_480p`, see
 * lib/common/renditions.ts): those names belong to the transcoder, whatever key is used.
 */
export function refuseRenditionNames(inner: PublishAuthorizer): PublishAuthorizer {
  return {
    mode: inner.mode,
    async authorize(req) {
      const decision = await inner.authorize(req);
      if (!decision.ok) return decision;
      const reason = reservedNameReason(decision.name);
      return reason === undefined ? decision : { ok: false, reason };
    },
  };
}
