// @ts-check
/// <reference lib="dom" />
/**
 * The dashboard: the live view (`dashboard_live.js`) and stream management through the
 * API's admin routes with a token the operator types in. The token is kept in this tab's
 * sessionStorage only and sent only as an `Authorization` header to this origin's API; a
 * new stream key is shown once, from the API's answer, and removed from the page when the
 * operator confirms having saved it. Once unlocked, a stream's watch link asks the API for a
 * playback URL first and carries its `?token=` when playback is signed. Everything the
 * server sends is put into the page as text, never as markup.
 */
import {
  badge,
  byId,
  currentSnapshot,
  input,
  setCells,
  startLiveView,
  syncRows,
} from "./dashboard_live.js";

const TOKEN_STORAGE = "cascade.adminToken";
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/**
 * @typedef {{name: string, createdAt: string, disabled: boolean, record: boolean,
 *   live: boolean}} StreamConfig
 * @typedef {{name: string, streamKey: string, ingestUrls: string[], playbackUrl: string}} KeyGrant
 */

const liveRows = byId("live-rows");
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

/** @type {StreamConfig[]} */
let configs = [];

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
  const snapshot = currentSnapshot();
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
startLiveView(renderConfigs);
