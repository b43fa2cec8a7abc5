/**
 * The transcoder as a role of its own in a cluster (`deno task transcoder`): every 2 s it
 * lists the live streams and the transcoder nodes in the registry, and for each source this
 * node ranks first for by rendezvous (`assign.ts`) whose profile asks for rungs below its
 * height, pulls it from its origin into a local hub (`SourceFeed`). The same `Transcoder`
 * that runs beside origins makes `{name}_{rung}` on that hub, and each rendition is pushed
 * back to the source's origin (`RenditionPush`), which packages and announces it like its own.
 * A source whose record goes away, moves to another origin or to another transcoder node is
 * let go. See docs/architecture.md, "Adaptive bitrate".
 */
import type { Logger } from "@cascade/common/log";
import type { MetricsRegistry } from "@cascade/common/metrics";
import { sourceOf } from "@cascade/common/renditions";
import type { Registry, StreamRecord } from "@cascade/registry/types";
import { StreamHub } from "@cascade/stream/hub";
import { ownedSources, wantedRungs } from "./assign.ts";
import type { TranscoderConfig } from "./config.ts";
import { startTranscoder, type Transcoder } from "./mod.ts";
import { RenditionPush, SourceFeed } from "./remote.ts";

/** How often the registry's live list is read. */
export const POLL_MS = 2000;

export interface TranscoderRoleOptions {
  /** This node's id, as its heartbeat announces it. */
  id: string;
  registry: Registry;
  log: Logger;
  metrics: MetricsRegistry;
  config: TranscoderConfig;
  /** The origins' `HOOK_TOKEN`. */
  token: string;
  pollMs?: number;
}

export class TranscoderRole {
  /** The local hub: sources pulled in, renditions made. */
  readonly hub: StreamHub;
  readonly transcoder: Transcoder;
  readonly #o: TranscoderRoleOptions;
  readonly #log: Logger;
  readonly #feeds = new Map<string, SourceFeed>();
  readonly #pushes = new Set<RenditionPush>();
  /** `{name}@{startedAt}` of broadcasts whose profile gives no rungs: not asked again. */
  #skip = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #polling: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(o: TranscoderRoleOptions, hub: StreamHub, transcoder: Transcoder) {
    this.#o = o;
    this.#log = o.log;
    this.hub = hub;
    this.transcoder = transcoder;
    o.metrics.gauge("cascade_transcoder_sources", "Sources pulled from origins")
      .collect(() => this.#feeds.size);
    o.metrics.gauge("cascade_transcoder_pushes", "Renditions pushed to origins")
      .collect(() => this.#pushes.size);
    hub.on((e) => {
      if (e.type !== "publish.start") return;
      const of = sourceOf(e.stream.info.name);
      const feed = of && this.#feeds.get(of.source);
      if (!feed) return;
      const push = new RenditionPush(e.stream, feed.originUrl, this.#links());
      this.#pushes.add(push);
      push.done.then(() => this.#pushes.delete(push));
    });
  }

  /** Starts the local transcoder and the registry polling. */
  static async start(o: TranscoderRoleOptions): Promise<TranscoderRole> {
    const log = o.log.child({ component: "transcoder_role" });
    const hub = new StreamHub(log, o.metrics);
    const transcoder = await startTranscoder(o.config, {
      hub,
      log,
      metrics: o.metrics,
      registry: o.registry,
    });
    const role = new TranscoderRole({ ...o, log }, hub, transcoder);
    role.#schedule(0);
    return role;
  }

  /** Sources this node pulls now (its heartbeat's load). */
  get load(): number {
    return this.#feeds.size;
  }

  /** Stops polling, lets every source go and stops the renditions. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#polling;
    const feeds = [...this.#feeds.values()];
    for (const f of feeds) f.stop();
    this.#feeds.clear();
    await this.transcoder.close();
    const pushes = [...this.#pushes];
    for (const p of pushes) p.stop();
    await Promise.all([...feeds, ...pushes].map((x) => x.done));
  }

  #schedule(ms: number): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#polling = this.#poll()
        .catch((err) => this.#log.error("transcoder.poll_failed", { error: err }))
        .finally(() => this.#schedule(this.#o.pollMs ?? POLL_MS));
    }, ms);
  }

  async #poll(): Promise<void> {
    const registry = this.#o.registry;
    let owned: Map<string, StreamRecord>;
    try {
      const [streams, nodes] = await Promise.all([
        registry.listStreams(),
        registry.listNodes("transcoder"),
      ]);
      owned = ownedSources(streams, nodes, this.#o.id);
      const live = new Set(streams.map(skipKey));
      this.#skip = new Set([...this.#skip].filter((k) => live.has(k)));
    } catch (err) {
      // Keep what runs: the origins keep their streams through a registry outage too.
      this.#log.warn("transcoder.registry_unavailable", { error: err });
      return;
    }
    for (const [name, feed] of this.#feeds) {
      const record = owned.get(name);
      if (record?.originUrl === feed.originUrl) continue;
      this.#log.info("transcoder.source_released", {
        stream: name,
        reason: record ? "moved to another origin" : "not live or not ours",
      });
      feed.stop();
      this.#feeds.delete(name);
    }
    for (const [name, record] of owned) {
      if (this.#feeds.has(name) || this.#closed || !(await this.#wanted(record))) continue;
      this.#log.info("transcoder.source_taken", { stream: name, origin: record.originUrl });
      this.#feeds.set(name, new SourceFeed(name, record.originUrl, this.#links()));
    }
  }

  /** Whether the stream's profile gives it rungs (its stream config's, else the default). */
  async #wanted(record: StreamRecord): Promise<boolean> {
    const key = skipKey(record);
    if (this.#skip.has(key)) return false;
    let profile = this.#o.config.TRANSCODE_PROFILE;
    try {
      profile = (await this.#o.registry.getStreamConfig(record.name))?.transcode ?? profile;
    } catch (err) {
      this.#log.warn("transcode.config_unreadable", { stream: record.name, error: err });
      return false;
    }
    if (wantedRungs(record.name, profile, record.media?.height ?? null).length > 0) return true;
    this.#skip.add(key);
    return false;
  }

  #links() {
    return { hub: this.hub, log: this.#log, token: this.#o.token };
  }
}

function skipKey(record: StreamRecord): string {
  return `${record.name}@${record.startedAt}`;
}
