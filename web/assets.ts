/**
 * The bytes behind the web pages, read once at startup and kept in memory: the pages' own
 * HTML, CSS and JavaScript from `web/static/`, and hls.js from the npm package's `dist/`
 * (Deno installs it with the other npm dependencies because this module imports the
 * package's `package.json`, so the file is on disk wherever `deno task start` ran). Each
 * asset carries a content hash that pages append to its URL (`?v=…`), which lets the
 * browser cache it as immutable and still see a new version after an upgrade.
 */
import { createHash } from "node:crypto";
import hlsPackage from "hls.js/package.json" with { type: "json" };

/** One file served from memory. */
export interface Asset {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly contentType: string;
  /** Strong validator: a hash of the bytes, quoted. */
  readonly etag: string;
  /** Short hash for cache-busting query strings. */
  readonly version: string;
}

/** Assets referenced by versioned URLs never change under the same URL. */
export const IMMUTABLE = "public, max-age=31536000, immutable";
/** Pages are revalidated on every visit so that new asset versions are picked up. */
export const REVALIDATE = "no-cache";

export const HTML = "text/html; charset=utf-8";
export const CSS = "text/css; charset=utf-8";
export const JS = "text/javascript; charset=utf-8";

/** The installed hls.js version. */
export const HLS_JS_VERSION: string = hlsPackage.version;

function hashOf(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("base64url").slice(0, 16);
}

/** An asset from bytes in memory. */
export function memoryAsset(body: Uint8Array<ArrayBuffer>, contentType: string): Asset {
  const version = hashOf(body);
  return { body, contentType, etag: `"${version}"`, version };
}

/** Reads `url` (a `file:` URL) synchronously: assets are loaded once, before serving. */
export function readAsset(url: URL, contentType: string): Asset {
  return memoryAsset(Deno.readFileSync(url), contentType);
}

/** A file of `web/static/`. */
export function staticAsset(file: string, contentType: string): Asset {
  return readAsset(new URL(`./static/${file}`, import.meta.url), contentType);
}

/**
 * Where the minified hls.js build lies on disk. `import.meta.resolve` maps the package
 * through the import map to Deno's npm cache (or `node_modules` when the project uses one).
 */
export function hlsJsUrl(): URL {
  const url = new URL(import.meta.resolve("hls.js/dist/hls.min.js"));
  if (url.protocol !== "file:") {
    throw new TypeError(`Cannot locate hls.js on disk: resolved to ${url.href}`);
  }
  return url;
}

/**
 * Answers a GET/HEAD for `asset`: 304 when `If-None-Match` names the current version,
 * else the bytes with their type, validator and `cacheControl`.
 */
export function assetResponse(
  req: Request,
  asset: Asset,
  cacheControl: string,
  headers: Record<string, string> = {},
): Response {
  const common = { "Cache-Control": cacheControl, ETag: asset.etag, ...headers };
  const match = req.headers.get("if-none-match");
  if (match !== null && match.split(",").some((tag) => tag.trim() === asset.etag)) {
    return new Response(null, { status: 304, headers: common });
  }
  return new Response(req.method === "HEAD" ? null : asset.body, {
    headers: {
      ...common,
      "Content-Type": asset.contentType,
      "Content-Length": String(asset.body.byteLength),
      "X-Content-Type-Options": "nosniff",
    },
  });
}

/**
 * Fills `{{key}}` placeholders of an HTML template. Values are HTML-escaped; a
 * placeholder without a value is a programming error and throws.
 */
export function fillTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{([a-zA-Z0-9_.:-]+)\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new RangeError(`Cannot fill template: no value for ${key}`);
    return escapeHtml(value);
  });
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]!);
}
