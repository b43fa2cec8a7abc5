// @ts-check
/// <reference lib="dom" />
/**
 * The watch page's player. It asks for the stream's playlist itself before starting a
 * player, so an offline stream is a calm "offline" rather than an error; while offline it
 * polls the playlist and starts a fresh player when a broadcast begins, without a reload.
 * hls.js plays wherever Media Source Extensions exist; native HLS (Safari) is the
 * fallback. Either plays the Low-Latency playlist when the edge serves one (hls.js with
 * `lowLatencyMode`), and the TS playlist otherwise or once LL has failed on this page
 * (`watch_source.js`); a stream with renditions plays its multivariant playlist instead, hls.js
 * choosing the rung, and the rung playing is shown beside the latency. The latency shown is wall clock minus the
 * `#EXT-X-PROGRAM-DATE-TIME` of the frame on screen (the ingest time the origin stamps), so
 * it includes the encoder's delay and any clock difference between viewer and origin. Only
 * root-relative URLs are used, so the page plays from whichever edge served it. Where
 * playback is signed, the page cannot get a token itself: the operator's site links to it
 * with a signed `?token=`, which is passed on to every media request; without one (or with
 * an expired one) the page says that a signed link is needed, as the edge's refusal tells it.
 */
import {
  offersLowLatency,
  offersRenditions,
  playlistUrls,
  probe,
  withToken,
} from "./watch_source.js";

/** Playlist polling period while offline. */
const POLL_MS = 2000;
/** No progress for this long while playing means the stream stalled. */
const STALL_MS = 12_000;
const TICK_MS = 500;
/** An LL player that has not started playing by then is given up for the TS playlist. */
const LL_START_MS = 15_000;
const HLS_TYPE = "application/vnd.apple.mpegurl";

/** @param {string} id */
function byId(id) {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`Missing element #${id}`);
  return el;
}

const root = byId("watch");
const video = /** @type {HTMLVideoElement} */ (byId("video"));
const stateEl = byId("state");
const latencyLabel = byId("latency-label");
const latencyEl = /** @type {HTMLOutputElement} */ (byId("latency"));
const levelEl = byId("level");
const errorEl = byId("error");
const overlay = byId("overlay");
const overlayText = byId("overlay-text");
const unmuteButton = /** @type {HTMLButtonElement} */ (byId("unmute"));

const streamName = root.dataset.stream ?? "";
const token = new URLSearchParams(location.search).get("token");
const playlists = playlistUrls(streamName, token);
// The stream's latest picture until the video plays, from where the playlists come.
video.poster = withToken(`/live/${encodeURIComponent(streamName)}/thumb.jpg`, token);

/**
 * `starting`: a player is loading; `playing`: the broadcast is on; `ended`: the playlist
 * ended (the buffered rest may still play); `offline`: no player, polling.
 * @type {"starting" | "playing" | "ended" | "offline"}
 */
let phase = "offline";
/** @type {any} hls.js instance of the current session */
let hls = null;
let native = false;
/** The current player plays the Low-Latency playlist. */
let lowLatency = false;
/** LL-HLS failed to play on this page: the TS playlist from now on. */
let lowLatencyFailed = false;
/** Bumped whenever a player is made or dropped, so late callbacks of old players are ignored. */
let session = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let pollTimer;
/**
 * Last segment of the broadcast that ended or froze: a playlist still ending with it is
 * not a new broadcast. Null when any live playlist will do.
 * @type {string | null}
 */
let staleTail = null;
let mediaRecoveries = 0;
let fatalErrors = 0;
let progress = { time: -1, at: 0 };
/** When the current player was asked for, `Date.now()`. */
let startedAt = 0;

/**
 * @param {"connecting" | "live" | "buffering" | "paused" | "offline" | "error"} state
 * @param {string} label
 */
function setState(state, label) {
  root.dataset.state = state;
  if (stateEl.textContent !== label) stateEl.textContent = label;
}

/** @param {string} text an empty string hides the message */
function showError(text) {
  if (errorEl.textContent !== text) errorEl.textContent = text;
  errorEl.hidden = text === "";
}

/** @param {string} text an empty string hides the overlay */
function showOverlay(text) {
  if (overlayText.textContent !== text) overlayText.textContent = text;
  overlay.hidden = text === "";
}

