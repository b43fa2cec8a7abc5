/**
 * The bytes behind the web pages, kept in memory once built: the pages' own HTML, CSS and
 * JavaScript from `web/static/`, and hls.js from the npm package's `dist/`. Each asset
 * carries a content hash that pages append to its URL (`?v=…`), which lets the browser cache
 * it as immutable and still see a new version after an upgrade.
 *
 * Building is asynchronous and happens when a page is first asked for (`lazily`): reading,
 * hashing (WebCrypto) and compressing (`node:zlib`, loaded then, on the thread pool) cost an
 * origin whose broadcast page nobody opens nothing, and never block the event loop.
 */
export type ContentCoding = "br" | "gzip";
type Compressed = Partial<Record<ContentCoding, Uint8Array<ArrayBuffer>>>;

/** One file served from memory. */
export interface Asset {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly contentType: string;
  /** Strong validator of the identity bytes: their hash, quoted. */
  readonly etag: string;
  /** Short hash for cache-busting query strings. */
  readonly version: string;
  /** Compressed copies, made once (the HTTP server does not compress responses). */
  readonly encoded: Compressed;
}

/** Assets referenced by versioned URLs never change under the same URL. */
export const IMMUTABLE = "public, max-age=31536000, immutable";
/** Pages are revalidated on every visit so that new asset versions are picked up. */
export const REVALIDATE = "no-cache";

export const HTML = "text/html; charset=utf-8";
export const CSS = "text/css; charset=utf-8";
export const JS = "text/javascript; charset=utf-8";

/** The first 12 bytes of the SHA-256 digest: 16 base64url characters. */
async function hashOf(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return new Uint8Array(digest, 0, 12).toBase64({ alphabet: "base64url", omitPadding: true });
}

/** Bodies smaller than this are sent as they are: compressing them gains next to nothing. */
const COMPRESS_MIN_BYTES = 1024;

async function compressed(body: Uint8Array): Promise<Compressed> {
  if (body.byteLength < COMPRESS_MIN_BYTES) return {};
  const zlib = await import("node:zlib");
  // Brotli quality 9 costs ~80 ms of a pool thread for hls.js and saves ~20 KB per viewer.
  const br = viaCallback((done) =>
    zlib.brotliCompress(body, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 9,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.byteLength,
      },
    }, done)
  );
  const gzip = viaCallback((done) => zlib.gzip(body, { level: 9 }, done));
  return { br: await br, gzip: await gzip };
}

/** The result of a `node:zlib` callback, copied out of node's pooled buffer. */
function viaCallback(
  start: (done: (err: Error | null, out: Uint8Array) => void) => void,
): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) =>
    start((err, out) => err ? reject(err) : resolve(new Uint8Array(out)))
  );
}

/** An asset from bytes in memory; `compress` keeps br and gzip copies beside them. */
export async function memoryAsset(
  body: Uint8Array<ArrayBuffer>,
  contentType: string,
  opts: { compress?: boolean } = {},
): Promise<Asset> {
  const [version, encoded] = await Promise.all([
    hashOf(body),
    opts.compress ?? true ? compressed(body) : {},
  ]);
  return { body, contentType, etag: `"${version}"`, version, encoded };
}

/** Reads `url` (a `file:` URL) into an asset. */
export async function readAsset(url: URL, contentType: string): Promise<Asset> {
  return memoryAsset(await Deno.readFile(url), contentType);
}

/**
 * `web/static/`, found through the import map (`@cascade/web` is `web/routes.ts`) rather than
 * this module's own URL, which in a role's bundle is the bundle's.
 */
const STATIC_DIR = new URL("./static/", import.meta.resolve("@cascade/web"));

function staticUrl(file: string): URL {
  return new URL(file, STATIC_DIR);
}

/** A file of `web/static/`. */
export function staticAsset(file: string, contentType: string): Promise<Asset> {
  return readAsset(staticUrl(file), contentType);
}

/** The text of a file of `web/static/` (a page template). */
export function staticText(file: string): Promise<string> {
  return Deno.readTextFile(staticUrl(file));
}

