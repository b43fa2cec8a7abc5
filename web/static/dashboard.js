// @ts-check
/// <reference lib="dom" />
/**
 * The dashboard: live streams and nodes from the server's event stream (one snapshot per
 * change; polling when event streams are unavailable), and stream management through the
 * API's admin routes with a token the operator types in. The token is kept in this tab's
 * sessionStorage only and sent only as an `Authorization` header to this origin's API; a
 * new stream key is shown once, from the API's answer, and removed from the page when the
 * operator confirms having saved it. Once unlocked, a stream's watch link asks the API for a
 * playback URL first and carries its `?token=` when playback is signed. Everything the
 * server sends is put into the page as text, never as markup.
 */

const EVENTS_URL = "/api/v1/dashboard/events";
const SNAPSHOT_URL = "/api/v1/dashboard";
const POLL_MS = 3000;
const TOKEN_STORAGE = "cascade.adminToken";
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * @typedef {{id: string, region: string}} EdgeRef
 * @typedef {{name: string, originId: string, originRegion: string | null, edges: EdgeRef[],
 *   startedAt: number, updatedAt: number, bitrate: number | null, codecs: string | null,
 *   width: number | null, height: number | null, viewers: number | null, watchUrl: string}} LiveStream
 * @typedef {{id: string, kind: "origin" | "edge", region: string, url: string,
 *   rtmpUrl: string | null, load: number, startedAt: number,
 *   health: "ok" | "failing" | "unreachable" | "unknown"}} NodeInfo
 * @typedef {{at: number, registry: "ok" | "unavailable", streams: LiveStream[], nodes: NodeInfo[]}} Snapshot
 * @typedef {{name: string, createdAt: string, disabled: boolean, record: boolean,
 *   live: boolean}} StreamConfig
 * @typedef {{name: string, streamKey: string, ingestUrls: string[], playbackUrl: string}} KeyGrant
 */

/** @param {string} id */
function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`Missing element #${id}`);
  return el;
}

/** @param {string} id */
function input(id) {
  return /** @type {HTMLInputElement} */ (byId(id));
}

const connection = byId("connection");
const liveRows = byId("live-rows");
const liveEmpty = byId("live-empty");
const liveCount = byId("live-count");
const nodeRows = byId("node-rows");
const nodesEmpty = byId("nodes-empty");
const tokenForm = /** @type {HTMLFormElement} */ (byId("token-form"));
const tokenInput = input("token-input");
const adminPanel = byId("admin-panel");
const adminMessage = byId("admin-message");
const createForm = /** @type {HTMLFormElement} */ (byId("create-form"));
const newName = input("new-name");
const newRecord = input("new-record");
const keyPanel = byId("key-panel");
const keyStream = byId("key-stream");
const obsServer = input("obs-server");
const obsKey = input("obs-key");
const copyStatus = byId("copy-status");
const configRows = byId("config-rows");
const configEmpty = byId("config-empty");

/** @type {Snapshot | null} */
let snapshot = null;
/** Server clock minus ours, so uptimes do not depend on this computer's clock. */
let clockOffset = 0;
/** @type {StreamConfig[]} */
let configs = [];

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
function syncRows(tbody, items, key, fill) {
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
function setCells(row, cells) {
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
function badge(text, state) {
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
      s.originRegion ? `${s.originId} (${s.originRegion})` : s.originId,
      s.edges.length > 0 ? s.edges.map((e) => `${e.id} (${e.region})`).join(", ") : "–",
      { text: bitrate(s.bitrate), className: "num" },
      { text: videoSummary(s), title: s.codecs ?? undefined },
      { text: since(s.startedAt), className: "num uptime" },
      { text: s.viewers === null ? "–" : `≈ ${s.viewers}`, className: "num" },
    ]);
  });
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
    const cell = /** @type {HTMLTableRowElement} */ (row).cells[5];
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
  if (next.registry === "ok") setConnection("Live updates", "ok");
  else setConnection("Registry unreachable: showing the last known state", "warning");
  renderLive();
  renderNodes();
  renderConfigs();
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