/**
 * What to tell a viewer the edge refused, by its error code.
 * @param {string | undefined} code
 */
function refusal(code) {
  if (token === null || code === "token_required") {
    return "This stream needs a signed link: open it from the site that shared it, " +
      "which adds a token to the address.";
  }
  if (code === "token_expired") {
    return "This link has expired. Open the stream again from the site that shared it " +
      "for a new link.";
  }
  return "This link does not allow watching this stream. Ask for a new link.";
}

/** @param {number} [ms] */
function schedulePoll(ms = POLL_MS) {
  clearTimeout(pollTimer);
  // A little jitter keeps many viewers of one edge from polling in lockstep.
  pollTimer = setTimeout(poll, ms + Math.random() * 250);
}

async function poll() {
  const result = await probe(playlists.hls);
  if (phase === "starting" || phase === "playing") return;
  if (result.status === "live" && result.tail !== staleTail) {
    void start();
    return;
  }
  switch (result.status) {
    case "forbidden":
      setState("error", "Not allowed");
      showError(refusal(result.detail));
      schedulePoll(10_000);
      return;
    case "error":
      setState("error", "Reconnecting…");
      showError(`Cannot reach the video server: ${result.detail}. Retrying…`);
      schedulePoll(POLL_MS * 2);
      return;
    default:
      showError("");
      if (phase !== "ended") {
        setState("offline", "Offline");
        showOverlay(
          result.status === "missing"
            ? "This stream is offline. It starts playing here by itself when it goes live."
            : "The broadcast has ended. Playback resumes here by itself when it goes live again.",
        );
      }
      schedulePoll();
  }
}

/**
 * The rendition playing, beside the latency ("480p · 1.4 Mb/s"); hidden with one level.
 * @param {{height?: number, bitrate?: number} | undefined} level
 */
function showLevel(level) {
  const many = hls !== null && hls.levels.length > 1;
  levelEl.hidden = !many || level === undefined;
  if (level === undefined || !many) return;
  const rate = level.bitrate ? ` · ${(level.bitrate / 1e6).toFixed(1)} Mb/s` : "";
  levelEl.textContent = `${level.height ? `${level.height}p` : "auto"}${rate}`;
  levelEl.dataset.height = String(level.height ?? "");
}

/** Drops the current player, if any. */
function teardown() {
  session++;
  if (hls !== null) {
    hls.destroy();
    hls = null;
  }
  if (native) {
    native = false;
    video.removeAttribute("src");
    video.load();
  }
  phase = "offline";
  lowLatency = false;
  levelEl.hidden = true;
  delete root.dataset.engine;
}

async function start() {
  teardown();
  clearTimeout(pollTimer);
  showError("");
  showOverlay("");
  staleTail = null;
  phase = "starting";
  progress = { time: -1, at: Date.now() };
  startedAt = progress.at;
  setState("connecting", "Connecting…");
  const id = session;
  const Hls = /** @type {any} */ (window).Hls;
  const hlsJs = Boolean(Hls && Hls.isSupported());
  if (!hlsJs && video.canPlayType(HLS_TYPE) === "") {
    phase = "offline";
    setState("error", "Cannot play");
    showError(
      "This browser cannot play live video: it has neither Media Source Extensions nor " +
        "native HLS. Try a current Chrome, Edge, Firefox or Safari.",
    );
    return;
  }
  // Renditions win over LL-HLS alone: a viewer whose link cannot carry the source still
  // plays. With both, the LL multivariant playlist gives each rung at low latency.
  const abr = await offersRenditions(playlists.master);
  const ll = !lowLatencyFailed &&
    await (abr ? offersRenditions(playlists.llmaster) : offersLowLatency(playlists.llhls));
  if (id !== session) return;
  lowLatency = ll;
  root.dataset.protocol = abr ? (ll ? "llabr" : "abr") : ll ? "llhls" : "hls";
  latencyLabel.textContent = ll ? "Latency (LL-HLS)" : "Latency";
  const url = abr
    ? (ll ? playlists.llmaster : playlists.master)
    : ll
    ? playlists.llhls
    : playlists.hls;
  if (hlsJs) startHlsJs(Hls, id, url);
  else startNative(url);
}

