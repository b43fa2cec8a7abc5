// @ts-check
/// <reference lib="dom" />
/**
 * The dashboard's live view: live streams (with what their origins measured of each encoder,
 * and a warning with the fix when an encoder needs one) and origins and edges, from the
 * server's event stream (one snapshot per change; polling when event streams are
 * unavailable), plus the table helpers the admin part (`dashboard.js`) shares. The cards
 * with thumbnails and graphs of the last minutes come from `dashboard_graphs.js`. Everything
 * the server sends is put into the page as text, never as markup.
 */
import {
  recordSnapshot,
  renderNodeCards,
  renderStreamCards,
  startThumbnails,
} from "./dashboard_graphs.js";

const EVENTS_URL = "/api/v1/dashboard/events";
const SNAPSHOT_URL = "/api/v1/dashboard";
const POLL_MS = 3000;
/** Column of the uptime in the live table, which `tickUptimes` moves every second. */
const LIVE_UPTIME_CELL = 7;

/**
 * @typedef {{id: string, region: string}} EdgeRef
 * @typedef {{code: string, message: string}} StreamWarning
 * @typedef {{name: string, originId: string, originRegion: string | null, standby: string[],
 *   edges: EdgeRef[],
 *   startedAt: number, updatedAt: number, bitrate: number | null, codecs: string | null,
 *   width: number | null, height: number | null, keyframeInterval: number | null,
 *   frameRate: number | null, warnings: StreamWarning[], viewers: number | null,
 *   watchUrl: string, thumbnailUrl: string, renditions: string[]}} LiveStream
 * @typedef {{id: string, kind: "origin" | "edge", region: string, url: string,
 *   rtmpUrl: string | null, load: number, startedAt: number,
 *   health: "ok" | "failing" | "unreachable" | "unknown", cpu: number | null,
 *   rss: number | null, egressBitsPerSecond: number | null}} NodeInfo
 * @typedef {{at: number, registry: "ok" | "unavailable", streams: LiveStream[], nodes: NodeInfo[]}} Snapshot
 */

/** @param {string} id */
export function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`Missing element #${id}`);
  return el;
}

/** @param {string} id */
export function input(id) {
  return /** @type {HTMLInputElement} */ (byId(id));
}

const connection = byId("connection");
const liveRows = byId("live-rows");
const liveEmpty = byId("live-empty");
const liveCount = byId("live-count");
const nodeRows = byId("node-rows");
const nodesEmpty = byId("nodes-empty");
const liveWarnings = byId("live-warnings");
const streamCards = byId("stream-cards");
const nodeCards = byId("node-cards");

/** @type {Snapshot | null} */
let snapshot = null;
/** Server clock minus ours, so uptimes do not depend on this computer's clock. */
let clockOffset = 0;
/** @type {(snapshot: Snapshot) => void} */
let onSnapshot = () => {};

// ---- formatting

