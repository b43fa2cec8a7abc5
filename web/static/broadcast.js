// @ts-check
/// <reference lib="dom" />
/**
 * The broadcast page: a camera and microphone preview with device pickers, and going live
 * over the origin's ingest WebSocket (`/ingest/ws` on the host that served the page, ws: or
 * wss: as the page). The stream key is read from its field when "Go live" is pressed and
 * sent once, in the socket's first message; it is never put in a URL, in storage or in a
 * log line. The server answers `publishing` (live), or an `error` whose code says why (a wrong
 * key, a name already live, …), then closes. While live the page shows the bit rate it sends
 * (bytes that left the socket's buffer) and says when video is dropped for a slow network.
 * Encoding is `broadcast_encoder.js`. `#state` carries `data-state` (idle, connecting, live,
 * error) and `#message` `data-code` (the server's error code, or the page's own) for tests.
 */
import { audioConfig, missingFeatures, Pipeline, videoConfig } from "./broadcast_encoder.js";

const STATS_MS = 1000;
/** How long a stop waits for the encoders' last frames before closing anyway. */
const STOP_FLUSH_MS = 2000;

/** @param {string} id */
function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`Missing element #${id}`);
  return el;
}

const form = /** @type {HTMLFormElement} */ (byId("controls"));
const preview = /** @type {HTMLVideoElement} */ (byId("preview"));
const cameraPicker = /** @type {HTMLSelectElement} */ (byId("camera"));
const micPicker = /** @type {HTMLSelectElement} */ (byId("microphone"));
const keyInput = /** @type {HTMLInputElement} */ (byId("key"));
const goLiveButton = /** @type {HTMLButtonElement} */ (byId("golive"));
const stopButton = /** @type {HTMLButtonElement} */ (byId("stop"));
const stateEl = byId("state");
const bitrateEl = /** @type {HTMLOutputElement} */ (byId("bitrate"));
const messageEl = byId("message");
const noticeEl = byId("notice");

/** What a refusal means for the person at the page, by the server's error code. */
const ERROR_TEXT = /** @type {Record<string, string>} */ ({
  unauthorized: "The stream key was refused. Check the key and try again.",
  already_live: "This stream is already live from another encoder or browser.",
  timeout: "The server did not get the stream key in time.",
  bad_message: "The server could not read what this page sent.",
  too_large: "A frame was too large for the server.",
  rate_limited: "This broadcast went over the server's frame rate or bit rate limit.",
  internal: "The server failed. Try again in a moment.",
});

/** @type {MediaStream | null} */
let media = null;
/** What the devices or the browser leave out (no microphone, no audio encoder), or null. */
let deviceNotice = /** @type {string | null} */ (null);
/** Set once the browser is known to encode H.264 (and whether it encodes AAC or Opus). */
let canEncode = false;
let canEncodeAudio = false;
/** Bumped per preview request, so that a slower earlier one does not replace a later one. */
let previewRequest = 0;
/**
 * A broadcast: its socket, its encoders once the server said `publishing`, the bytes handed
 * to the socket, whether the server refused it with an `error`, and its last `warning`.
 * @typedef {{ws: WebSocket, pipeline: Pipeline | null, queued: number, refused: boolean,
 *   warning: string | null}} Session
 */

/** @type {Session | null} */
let session = null;
/** @type {ReturnType<typeof setInterval> | undefined} */
let statsTimer;

/**
 * @param {"idle" | "connecting" | "live" | "error"} state
 * @param {string} text
 */
function setState(state, text) {
  stateEl.dataset.state = state;
  stateEl.textContent = text;
  const busy = state === "connecting" || state === "live";
  goLiveButton.disabled = busy || media === null || !canEncode;
  stopButton.disabled = !busy;
  keyInput.disabled = busy;
  // The encoders are configured for the devices a broadcast started with.
  cameraPicker.disabled = busy || cameraPicker.options.length === 0;
  micPicker.disabled = busy || micPicker.options.length === 0;
}

/** @param {string | null} text @param {string} [code] */
function showMessage(text, code = "") {
  messageEl.hidden = text === null;
  messageEl.textContent = text ?? "";
  messageEl.dataset.code = code;
}

/**
 * A passing notice (video dropped), else the server's warning about this broadcast, else
 * what the devices leave out.
 * @param {string | null} text
 */
function showNotice(text) {
  const shown = text ?? session?.warning ?? deviceNotice;
  noticeEl.hidden = shown === null;
  noticeEl.textContent = shown ?? "";
}

