/**
 * How a role's process runs its code: from one bundle of its modules rather than from the
 * TypeScript modules themselves. Deno transpiles each module with an inline source map that
 * carries the module's whole source, and every module's text stays resident with it: for an
 * origin's ~115 modules that is ~4 MiB (measured; docs/architecture.md, "Runtime flags").
 * `deno bundle` joins them into one minified JavaScript file beside a linked map, which Deno
 * reads only to print a stack trace (whose frames still name the `.ts` files and their lines).
 *
 * A bundle lies under `.cascade/build/`, named after its entry and a fingerprint of the
 * sources (path, size and modification time of every `.ts` and `.json` file and of
 * `deno.lock`) and of the Deno version: the first start after a change builds it (about a
 * second), later starts reuse it. It is built in a temporary directory and renamed into
 * place, so processes starting together never read a half-written file. When it cannot be
 * built (no `deno bundle`, a read-only checkout) or `CASCADE_BUNDLE=false`, the modules run
 * as they are, after a warning.
 */
import { log as rootLog, type Logger } from "./log.ts";

/** The repository: this file is `lib/common/launch.ts`. */
const REPO_ROOT = new URL("../../", import.meta.url);

/** Directories that hold no module a role imports. */
const SKIP_DIRS = new Set([
  ".git",
  ".cascade",
  "node_modules",
  "media",
  "recordings",
  "test-artifacts",
  "tests",
  "bench",
]);
/** What a bundle is made from; `deno.test.lock` (the tests' lockfile) is not. */
const SOURCE_RE = /(\.ts|\.json|^deno\.lock)$/;

const BUNDLE_TIMEOUT_MS = 120_000;

export interface LaunchOptions {
  /** The repository whose `deno.json` resolves the entry's imports (default: this one). */
  root?: URL;
  /** Where bundles are kept (default `{root}/.cascade/build/`). */
  buildDir?: URL;
  /** `CASCADE_BUNDLE` (default: the environment's). */
  bundle?: string;
  log?: Logger;
}

/** A module whose `main()` starts a program (each role's `run.ts`). */
interface Program {
  main(): Promise<void>;
}

/**
 * Runs `entry`'s `main()`, loaded from its bundle when one can be had (`programUrl`).
 */
export async function launch(entry: URL, opts: LaunchOptions = {}): Promise<void> {
  const program: Partial<Program> = await import(await programUrl(entry, opts));
  if (typeof program.main !== "function") {
    throw new TypeError(`Cannot launch ${entry.href}: it exports no main()`);
  }
  await program.main();
}

/** The URL to import for `entry`: its bundle, or `entry` itself when there is none. */
export async function programUrl(entry: URL, opts: LaunchOptions = {}): Promise<string> {
  if ((opts.bundle ?? Deno.env.get("CASCADE_BUNDLE")) === "false") return entry.href;
  try {
    return (await bundleOf(entry, opts)).href;
  } catch (err) {
    (opts.log ?? rootLog).warn("launch.unbundled", {
      entry: pathOf(entry),
      error: err,
      effect: "modules run as they are, holding ~4 MiB more memory",
    });
    return entry.href;
  }
}

/** The bundle of `entry` for the sources as they are now, built when missing. */
export async function bundleOf(entry: URL, opts: LaunchOptions = {}): Promise<URL> {
  const root = opts.root ?? REPO_ROOT;
  const dir = opts.buildDir ?? new URL(".cascade/build/", root);
  const stem = entryStem(entry, root);
  const name = `${stem}-${await fingerprint(root)}`;
  const file = new URL(`${name}.js`, dir);
  if (await isFile(file)) return file;
  await Deno.mkdir(dir, { recursive: true });
  const tmp = new URL(`file://${await Deno.makeTempDir({ dir: pathOf(dir), prefix: ".build-" })}/`);
  try {
    await runBundler(entry, new URL(`${name}.js`, tmp), root);
    // The map first: a bundle in place may point at it at once.
    await Deno.rename(new URL(`${name}.js.map`, tmp), new URL(`${name}.js.map`, dir));
    await Deno.rename(new URL(`${name}.js`, tmp), file);
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
  await removeOlder(dir, stem, name);
  return file;
}

/** `origin/run.ts` → `origin-run`. */
function entryStem(entry: URL, root: URL): string {
  const path = entry.href.startsWith(root.href) ? entry.href.slice(root.href.length) : entry.href;
  return path.replace(/\.ts$/, "").replace(/[^\w]+/g, "-").replace(/^-+/, "");
}

/** 16 hex digits of SHA-256 over the Deno version and every source file's path, size, mtime. */
async function fingerprint(root: URL): Promise<string> {
  const lines = [`deno ${Deno.version.deno}`];
  for await (const line of sourceStats(root, "")) lines.push(line);
  lines.sort();
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(lines.join("\n")),
  );
  return new Uint8Array(digest, 0, 8).toHex();
}