/**
 * The LL player failed (it would not load, decode or start): play the TS playlist from now
 * on, at once.
 */
function fallBackFromLowLatency() {
  lowLatencyFailed = true;
  root.dataset.lowLatencyFailed = "true";
  void start();
}

/**
 * hls.js settings for the LL or the TS playlist.
 * @param {boolean} ll
 */
function hlsConfig(ll) {
  return {
    lowLatencyMode: true,
    // TS: start two segments (~4-6 s) behind the newest and jump back when five behind. LL:
    // the playlist's PART-HOLD-BACK is the target, which hls.js ignores once
    // liveSyncDurationCount is given (and it allows no liveMaxLatencyDurationCount without).
    ...(ll ? {} : { liveSyncDurationCount: 2, liveMaxLatencyDurationCount: 5 }),
    // Catch up gently when further back.
    maxLiveSyncPlaybackRate: 1.2,
    maxBufferLength: 12,
    backBufferLength: 10,
    manifestLoadingMaxRetry: 2,
    levelLoadingMaxRetry: 4,
    fragLoadingMaxRetry: 4,
    ...(token === null ? {} : {
      /** @param {XMLHttpRequest} xhr @param {string} url */
      xhrSetup: (xhr, url) => xhr.open("GET", withToken(url, token), true),
    }),
  };
}

/**
 * @param {any} Hls the hls.js class
 * @param {number} id this player's session
 * @param {string} url the playlist
 */
function startHlsJs(Hls, id, url) {
  mediaRecoveries = 0;
  root.dataset.engine = "hls.js";
  const player = new Hls(hlsConfig(lowLatency));
  hls = player;
  player.on(Hls.Events.MANIFEST_PARSED, () => {
    if (id === session) void play();
  });
  player.on(Hls.Events.LEVEL_LOADED, (/** @type {unknown} */ _event, /** @type {any} */ data) => {
    if (id !== session || data.details.live) return;
    const fragments = data.details.fragments;
    // The page polls the TS playlist, whose segments the LL playlist names otherwise.
    broadcastEnded(lowLatency ? null : fragments[fragments.length - 1]?.relurl ?? null);
  });
  player.on(Hls.Events.ERROR, (/** @type {unknown} */ _event, /** @type {any} */ data) => {
    if (id === session) onHlsError(Hls, player, data);
  });
  player.on(Hls.Events.LEVEL_SWITCHED, (/** @type {unknown} */ _event, /** @type {any} */ data) => {
    if (id === session) showLevel(player.levels[data.level]);
  });
  player.loadSource(url);
  player.attachMedia(video);
}

/** @param {string} url the playlist */
function startNative(url) {
  native = true;
  root.dataset.engine = "native";
  video.src = url;
  void play();
}

/**
 * The playlist ended: the rest of the buffer plays on while the playlist is watched for
 * the next broadcast.
 * @param {string | null} tail
 */
function broadcastEnded(tail) {
  if (phase === "ended" || phase === "offline") return;
  phase = "ended";
  staleTail = tail;
  setState("offline", "Offline");
  showOverlay("The broadcast has ended. Playback resumes here by itself when it goes live again.");
  schedulePoll();
}

/**
 * @param {any} Hls
 * @param {any} player
 * @param {any} data hls.js error data
 */
function onHlsError(Hls, player, data) {
  const status = data.response?.code;
  const playlistGone = (status === 404 || status === 410) &&
    (data.details === Hls.ErrorDetails.LEVEL_LOAD_ERROR ||
      data.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR);
  if (playlistGone) {
    // The edge no longer knows the stream: the broadcast ended (edges drop a stream as soon
    // as its playlist ends). What is buffered plays out; polling, not hls.js's slowing
    // retries, finds the next broadcast.
    if (phase === "playing") {
      // Nothing more can load; without this the old player would race the next one.
      player.stopLoad();
      broadcastEnded(null);
    } else if (phase === "starting") {
      teardown();
      void poll();
    }
    return;
  }
  // hls.js retries other non-fatal errors itself.
  if (!data.fatal) return;
  fatalErrors++;
  root.dataset.fatalErrors = String(fatalErrors);
  if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 2) {
    mediaRecoveries++;
    player.recoverMediaError();
    return;
  }
  if (lowLatency && phase !== "ended" && status !== 401 && status !== 403) {
    fallBackFromLowLatency();
    return;
  }
  const wasEnded = phase === "ended";
  teardown();
  if (wasEnded) {
    phase = "ended";
    void poll();
    return;
  }
  if (status === 401 || status === 403) {
    void poll();
    return;
  }
  setState("error", "Reconnecting…");
  if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
    showError("Lost the connection to the video server. Reconnecting…");
    schedulePoll();
  } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
    showError("This browser could not decode the video. Trying again…");
    schedulePoll(POLL_MS * 2);
  } else {
    showError(`Playback failed (${String(data.details)}). Trying again…`);
    schedulePoll(POLL_MS * 2);
  }
}