/** @param {number} seconds */
function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${pad(Math.floor(s / 60) % 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor(s / 3600) % 24} h`;
}

/** @param {number} startedAt epoch ms on the server's clock */
function since(startedAt) {
  return duration((Date.now() + clockOffset - startedAt) / 1000);
}

/** @param {number | null} bps */
function bitrate(bps) {
  if (bps === null) return "–";
  if (bps < 1_000_000) return `${Math.round(bps / 1000)} kb/s`;
  return `${(bps / 1_000_000).toFixed(1)} Mb/s`;
}

const AVC_PROFILES = /** @type {Record<string, string>} */ ({
  "42": "Baseline",
  "4d": "Main",
  "58": "Extended",
  "64": "High",
});

/** @param {string} codec an RFC 6381 codec string */
function codecName(codec) {
  const avc = /^avc[13]\.([0-9a-f]{2})[0-9a-f]{2}([0-9a-f]{2})$/i.exec(codec);
  if (avc) {
    const profile = AVC_PROFILES[(avc[1] ?? "").toLowerCase()] ?? "";
    const level = (parseInt(avc[2] ?? "0", 16) / 10).toFixed(1);
    return `H.264 ${profile} ${level}`.replace(/\s+/g, " ");
  }
  if (/^mp4a\.40\.(2|02)$/i.test(codec)) return "AAC";
  if (/^mp4a\.40\.(5|05)$/i.test(codec)) return "HE-AAC";
  return codec;
}

/** @param {LiveStream} s */
function videoSummary(s) {
  const parts = [];
  if (s.width && s.height) parts.push(`${s.width}×${s.height}`);
  if (s.codecs) parts.push(...s.codecs.split(",").map((c) => codecName(c.trim())));
  return parts.length > 0 ? parts.join(" · ") : "–";
}

const HEALTH = {
  ok: "Healthy",
  failing: "Failing",
  unreachable: "Unreachable",
  unknown: "Checking…",
};

// ---- rendering

/**
 * Keeps the rows of `tbody` in step with `items` by key, reusing rows so that focus and
 * selection survive updates.
 * @template T
 * @param {HTMLElement} tbody
 * @param {T[]} items
 * @param {(item: T) => string} key
 * @param {(row: HTMLTableRowElement, item: T) => void} fill
 */
export function syncRows(tbody, items, key, fill) {
  /** @type {Map<string, HTMLTableRowElement>} */
  const existing = new Map();
  for (const row of Array.from(tbody.children)) {
    existing.set(
      /** @type {HTMLElement} */ (row).dataset.key ?? "",
      /** @type {HTMLTableRowElement} */ (row),
    );
  }
  /** @type {HTMLTableRowElement | null} */
  let previous = null;
  for (const item of items) {
    const k = key(item);
    let row = existing.get(k);
    existing.delete(k);
    if (row === undefined) {
      row = document.createElement("tr");
      row.dataset.key = k;
    }
    fill(row, item);
    /** @type {Element | null} */
    const expected = previous === null ? tbody.firstElementChild : previous.nextElementSibling;
    if (expected !== row) tbody.insertBefore(row, expected);
    previous = row;
  }
  for (const row of existing.values()) row.remove();
}

/**
 * Sets the cells of `row` (creating them the first time), changing only what differs.
 * @param {HTMLTableRowElement} row
 * @param {Array<string | Node | {text: string, className?: string, title?: string}>} cells
 */
export function setCells(row, cells) {
  while (row.cells.length < cells.length) {
    row.append(document.createElement(row.cells.length === 0 ? "th" : "td"));
  }
  if (row.cells[0]) row.cells[0].setAttribute("scope", "row");
  cells.forEach((content, i) => {
    const cell = /** @type {HTMLTableCellElement} */ (row.cells[i]);
    if (content instanceof Node) {
      if (cell.firstChild === null || !cell.firstChild.isEqualNode(content)) {
        cell.replaceChildren(content);
      }
      return;
    }
    const spec = typeof content === "string" ? { text: content } : content;
    if (cell.textContent !== spec.text) cell.textContent = spec.text;
    cell.className = spec.className ?? "";
    if (spec.title) cell.title = spec.title;
    else cell.removeAttribute("title");
  });
}

/**
 * @param {string} href
 * @param {string} text
 */
function link(href, text) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  return a;
}

/**
 * @param {string} text
 * @param {string} state
 */
export function badge(text, state) {
  const span = document.createElement("span");
  span.className = "badge";
  span.dataset.state = state;
  span.textContent = text;
  return span;
}

function renderLive() {
  const streams = snapshot?.streams ?? [];
  liveEmpty.hidden = streams.length > 0;
  liveCount.textContent = streams.length > 0 ? `(${streams.length})` : "";
  syncRows(liveRows, streams, (s) => s.name, (row, s) => {
    row.dataset.stream = s.name;
    setCells(row, [
      link(s.watchUrl, s.name),
      originCell(s),
      s.edges.length > 0 ? s.edges.map((e) => `${e.id} (${e.region})`).join(", ") : "–",
      { text: bitrate(s.bitrate), className: "num" },
      {
        text: videoSummary(s) + (s.renditions.length > 0 ? ` · + ${s.renditions.join(", ")}` : ""),
        title: s.codecs ?? undefined,
      },
      keyframeCell(s),
      { text: s.frameRate === null ? "–" : `${s.frameRate} fps`, className: "num" },
      { text: since(s.startedAt), className: "num uptime" },
      { text: s.viewers === null ? "–" : `≈ ${s.viewers}`, className: "num" },
    ]);
  });
}

/**
 * The origin serving the stream, and those standing by to take it over.
 * @param {LiveStream} s
 */
function originCell(s) {
  const origin = s.originRegion ? `${s.originId} (${s.originRegion})` : s.originId;
  return s.standby.length > 0 ? `${origin}; standby: ${s.standby.join(", ")}` : origin;
}

/**
 * The keyframe interval, marked when the encoder's interval is longer than the origin's
 * segments (the warning's text is in the title and in the list above the table).
 * @param {LiveStream} s
 */
function keyframeCell(s) {
  const warning = s.warnings.find((w) => w.code === "keyframe_interval");
  return {
    text: s.keyframeInterval === null ? "–" : `${s.keyframeInterval.toFixed(1)} s`,
    className: warning ? "num warn" : "num",
    title: warning?.message,
  };
}

/** One line per encoder warning, with the stream's name and the fix. */
function renderWarnings() {
  const items = (snapshot?.streams ?? []).flatMap((s) =>
    s.warnings.map((w) => ({ key: `${s.name}:${w.code}`, stream: s.name, message: w.message }))
  );
  liveWarnings.hidden = items.length === 0;
  const list = items.map((item) => {
    const li = document.createElement("li");
    li.dataset.key = item.key;
    const name = document.createElement("strong");
    name.textContent = item.stream;
    li.append(name, `: ${item.message}`);
    return li;
  });
  const same = list.length === liveWarnings.children.length &&
    list.every((li, i) => li.isEqualNode(liveWarnings.children[i] ?? null));
  if (!same) liveWarnings.replaceChildren(...list);
}

function renderNodes() {
  const nodes = snapshot?.nodes ?? [];
  nodesEmpty.hidden = nodes.length > 0;
  syncRows(nodeRows, nodes, (n) => `${n.kind}:${n.id}`, (row, n) => {
    row.dataset.node = n.id;
    setCells(row, [
      n.id,
      n.kind === "origin" ? "Origin" : "Edge",
      n.region,
      badge(HEALTH[n.health] ?? n.health, n.health),
      { text: String(n.load), className: "num" },
      { text: since(n.startedAt), className: "num uptime" },
      n.rtmpUrl ? `${n.url} · ${n.rtmpUrl}` : n.url,
    ]);
  });
}

/** Uptimes move every second without a new snapshot. */
function tickUptimes() {
  if (snapshot === null) return;
  const streams = new Map(snapshot.streams.map((s) => [s.name, s]));
  for (const row of Array.from(liveRows.children)) {
    const s = streams.get(/** @type {HTMLElement} */ (row).dataset.stream ?? "");
    const cell = /** @type {HTMLTableRowElement} */ (row).cells[LIVE_UPTIME_CELL];
    if (s && cell) cell.textContent = since(s.startedAt);
  }
  const nodes = new Map(snapshot.nodes.map((n) => [n.id, n]));
  for (const row of Array.from(nodeRows.children)) {
    const n = nodes.get(/** @type {HTMLElement} */ (row).dataset.node ?? "");
    const cell = /** @type {HTMLTableRowElement} */ (row).cells[5];
    if (n && cell) cell.textContent = since(n.startedAt);
  }
}

/**
 * @param {string} text
 * @param {"connecting" | "ok" | "warning" | "error"} state
 */
function setConnection(text, state) {
  if (connection.textContent !== text) connection.textContent = text;
  connection.dataset.state = state;
}

/** @param {Snapshot} next */
function applySnapshot(next) {
  snapshot = next;
  clockOffset = next.at - Date.now();
  recordSnapshot(next);
  if (next.registry === "ok") setConnection("Live updates", "ok");
  else setConnection("Registry unreachable: showing the last known state", "warning");
  renderLive();
  renderWarnings();
  renderNodes();
  renderStreamCards(streamCards, next.streams);
  renderNodeCards(nodeCards, next.nodes);
  onSnapshot(next);
}

// ---- live data: server-sent events, or polling where they fail

/** @type {ReturnType<typeof setTimeout> | undefined} */
let pollTimer;

async function pollOnce() {
  try {
    const res = await fetch(SNAPSHOT_URL, { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    applySnapshot(await res.json());
  } catch {
    setConnection("Cannot reach the server: retrying", "error");
  }
  pollTimer = setTimeout(pollOnce, POLL_MS);
}

function connect() {
  if (typeof EventSource === "undefined") {
    void pollOnce();
    return;
  }
  const source = new EventSource(EVENTS_URL);
  source.addEventListener("snapshot", (event) => {
    applySnapshot(JSON.parse(/** @type {MessageEvent} */ (event).data));
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      // The server refused the stream (e.g. too many dashboards): poll instead.
      if (pollTimer === undefined) void pollOnce();
    } else {
      setConnection("Connection lost: reconnecting", "error");
    }
  });
}

/** The latest snapshot; null until the first arrives. */
export function currentSnapshot() {
  return snapshot;
}

/**
 * Starts following the server: `listener` hears each snapshot after the live tables show
 * it, and uptimes tick every second.
 * @param {(snapshot: Snapshot) => void} listener
 */
export function startLiveView(listener) {
  onSnapshot = listener;
  setInterval(tickUptimes, 1000);
  startThumbnails();
  connect();
}