// ---- admin

class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function storedToken() {
  try {
    return sessionStorage.getItem(TOKEN_STORAGE);
  } catch {
    return null;
  }
}

/**
 * Calls an admin route with the stored token.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @param {string | null} [token]
 */
async function adminCall(method, path, body, token = storedToken()) {
  /** @type {Record<string, string>} */
  const headers = { Authorization: `Bearer ${token ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "Cannot reach the API. Check the connection and try again.");
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    const message = data?.error?.message ?? `The API answered ${res.status}`;
    throw new ApiError(res.status, explain(res.status, message));
  }
  return data;
}

/**
 * @param {number} status
 * @param {string} message the API's own words
 */
function explain(status, message) {
  switch (status) {
    case 401:
      return "The API refused the admin token. Check it and unlock again.";
    case 429:
      return "Too many wrong tokens from this address. Wait a minute, then try again.";
    case 503:
      return `The API cannot do this now: ${message}`;
    default:
      return message;
  }
}

/** @param {string} text an empty string hides the message */
function showAdminMessage(text) {
  adminMessage.textContent = text;
  adminMessage.hidden = text === "";
}

/** @param {unknown} err */
function reportAdminError(err) {
  const message = err instanceof Error ? err.message : String(err);
  showAdminMessage(message);
  if (err instanceof ApiError && err.status === 401) lock();
}

function lock() {
  try {
    sessionStorage.removeItem(TOKEN_STORAGE);
  } catch {
    // Storage unavailable: nothing was kept.
  }
  configs = [];
  hideKey();
  adminPanel.hidden = true;
  tokenForm.hidden = false;
}

async function loadConfigs() {
  const data = await adminCall("GET", "/api/v1/streams");
  configs = Array.isArray(data?.streams) ? data.streams : [];
  renderConfigs();
}

function renderConfigs() {
  if (adminPanel.hidden) return;
  const live = new Set((snapshot?.streams ?? []).map((s) => s.name));
  configEmpty.hidden = configs.length > 0;
  syncRows(configRows, configs, (c) => c.name, (row, c) => {
    row.dataset.stream = c.name;
    const isLive = snapshot === null ? c.live : live.has(c.name);
    const state = c.disabled ? "disabled" : isLive ? "live" : "idle";
    const label = c.disabled ? "Disabled" : isLive ? "Live" : "Idle";
    setCells(row, [
      c.name,
      badge(label, state),
      new Date(c.createdAt).toLocaleString(),
      actions(c),
    ]);
  });
}

/** @param {StreamConfig} c */
function actions(c) {
  const box = document.createElement("span");
  box.className = "actions";
  const rotate = document.createElement("button");
  rotate.type = "button";
  rotate.className = "secondary";
  rotate.textContent = "Rotate key";
  rotate.setAttribute("aria-label", `Rotate the key of ${c.name}`);
  rotate.dataset.action = "rotate";
  rotate.dataset.stream = c.name;
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = c.disabled ? "secondary" : "danger";
  toggle.textContent = c.disabled ? "Enable" : "Disable";
  toggle.setAttribute("aria-label", `${c.disabled ? "Enable" : "Disable"} ${c.name}`);
  toggle.dataset.action = c.disabled ? "enable" : "disable";
  toggle.dataset.stream = c.name;
  box.append(rotate, toggle);
  return box;
}

/** @param {KeyGrant} grant */
function showKey(grant) {
  const key = grant.streamKey;
  const suffix = `/${key}`;
  const ingest = grant.ingestUrls.find((u) => u.endsWith(suffix));
  keyStream.textContent = grant.name;
  obsServer.value = ingest
    ? ingest.slice(0, -suffix.length)
    : `rtmp://${location.hostname}:1935/live`;
  obsKey.value = key;
  copyStatus.textContent = "";
  keyPanel.hidden = false;
  keyPanel.focus();
}

function hideKey() {
  obsKey.value = "";
  obsServer.value = "";
  copyStatus.textContent = "";
  keyPanel.hidden = true;
}

/** @param {HTMLInputElement} field */
async function copy(field) {
  try {
    await navigator.clipboard.writeText(field.value);
  } catch {
    // Clipboard API missing (plain http) or denied: the legacy command copies a selection.
    field.select();
    if (!document.execCommand("copy")) {
      copyStatus.textContent = "Copying failed: the text is selected, press Ctrl+C (⌘C).";
      return;
    }
  }
  const what = field === obsKey ? "Stream key" : "Server";
  copyStatus.textContent = `${what} copied.`;
}

tokenForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (token === "") return;
  showAdminMessage("");
  try {
    const data = await adminCall("GET", "/api/v1/streams", undefined, token);
    sessionStorage.setItem(TOKEN_STORAGE, token);
    tokenInput.value = "";
    tokenForm.hidden = true;
    adminPanel.hidden = false;
    configs = Array.isArray(data?.streams) ? data.streams : [];
    renderConfigs();
    newName.focus();
  } catch (err) {
    showAdminMessage(err instanceof Error ? err.message : String(err));
  }
});