async function* sourceStats(root: URL, rel: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(new URL(rel || ".", root))) {
    const path = `${rel}${e.name}`;
    if (e.isDirectory && !SKIP_DIRS.has(e.name)) yield* sourceStats(root, `${path}/`);
    else if (e.isFile && SOURCE_RE.test(e.name) && !e.name.endsWith("_test.ts")) {
      const info = await Deno.stat(new URL(path, root));
      yield `${path}\t${info.size}\t${info.mtime?.getTime() ?? 0}`;
    }
  }
}

/**
 * Bundles `entry` into `out`, minified: minified output is ASCII (V8 keeps a source with one
 * other character at two bytes each) and half the size; the map keeps stack traces pointing at
 * the `.ts` files and lines (function names in frames are the minified ones). `deno bundle`
 * backs a bundled CommonJS `require` (undici in the edge, zod-openapi's dependencies in the
 * API) only in unminified output, so a bundle holding CommonJS is made again with the npm
 * packages of the import map left out, loaded by Deno as they are.
 */
async function runBundler(entry: URL, out: URL, root: URL): Promise<void> {
  await bundle(entry, out, root, ["--minify"]);
  if (!(await Deno.readTextFile(out)).includes(CJS_SHIM)) return;
  await bundle(entry, out, root, ["--minify", ...await packageExternals(root)]);
  if ((await Deno.readTextFile(out)).includes(CJS_SHIM)) await bundle(entry, out, root, []);
}

/** What esbuild's `require` stand-in throws: present where CommonJS was bundled. */
const CJS_SHIM = "Dynamic require of";

/** `--external` flags for every bare name of the import map (`hono`, `hono/…`, `undici`, …). */
async function packageExternals(root: URL): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
  return Object.keys(config.imports ?? {}).flatMap((name) =>
    name.endsWith("/") ? [`--external=${name}*`] : [`--external=${name}`, `--external=${name}/*`]
  );
}

async function bundle(entry: URL, out: URL, root: URL, flags: string[]): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--platform=deno",
      "--sourcemap=linked",
      ...flags,
      `--config=${pathOf(new URL("deno.json", root))}`,
      `--output=${pathOf(out)}`,
      pathOf(entry),
    ],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(BUNDLE_TIMEOUT_MS),
  }).output();
  if (!result.success || !await isFile(out)) {
    const why = new TextDecoder().decode(result.stderr).trim();
    throw new Error(`deno bundle exited with code ${result.code}: ${why.slice(-500)}`);
  }
}

/** Earlier bundles of the same entry: a process started from one no longer reads it. */
async function removeOlder(dir: URL, stem: string, current: string): Promise<void> {
  const ofStem = new RegExp(`^${stem}-[0-9a-f]{16}$`);
  for await (const e of Deno.readDir(dir)) {
    const base = e.name.replace(/\.js(\.map)?$/, "");
    if (e.isFile && base !== current && ofStem.test(base) && base !== e.name) {
      await Deno.remove(new URL(e.name, dir)).catch(() => {});
    }
  }
}

function pathOf(url: URL): string {
  return decodeURIComponent(url.pathname);
}

async function isFile(url: URL): Promise<boolean> {
  try {
    return (await Deno.stat(url)).isFile;
  } catch {
    return false;
  }
}