/**
 * `build` run on the first call and its result shared by every later one; a build that
 * fails (a file missing) is tried again on the next call rather than remembered.
 */
export function lazily<T>(build: () => Promise<T>): () => Promise<T> {
  let built: Promise<T> | undefined;
  return () =>
    built ??= build().catch((err) => {
      built = undefined;
      throw err;
    });
}

/**
 * A JavaScript module of `web/static/` whose imports of other static modules carry their
 * versions (`"./x.js"` → `"./x.js?v=…"`), so that a page caching every asset as immutable
 * still loads the new version of an import after an upgrade: the importer's bytes, and so
 * its own version, change with it. `imports` maps each imported file name to its asset.
 */
export async function staticModule(
  file: string,
  imports: Record<string, Asset>,
): Promise<Asset> {
  let text = await staticText(file);
  for (const [name, asset] of Object.entries(imports)) {
    const specifier = `"./${name}"`;
    if (!text.includes(specifier)) {
      throw new RangeError(`Cannot version an import: ${file} does not import ./${name}`);
    }
    text = text.replaceAll(specifier, `"./${name}?v=${asset.version}"`);
  }
  return memoryAsset(new TextEncoder().encode(text), JS);
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
 * The coding to send for an `Accept-Encoding` header: br, else gzip, else none. Codings
 * refused with `q=0` are skipped; `*` accepts both.
 */
export function chooseCoding(acceptEncoding: string | null, asset: Asset): ContentCoding | null {
  if (acceptEncoding === null) return null;
  const accepted = new Map<string, number>();
  for (const part of acceptEncoding.toLowerCase().split(",")) {
    const [coding = "", ...params] = part.trim().split(";");
    const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    accepted.set(coding.trim(), q === undefined ? 1 : Number(q));
  }
  for (const coding of ["br", "gzip"] as const) {
    if (asset.encoded[coding] === undefined) continue;
    const q = accepted.get(coding) ?? accepted.get("*") ?? 0;
    if (q > 0) return coding;
  }
  return null;
}

/**
 * Answers a GET/HEAD for `asset`: 304 when `If-None-Match` names the current version,
 * else the bytes (compressed when the client accepts it) with their type, validator and
 * `cacheControl`.
 */
export function assetResponse(
  req: Request,
  asset: Asset,
  cacheControl: string,
  headers: Record<string, string> = {},
): Response {
  const coding = chooseCoding(req.headers.get("accept-encoding"), asset);
  // Each representation gets its own strong validator; any of them means "unchanged".
  const etag = coding === null ? asset.etag : `${asset.etag.slice(0, -1)}-${coding}"`;
  const common: Record<string, string> = { "Cache-Control": cacheControl, ETag: etag, ...headers };
  if (Object.keys(asset.encoded).length > 0) common["Vary"] = "Accept-Encoding";
  const match = req.headers.get("if-none-match");
  const version = asset.etag.slice(1, -1);
  if (match !== null && match.split(",").some((tag) => tag.trim().includes(version))) {
    return new Response(null, { status: 304, headers: common });
  }
  const body = coding === null ? asset.body : asset.encoded[coding]!;
  if (coding !== null) common["Content-Encoding"] = coding;
  return new Response(req.method === "HEAD" ? null : body, {
    headers: {
      ...common,
      "Content-Type": asset.contentType,
      "Content-Length": String(body.byteLength),
      "X-Content-Type-Options": "nosniff",
    },
  });
}

/**
 * Fills `{{key}}` placeholders of an HTML template. Values are HTML-escaped; a
 * placeholder without a value is a programming error and throws.
 */
export function fillTemplate(template: string, values: Record<string, string>): string {
  const filled = template.replace(/\{\{\s*([\w.:-]+)\s*\}\}/g, (_, key: string) => {
    const value = values[key];
    if (value === undefined) throw new RangeError(`Cannot fill template: no value for ${key}`);
    return escapeHtml(value);
  });
  if (filled.includes("{{")) throw new SyntaxError("Cannot fill template: malformed placeholder");
  return filled;
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
