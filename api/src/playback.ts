/**
 * Playback URLs for one live stream and one viewer: the HLS URL on the edge chosen by
 * `rankEdges` (region, load threshold, rendezvous hashing), a few alternatives for player
 * failover, and, with a signing key, a `?token=` bound to the stream and an expiry that
 * edges verify. The origin's own manifest is handed out only when no edge is alive. Each
 * `hls` URL has an `llhls` twin naming the Low-Latency playlist (`ll.m3u8`) in the same
 * place with the same token — the token binds the stream name, not a file — or null when
 * the stream's origin serves no LL playlist (`StreamRecord.ll`). A stream with live renditions
 * (`{name}_{rung}`, docs/architecture.md "Adaptive bitrate") also gets `master`, its
 * multivariant playlist in the same place with the same token (which plays the renditions too),
 * and, when its origin serves LL-HLS too, `llmaster`: the multivariant playlist of the rungs'
 * LL playlists (`ll_master.m3u8`).
 */
import { signPlaybackToken } from "@cascade/common/playback_token";
import {
  LIVE_PLAYLIST,
  LL_MASTER_PLAYLIST,
  LL_PLAYLIST,
  MASTER_PLAYLIST,
} from "@cascade/media/hls/layout";
import type { NodeRecord, StreamRecord } from "@cascade/registry/types";
import { rankEdges } from "@cascade/registry/edge_selection";

/** Edges listed in a playback answer: the chosen one and two alternatives. */
export const MAX_EDGE_CHOICES = 3;

export interface PlaybackPlannerOptions {
  /** HMAC key of playback tokens; undefined → unsigned URLs. */
  signingKey?: string | undefined;
  /** Token lifetime when a plan asks for none. */
  tokenTtlSeconds: number;
  loadThreshold?: number | undefined;
  /** Epoch milliseconds. */
  now: () => number;
}

export interface PlaybackPlan {
  hls: string;
  /** The LL-HLS playlist beside `hls`; null when the stream offers none. */
  llhls: string | null;
  /** The multivariant playlist beside `hls`; null when the stream has no renditions. */
  master: string | null;
  /** The LL-HLS multivariant playlist beside `hls`; null without renditions or without LL. */
  llmaster: string | null;
  edges: { id: string; region: string; hls: string; llhls: string | null }[];
  /** Token expiry in epoch milliseconds; null when unsigned. */
  expiresAt: number | null;
}

/** `{base}/live/{name}/{playlist}` (default `index.m3u8`), the path every edge and origin serves. */
export function manifestUrl(baseUrl: string, name: string, playlist = LIVE_PLAYLIST): string {
  return `${baseUrl.replace(/\/+$/, "")}/live/${name}/${playlist}`;
}

export class PlaybackPlanner {
  readonly #opts: PlaybackPlannerOptions;

  constructor(opts: PlaybackPlannerOptions) {
    this.#opts = opts;
  }

  /**
   * Plans playback of `stream` for a viewer in `region` over the live `edges`, with a token
   * valid for `ttlSeconds` (default `tokenTtlSeconds`) when signing. Who may receive a
   * signed plan is the caller's decision (`playback_access.ts`). `renditions`: the stream
   * has live renditions, so `master` is given (and `llmaster` when it offers LL-HLS).
   */
  async plan(
    stream: StreamRecord,
    edges: readonly NodeRecord[],
    region: string | undefined,
    ttlSeconds: number = this.#opts.tokenTtlSeconds,
    renditions = false,
  ): Promise<PlaybackPlan> {
    let query = "";
    let expiresAt: number | null = null;
    if (this.#opts.signingKey !== undefined) {
      const expires = Math.floor(this.#opts.now() / 1000) + ttlSeconds;
      query = `?token=${await signPlaybackToken(this.#opts.signingKey, stream.name, expires)}`;
      expiresAt = expires * 1000;
    }
    const ranked = rankEdges(edges, stream.name, {
      region,
      loadThreshold: this.#opts.loadThreshold,
    }).slice(0, MAX_EDGE_CHOICES);
    const ll = stream.ll === true;
    const choices = ranked.map((edge) => ({
      id: edge.id,
      region: edge.region,
      hls: manifestUrl(edge.url, stream.name) + query,
      llhls: ll ? manifestUrl(edge.url, stream.name, LL_PLAYLIST) + query : null,
    }));
    const first = choices[0];
    const master = (base: string) =>
      renditions ? manifestUrl(base, stream.name, MASTER_PLAYLIST) + query : null;
    const llmaster = (base: string) =>
      renditions && ll ? manifestUrl(base, stream.name, LL_MASTER_PLAYLIST) + query : null;
    if (first !== undefined) {
      return {
        hls: first.hls,
        llhls: first.llhls,
        master: master(ranked[0]!.url),
        llmaster: llmaster(ranked[0]!.url),
        edges: choices,
        expiresAt,
      };
    }
    return {
      hls: withQuery(stream.manifest, query),
      master: master(stream.originUrl),
      llmaster: llmaster(stream.originUrl),
      llhls: ll ? manifestUrl(stream.originUrl, stream.name, LL_PLAYLIST) + query : null,
      edges: choices,
      expiresAt,
    };
  }
}

function withQuery(url: string, query: string): string {
  if (query === "") return url;
  return url.includes("?") ? `${url}&${query.slice(1)}` : url + query;
}