/** @param {unknown} err */
function deviceErrorText(err) {
  const name = err instanceof DOMException ? err.name : "";
  switch (name) {
    case "NotAllowedError":
      return "Camera and microphone access was denied. Allow it in the browser's site settings (the icon left of the address), then reload this page.";
    case "NotFoundError":
      return "No camera was found. Connect one and reload this page.";
    case "NotReadableError":
      return "The camera or microphone is in use by another program, or failed to start.";
    case "OverconstrainedError":
      return "The chosen camera or microphone is no longer available: pick another.";
    default:
      return `The camera could not be started: ${err instanceof Error ? err.message : err}`;
  }
}

/** The preview with the devices picked (the browser's defaults the first time). */
async function startPreview() {
  const request = ++previewRequest;
  for (const track of media?.getTracks() ?? []) track.stop();
  media = null;
  setState("idle", "Off air");
  const camera = cameraPicker.value;
  const microphone = micPicker.value;
  const video = {
    ...(camera ? { deviceId: { exact: camera } } : {}),
    width: { ideal: 1280, max: 1280 },
    height: { ideal: 720, max: 720 },
    frameRate: { ideal: 30, max: 30 },
  };
  const audio = { ...(microphone ? { deviceId: { exact: microphone } } : {}), sampleRate: 48000 };
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ video, audio }).catch((err) => {
      // Without a microphone the broadcast goes on with video alone.
      if (!(err instanceof DOMException && err.name === "NotFoundError")) throw err;
      return navigator.mediaDevices.getUserMedia({ video });
    });
    if (request !== previewRequest) {
      for (const track of stream.getTracks()) track.stop();
      return;
    }
    media = stream;
    preview.srcObject = stream;
    showMessage(null);
    deviceNotice = stream.getAudioTracks().length === 0 ? "No microphone found: video only." : null;
    if (!canEncodeAudio) deviceNotice = "This browser encodes neither AAC nor Opus: video only.";
    showNotice(null);
    await listDevices();
    setState("idle", "Off air");
  } catch (err) {
    if (request !== previewRequest) return;
    const code = err instanceof DOMException ? err.name : "camera";
    showMessage(deviceErrorText(err), code);
    setState("error", "No camera");
  }
}

/** Fills both pickers, keeping the devices in use selected. */
async function listDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const inUse = new Set(media?.getTracks().map((t) => t.getSettings().deviceId));
  /** @param {HTMLSelectElement} picker @param {MediaDeviceKind} kind @param {string} noun */
  const fill = (picker, kind, noun) => {
    const options = devices.filter((d) => d.kind === kind && d.deviceId !== "").map((d, i) => {
      const option = new Option(d.label || `${noun} ${i + 1}`, d.deviceId);
      option.selected = inUse.has(d.deviceId);
      return option;
    });
    picker.replaceChildren(...options);
  };
  fill(cameraPicker, "videoinput", "Camera");
  fill(micPicker, "audioinput", "Microphone");
}

