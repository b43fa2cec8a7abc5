// @ts-check
/// <reference lib="dom" />
/**
 * The dashboard's pictures: each live stream's thumbnail (its `thumb.jpg`, reloaded every few
 * seconds) and small inline SVG graphs of the last minutes — per stream its ingest bit rate,
 * keyframe interval and viewers, per node its CPU, memory and egress. The history behind the
 * graphs is kept here, in the page, from the snapshots the server pushes: nothing is drawn by
 * an outside service. Each stream and node has a card above its table, made once and updated
 * in place, so an update neither reloads a picture nor redraws a card.
 */

/** How far back the graphs reach. */
const HISTORY_MS = 5 * 60_000;
/** Samples kept per series at most (one per snapshot, about every 2 s). */
const MAX_SAMPLES = 300;
/** How often thumbnails are asked for again (the origin makes one every few seconds). */
const THUMBNAIL_REFRESH_MS = 5000;
const SVG_NS = "http://www.w3.org/2000/svg";
const GRAPH_WIDTH = 80;
const GRAPH_HEIGHT = 22;

/**
 * @typedef {{t: number, v: number}} Sample
 * @typedef {{name: string, bitrate: number | null, keyframeInterval: number | null,
 *   viewers: number | null, thumbnailUrl: string}} StreamFigures
 * @typedef {{id: string, kind: string, cpu: number | null, rss: number | null,
 *   egressBitsPerSecond: number | null}} NodeFigures
 */

/**
 * The `d` of an SVG path through `samples`, time along x (first to last sample) and value up
 * y from 0 to the largest value; "" with fewer than two samples.
 * @param {Sample[]} samples
 * @param {number} width
 * @param {number} height
 */
export function sparklinePath(samples, width, height) {
  if (samples.length < 2) return "";
  const first = /** @type {Sample} */ (samples[0]).t;
  const span = /** @type {Sample} */ (samples[samples.length - 1]).t - first || 1;
  const top = Math.max(...samples.map((s) => s.v)) || 1;
  // One pixel of margin so that the line is not cut at the edges.
  const usable = height - 2;
  return samples.map((s, i) => {
    const x = ((s.t - first) / span) * width;
    const y = 1 + usable - (Math.max(0, s.v) / top) * usable;
    return `${i === 0 ? "M" : "L"}${x.toFixed(1)} ${y.toFixed(1)}`;
  }).join(" ");
}

/** Bounded, time-limited series by key; series whose key goes away are dropped. */
class Histories {
  /** @type {Map<string, Sample[]>} */
  #series = new Map();

  /**
   * @param {string} key
   * @param {number} t
   * @param {number | null} v
   */
  add(key, t, v) {
    let list = this.#series.get(key);
    if (list === undefined) {
      list = [];
      this.#series.set(key, list);
    }
    if (v !== null && Number.isFinite(v)) list.push({ t, v });
    while (
      list.length > MAX_SAMPLES ||
      (list.length > 0 && t - /** @type {Sample} */ (list[0]).t > HISTORY_MS)
    ) {
      list.shift();
    }
  }

  /** @param {string} key */
  get(key) {
    return this.#series.get(key) ?? [];
  }

  /** @param {(key: string) => boolean} keep */
  prune(keep) {
    for (const key of this.#series.keys()) if (!keep(key)) this.#series.delete(key);
  }
}

const histories = new Histories();

/** A small graph, one per series, updated in place. */
class Graph {
  /** @param {string} label what it shows, for assistive technology and the tooltip */
  constructor(label) {
    this.svg = document.createElementNS(SVG_NS, "svg");
    this.svg.setAttribute("class", "spark");
    this.svg.setAttribute("viewBox", `0 0 ${GRAPH_WIDTH} ${GRAPH_HEIGHT}`);
    this.svg.setAttribute("width", String(GRAPH_WIDTH));
    this.svg.setAttribute("height", String(GRAPH_HEIGHT));
    this.svg.setAttribute("preserveAspectRatio", "none");
    this.svg.setAttribute("role", "img");
    this.svg.setAttribute("aria-label", `${label}, last 5 minutes`);
    this.title = document.createElementNS(SVG_NS, "title");
    this.path = document.createElementNS(SVG_NS, "path");
    this.svg.append(this.title, this.path);
    this.label = label;
  }