async function play() {
  try {
    await video.play();
  } catch (err) {
    // AbortError: a newer load replaced this one. NotAllowedError: autoplay needs sound off.
    if (!(err instanceof DOMException) || err.name !== "NotAllowedError") return;
    video.muted = true;
    unmuteButton.hidden = false;
    try {
      await video.play();
    } catch {
      setState("paused", "Paused");
      showOverlay("Press play to start watching.");
    }
  }
}

/** Seconds between the frame on screen being ingested and now, if known. */
function latencySeconds() {
  if (phase !== "playing") return null;
  let shown = null;
  if (hls !== null && hls.playingDate instanceof Date) {
    shown = hls.playingDate.getTime();
  } else if (native && typeof (/** @type {any} */ (video)).getStartDate === "function") {
    const start = /** @type {any} */ (video).getStartDate().getTime();
    if (Number.isFinite(start) && start > 0) shown = start + video.currentTime * 1000;
  }
  if (shown === null || !Number.isFinite(shown)) return null;
  return Math.max(0, (Date.now() - shown) / 1000);
}

function showLatency() {
  const seconds = latencySeconds();
  if (seconds === null) {
    latencyEl.value = "–";
    delete latencyEl.dataset.seconds;
  } else {
    latencyEl.value = `${seconds.toFixed(1)} s`;
    latencyEl.dataset.seconds = seconds.toFixed(2);
  }
}

/** A player that stopped advancing: recreate it, or go offline when the playlist froze. */
async function checkStall() {
  const id = session;
  const result = await probe(playlists.hls);
  if (id !== session || phase !== "playing") return;
  if (result.status === "live" && result.tail !== staleTail) {
    void start();
    // Should this player stall on the same segment too, the playlist has frozen.
    staleTail = result.tail;
    return;
  }
  teardown();
  void poll();
}

function tick() {
  showLatency();
  const now = Date.now();
  if (phase === "starting" && lowLatency && now - startedAt > LL_START_MS) {
    fallBackFromLowLatency();
    return;
  }
  if (phase !== "playing" || video.paused || video.currentTime !== progress.time) {
    progress = { time: video.currentTime, at: now };
    return;
  }
  if (now - progress.at > STALL_MS) {
    progress.at = now;
    void checkStall();
  }
}

video.addEventListener("playing", () => {
  if (phase !== "starting" && phase !== "playing") return;
  phase = "playing";
  showOverlay("");
  showError("");
  setState("live", "Live");
});
video.addEventListener("waiting", () => {
  if (phase === "playing") setState("buffering", "Buffering…");
});
video.addEventListener("pause", () => {
  if (phase === "playing") setState("paused", "Paused");
});
video.addEventListener("ended", () => {
  if (native && phase === "playing") broadcastEnded(null);
});
video.addEventListener("error", () => {
  if (!native || phase === "offline") return;
  fatalErrors++;
  root.dataset.fatalErrors = String(fatalErrors);
  if (lowLatency && phase !== "ended") {
    fallBackFromLowLatency();
    return;
  }
  teardown();
  setState("error", "Reconnecting…");
  showError("This browser could not play the stream. Trying again…");
  schedulePoll(POLL_MS * 2);
});
video.addEventListener("volumechange", () => {
  if (!video.muted) unmuteButton.hidden = true;
});
unmuteButton.addEventListener("click", () => {
  video.muted = false;
  unmuteButton.hidden = true;
  video.focus();
});

root.dataset.fatalErrors = "0";
setInterval(tick, TICK_MS);
void poll();