byId("forget-token").addEventListener("click", () => {
  lock();
  showAdminMessage("");
  tokenInput.focus();
});

createForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = newName.value.trim();
  if (!NAME_RE.test(name)) {
    showAdminMessage(
      "A stream name is 1–64 of a–z, 0–9, “-” and “_”, starting with a letter or digit.",
    );
    newName.focus();
    return;
  }
  showAdminMessage("");
  try {
    const grant = await adminCall("POST", "/api/v1/streams", { name, record: newRecord.checked });
    newName.value = "";
    newRecord.checked = false;
    showKey(grant);
    await loadConfigs();
  } catch (err) {
    reportAdminError(err);
  }
});

configRows.addEventListener("click", async (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest("button[data-action]");
  if (!(button instanceof HTMLButtonElement)) return;
  const name = button.dataset.stream ?? "";
  const action = button.dataset.action;
  const path = `/api/v1/streams/${encodeURIComponent(name)}`;
  showAdminMessage("");
  try {
    if (action === "rotate") {
      if (
        !confirm(`Make a new key for ${name}? The current key stops working for new broadcasts.`)
      ) {
        return;
      }
      showKey(await adminCall("POST", `${path}/rotate-key`));
    } else if (action === "disable") {
      if (!confirm(`Disable ${name}? A running broadcast is cut off and its key refused.`)) return;
      await adminCall("PATCH", path, { disabled: true });
    } else if (action === "enable") {
      await adminCall("PATCH", path, { disabled: false });
    }
    await loadConfigs();
  } catch (err) {
    reportAdminError(err);
  }
});

keyPanel.addEventListener("click", (event) => {
  const button = /** @type {HTMLElement} */ (event.target).closest("button[data-copy]");
  if (button instanceof HTMLButtonElement) void copy(input(button.dataset.copy ?? ""));
});

/**
 * The watch link with the playback token the API signs for an admin, or as it is when
 * playback is not signed or no token can be had (the watch page then says why).
 * @param {string} name
 * @param {string} href
 */
async function signedWatchUrl(name, href) {
  try {
    const playback = await adminCall("GET", `/api/v1/streams/${encodeURIComponent(name)}/playback`);
    const token = new URL(playback?.hls ?? "", location.href).searchParams.get("token");
    if (token === null) return href;
    const url = new URL(href, location.href);
    url.searchParams.set("token", token);
    return url.href;
  } catch {
    return href;
  }
}

liveRows.addEventListener("click", async (event) => {
  const a = /** @type {HTMLElement} */ (event.target).closest("a");
  const name = a?.closest("tr")?.dataset.stream;
  if (!(a instanceof HTMLAnchorElement) || name === undefined || storedToken() === null) return;
  event.preventDefault();
  location.assign(await signedWatchUrl(name, a.href));
});

byId("key-done").addEventListener("click", () => {
  hideKey();
  newName.focus();
});

if (storedToken()) {
  tokenForm.hidden = true;
  adminPanel.hidden = false;
  loadConfigs().catch(reportAdminError);
}
setInterval(tickUptimes, 1000);
connect();