  /**
   * @param {Sample[]} samples
   * @param {string} latest the last value, formatted
   */
  draw(samples, latest) {
    const d = sparklinePath(samples, GRAPH_WIDTH, GRAPH_HEIGHT);
    if (this.path.getAttribute("d") !== d) this.path.setAttribute("d", d);
    this.svg.dataset.points = String(samples.length);
    this.title.textContent = `${this.label}: ${latest}`;
  }
}

/**
 * A labelled graph: the figure's name and latest value above its line.
 * @param {string} label
 */
function labelledGraph(label) {
  const graph = new Graph(label);
  const box = document.createElement("span");
  box.className = "trend";
  const caption = document.createElement("span");
  caption.className = "trend-value";
  box.append(caption, graph.svg);
  return {
    box,
    /**
     * @param {Sample[]} samples
     * @param {string} latest
     */
    draw(samples, latest) {
      graph.draw(samples, latest);
      const text = `${label} ${latest}`;
      if (caption.textContent !== text) caption.textContent = text;
    },
  };
}

/** @param {number | null} bps */
function bits(bps) {
  if (bps === null) return "–";
  if (bps < 1_000_000) return `${Math.round(bps / 1000)} kb/s`;
  return `${(bps / 1_000_000).toFixed(1)} Mb/s`;
}

/** @typedef {{box: HTMLElement, draw: (samples: Sample[], latest: string) => void}} Labelled */

/** @type {Map<string, {box: HTMLElement, graphs: Labelled[]}>} */
const streamTrends = new Map();
/** @type {Map<string, {box: HTMLElement, graphs: Labelled[]}>} */
const nodeTrends = new Map();
/** @type {Map<string, {img: HTMLImageElement, url: string}>} */
const thumbnails = new Map();
let thumbnailRound = 0;

/**
 * Adds a snapshot's figures to the histories and forgets streams and nodes no longer listed.
 * @param {{at: number, streams: StreamFigures[], nodes: NodeFigures[]}} snapshot
 */
export function recordSnapshot(snapshot) {
  const t = snapshot.at;
  const keys = new Set();
  for (const s of snapshot.streams) {
    for (
      const [figure, value] of /** @type {const} */ ([
        ["bitrate", s.bitrate],
        ["keyframes", s.keyframeInterval],
        ["viewers", s.viewers],
      ])
    ) {
      const key = `stream:${s.name}:${figure}`;
      keys.add(key);
      histories.add(key, t, value);
    }
  }
  for (const n of snapshot.nodes) {
    for (
      const [figure, value] of /** @type {const} */ ([
        ["cpu", n.cpu === null ? null : n.cpu * 100],
        ["rss", n.rss],
        ["egress", n.egressBitsPerSecond],
      ])
    ) {
      const key = `node:${n.kind}:${n.id}:${figure}`;
      keys.add(key);
      histories.add(key, t, value);
    }
  }
  histories.prune((key) => keys.has(key));
  const names = new Set(snapshot.streams.map((s) => s.name));
  for (const name of [...streamTrends.keys()]) if (!names.has(name)) streamTrends.delete(name);
  for (const name of [...thumbnails.keys()]) if (!names.has(name)) thumbnails.delete(name);
  const nodes = new Set(snapshot.nodes.map((n) => `${n.kind}:${n.id}`));
  for (const key of [...nodeTrends.keys()]) if (!nodes.has(key)) nodeTrends.delete(key);
}

/**
 * Keeps the children of `box` in step with `items` by key (`data-key`), in order.
 * @template T
 * @param {HTMLElement} box
 * @param {T[]} items
 * @param {(item: T) => string} key
 * @param {(item: T) => HTMLElement} element the item's element, made once and updated
 */
function syncChildren(box, items, key, element) {
  const wanted = items.map((item) => {
    const el = element(item);
    el.dataset.key = key(item);
    return el;
  });
  wanted.forEach((el, i) => {
    if (box.children[i] !== el) box.insertBefore(el, box.children[i] ?? null);
  });
  while (box.children.length > wanted.length) box.lastElementChild?.remove();
}

/**
 * A card: a heading (and a picture, for streams) above labelled graphs.
 * @param {string} title
 * @param {string[]} labels
 * @param {HTMLImageElement | null} picture
 */
function card(title, labels, picture) {
  const box = document.createElement("article");
  box.className = "card";
  const heading = document.createElement("h3");
  heading.textContent = title;
  const graphs = labels.map(labelledGraph);
  const trends = document.createElement("div");
  trends.className = "trends";
  trends.append(...graphs.map((g) => g.box));
  if (picture) box.append(picture);
  box.append(heading, trends);
  return { box, graphs };
}

/**
 * One card per live stream: its thumbnail and graphs of bit rate, keyframe interval and
 * viewers over the last minutes.
 * @param {HTMLElement} box
 * @param {StreamFigures[]} streams
 */
export function renderStreamCards(box, streams) {
  syncChildren(box, streams, (s) => s.name, (s) => {
    let entry = streamTrends.get(s.name);
    if (entry === undefined) {
      entry = card(s.name, ["Bitrate", "Keyframes", "Viewers"], thumbnail(s));
      entry.box.dataset.stream = s.name;
      streamTrends.set(s.name, entry);
    }
    const picture = thumbnails.get(s.name);
    if (picture !== undefined && picture.url !== s.thumbnailUrl) {
      // Viewers are sent to another edge now: so is the picture.
      picture.url = s.thumbnailUrl;
      picture.img.src = versioned(picture.url);
    }
    const [rate, keys, viewers] = entry.graphs;
    rate?.draw(histories.get(`stream:${s.name}:bitrate`), bits(s.bitrate));
    keys?.draw(
      histories.get(`stream:${s.name}:keyframes`),
      s.keyframeInterval === null ? "–" : `${s.keyframeInterval.toFixed(1)} s`,
    );
    viewers?.draw(
      histories.get(`stream:${s.name}:viewers`),
      s.viewers === null ? "–" : `≈ ${s.viewers}`,
    );
    return entry.box;
  });
}

/**
 * One card per node: graphs of its CPU, memory and (edges) egress over the last minutes.
 * @param {HTMLElement} box
 * @param {NodeFigures[]} nodes
 */
export function renderNodeCards(box, nodes) {
  syncChildren(box, nodes, (n) => `${n.kind}:${n.id}`, (n) => {
    const key = `${n.kind}:${n.id}`;
    let entry = nodeTrends.get(key);
    if (entry === undefined) {
      entry = card(n.id, ["CPU", "Memory", "Egress"], null);
      entry.box.dataset.node = n.id;
      nodeTrends.set(key, entry);
    }
    const [cpu, memory, egress] = entry.graphs;
    cpu?.draw(
      histories.get(`node:${key}:cpu`),
      n.cpu === null ? "–" : `${Math.round(n.cpu * 100)} %`,
    );
    memory?.draw(
      histories.get(`node:${key}:rss`),
      n.rss === null ? "–" : `${Math.round(n.rss / 2 ** 20)} MB`,
    );
    egress?.draw(histories.get(`node:${key}:egress`), bits(n.egressBitsPerSecond));
    if (egress) egress.box.hidden = n.kind !== "edge";
    return entry.box;
  });
}

/**
 * The stream's thumbnail element; `startThumbnails` asks for the picture again every few
 * seconds.
 * @param {StreamFigures} s
 */
function thumbnail(s) {
  const img = document.createElement("img");
  img.className = "thumbnail";
  img.alt = `Latest picture of ${s.name}`;
  img.width = 160;
  img.height = 90;
  img.decoding = "async";
  img.addEventListener("load", () => img.dataset.state = "loaded");
  // None yet (the stream just started) or thumbnails are off: the box stays empty.
  img.addEventListener("error", () => img.dataset.state = "missing");
  thumbnails.set(s.name, { img, url: s.thumbnailUrl });
  img.src = versioned(s.thumbnailUrl);
  return img;
}

/** @param {string} url */
function versioned(url) {
  // Only the cache-busting query differs: origins and edges key the picture by its path.
  return `${url}?v=${thumbnailRound}`;
}

/** Reloads every thumbnail every few seconds. */
export function startThumbnails() {
  setInterval(() => {
    thumbnailRound++;
    for (const { img, url } of thumbnails.values()) img.src = versioned(url);
  }, THUMBNAIL_REFRESH_MS);
}
