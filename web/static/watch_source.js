// @ts-check
/// <reference lib="dom" />
/**
 * The watch page's playlists and what it learns from them before starting a player. A
 * stream has a TS playlist, `index.m3u8`, wherever it is served (a Cascade origin or
 * nginx-rtmp's), and, where its origin packages Low-Latency HLS, `ll.m3u8` beside it (the
 * playback API's `hls` and `llhls`). The page cannot ask the API, which signs only for the
 * operator's backend, so it asks the edge that served it: liveness always comes from
 * `index.m3u8`, and `ll.m3u8` is played only when the edge answers it with a playlist. Both
 * URLs are root-relative and carry the page's `?token=`: a token binds the stream, not a
 * file, so one token plays either playlist. A stream with renditions (`TRANSCODE_PROFILE`)
 * also has `master.m3u8`, the multivariant playlist, which the page plays when it lists more
 * than the source (the token covers the renditions too); where LL-HLS is served as well,
 * `ll_master.m3u8`, whose variants are the rungs' `ll.m3u8`, is played in its place.
 */

/**
 * @typedef {{status: "live" | "ended" | "missing" | "forbidden" | "error", tail: string | null, detail?: string}} Probe
 * `tail` is the last segment line of the playlist; `detail` the edge's error code when it
 * refuses, or what went wrong.
 */

/**
 * `url` with `?token=` added when the page has one and the URL has none (hls.js passes the
 * URIs of a playlist the edge already signed).
 * @param {string} url
 * @param {string | null} token
 */
export function withToken(url, token) {
  if (token === null) return url;
  const u = new URL(url, location.href);
  if (!u.searchParams.has("token")) u.searchParams.set("token", token);
  return u.href;
}

/**
 * The stream's TS (`hls`) and Low-Latency (`llhls`) playlist URLs on this host.
 * @param {string} name
 * @param {string | null} token
 */
export function playlistUrls(name, token) {
  const base = `/live/${encodeURIComponent(name)}/`;
  return {
    hls: withToken(`${base}index.m3u8`, token),
    llhls: withToken(`${base}ll.m3u8`, token),
    master: withToken(`${base}master.m3u8`, token),
    llmaster: withToken(`${base}ll_master.m3u8`, token),
  };
}

/** @param {string} text */
function lastSegment(text) {
  const lines = text.split(/\r?\n/);
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = (lines[i] ?? "").trim();
    if (line !== "" && !line.startsWith("#")) return line;
  }
  return null;
}

/**
 * Fetches a playlist once and says what it shows.
 * @param {string} url
 * @returns {Promise<Probe>}
 */
export async function probe(url) {
  try {
    const res = await fetch(url, { cache: "no-store" });
    if (res.status === 404 || res.status === 410) return { status: "missing", tail: null };
    if (res.status === 401 || res.status === 403) {
      const body = await res.json().catch(() => null);
      return { status: "forbidden", tail: null, detail: String(body?.error?.code ?? "") };
    }
    if (!res.ok) {
      return { status: "error", tail: null, detail: `the server answered ${res.status}` };
    }
    const text = await res.text();
    if (!text.startsWith("#EXTM3U")) {
      return { status: "error", tail: null, detail: "the server did not send a playlist" };
    }
    const tail = lastSegment(text);
    if (/^#EXT-X-ENDLIST/m.test(text)) return { status: "ended", tail };
    return { status: tail === null ? "missing" : "live", tail };
  } catch {
    return { status: "error", tail: null, detail: "no network connection to it" };
  }
}

/**
 * Whether the edge serves the LL playlist at `url` for a live stream. A plain GET (no
 * blocking-reload directives) is answered at once; an origin without LL-HLS (nginx-rtmp,
 * `HLS_LL=false`) makes it a 404, and the page plays the TS playlist instead. A playlist
 * listing only parts of its first segment is live too.
 * @param {string} url
 */
export async function offersLowLatency(url) {
  try {
    const res = await fetch(url, { cache: "no-store" });
    if (!res.ok) return false;
    const text = await res.text();
    return text.startsWith("#EXTM3U") && !/^#EXT-X-ENDLIST/m.test(text);
  } catch {
    return false;
  }
}

/**
 * True when the stream's multivariant playlist lists renditions beside the source.
 * @param {string} url
 */
export async function offersRenditions(url) {
  try {
    const res = await fetch(url, { cache: "no-store" });
    if (!res.ok) return false;
    const text = await res.text();
    return text.startsWith("#EXTM3U") && text.split("#EXT-X-STREAM-INF:").length > 2;
  } catch {
    return false;
  }
}