/** @param {number} bps */
function formatBitrate(bps) {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(2)} Mbit/s` : `${Math.round(bps / 1e3)} kbit/s`;
}

/** The bit rate that left the socket over the last period: bytes queued minus still buffered. */
function startStats() {
  let last = { sent: 0, at: performance.now() };
  statsTimer = setInterval(() => {
    if (session === null) return;
    const sent = session.queued - session.ws.bufferedAmount;
    const now = performance.now();
    const bps = ((sent - last.sent) * 8 * 1000) / (now - last.at);
    last = { sent, at: now };
    bitrateEl.value = formatBitrate(bps);
    bitrateEl.dataset.bps = String(Math.round(bps));
  }, STATS_MS);
}

function goLive() {
  if (session !== null || media === null) return;
  const key = keyInput.value;
  if (key === "") {
    showMessage("Enter the stream key first.", "no_key");
    keyInput.focus();
    return;
  }
  showMessage(null);
  showNotice(null);
  const url = new URL("/ingest/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  /** @type {Session} */
  const current = { ws, pipeline: null, queued: 0, refused: false, warning: null };
  session = current;
  setState("connecting", "Connecting…");
  ws.onopen = () => ws.send(JSON.stringify({ type: "publish", key }));
  ws.onmessage = (e) => {
    if (typeof e.data === "string") onServerMessage(current, JSON.parse(e.data));
  };
  ws.onclose = (e) => onClosed(current, e);
}

/**
 * @param {Session} current
 * @param {{type: string, code?: string, message?: string, name?: string, bitrate?: number}} msg
 */
function onServerMessage(current, msg) {
  if (session !== current) return;
  switch (msg.type) {
    case "publishing":
      setState("live", `Live as ${msg.name ?? "?"}`);
      startPipeline(current);
      return;
    case "error": {
      current.refused = true;
      const code = msg.code ?? "internal";
      const detail = msg.message ? ` (${msg.message})` : "";
      showMessage(`${ERROR_TEXT[code] ?? "The server refused the broadcast."}${detail}`, code);
      return;
    }
    case "warning":
      current.warning = msg.message ?? "The server warns about this broadcast.";
      showNotice(null);
      return;
    case "stats":
      if (typeof msg.bitrate === "number") {
        bitrateEl.dataset.serverBps = String(msg.bitrate);
        bitrateEl.title = `The server receives ${formatBitrate(msg.bitrate)}`;
      }
      return;
  }
}

/** @param {Session} current */
function startPipeline(current) {
  const [video] = media?.getVideoTracks() ?? [];
  if (video === undefined) return end(current, "The camera stopped.", "camera");
  const [audio] = canEncodeAudio ? media?.getAudioTracks() ?? [] : [];
  current.pipeline = new Pipeline(video, audio, {
    send(message) {
      if (current.ws.readyState !== WebSocket.OPEN) return;
      current.queued += typeof message === "string" ? message.length : message.byteLength;
      current.ws.send(message);
    },
    backlog: () => current.ws.bufferedAmount,
    onDropping(dropping, dropped) {
      showNotice(
        dropping
          ? `The network cannot keep up: video is paused until it catches up (${dropped} frames dropped).`
          : null,
      );
    },
    onError: (err) => end(current, `Encoding failed: ${err.message}`, "encoder"),
  });
  startStats();
}

/**
 * @param {Session} current
 * @param {CloseEvent} e
 */
function onClosed(current, e) {
  if (session !== current) return;
  if (current.refused) return end(current, null);
  const text = e.code === 1006
    ? "The connection to the server was lost or could not be opened."
    : `The server closed the connection${e.reason ? `: ${e.reason}` : ` (code ${e.code})`}.`;
  end(current, text, "closed");
}

/**
 * Ends the broadcast: stops encoding and the socket; with `text`, shows why (as an error).
 * @param {Session} current
 * @param {string | null} text
 * @param {string} [code]
 */
function end(current, text, code) {
  if (session !== current) return;
  session = null;
  clearInterval(statsTimer);
  current.pipeline?.stop();
  if (current.ws.readyState <= WebSocket.OPEN) current.ws.close();
  bitrateEl.value = "–";
  delete bitrateEl.dataset.bps;
  showNotice(null);
  if (text !== null) showMessage(text, code);
  const failed = text !== null || current.refused;
  setState(failed ? "error" : "idle", failed ? "Not live" : "Off air");
}

/** A clean stop: the last encoded frames, then `stop` (the playlist ends at once). */
async function stop() {
  const current = session;
  if (current === null) return;
  const flushed = current.pipeline?.stop() ?? Promise.resolve();
  await Promise.race([flushed, new Promise((r) => setTimeout(r, STOP_FLUSH_MS))]);
  if (current.ws.readyState === WebSocket.OPEN) {
    current.ws.send(JSON.stringify({ type: "stop" }));
    current.ws.close(1000, "stopped");
  }
  end(current, null);
}

form.addEventListener("submit", (e) => {
  e.preventDefault();
  goLive();
});
stopButton.addEventListener("click", () => void stop());
cameraPicker.addEventListener("change", () => void startPreview());
micPicker.addEventListener("change", () => void startPreview());
navigator.mediaDevices?.addEventListener("devicechange", () => {
  if (media !== null) void listDevices();
});

/** Says what the browser lacks, or starts the preview. */
async function start() {
  const missing = missingFeatures();
  const [video, audio] = missing.length > 0
    ? [null, null]
    : await Promise.all([videoConfig(1280, 720), audioConfig(48000, 2)]);
  if (video === null) {
    const lacks = missing.length > 0 ? missing.join(", ") : "an H.264 video encoder";
    showMessage(
      `This browser cannot broadcast from the page: it lacks ${lacks}. Use a recent Chrome, Edge or another Chromium-based browser, or publish with OBS.`,
      "unsupported",
    );
    setState("error", "Unsupported browser");
    return;
  }
  canEncode = true;
  canEncodeAudio = audio !== null;
  await startPreview();
}

void start();
