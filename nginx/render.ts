/**
 * Fills in the nginx templates of this folder (`rtmp-origin.conf`, `edge-lb.conf`): each
 * `${UPPER_CASE}` placeholder gets a value, while nginx's own `$lower_case` variables pass
 * through. Tests and `deno task cluster` use it because they listen on random ports; the
 * Docker image does the same with envsubst (`entrypoint.sh`). As a program it renders one
 * template from the environment to stdout, for hosts that run nginx without Docker:
 *
 * ```sh
 * BIND=0.0.0.0 HTTP_PORT=80 EDGES=10.0.0.5:8000,10.0.0.6:8000 \
 *   deno run --allow-read --allow-env nginx/render.ts nginx/edge-lb.conf > /etc/nginx/edge-lb.conf
 * ```
 */

/** Where Debian's libnginx-mod-rtmp installs the RTMP module. */
export const RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

/** The templates of this folder. */
export const TEMPLATES = {
  rtmpOrigin: new URL("./rtmp-origin.conf", import.meta.url),
  edgeLb: new URL("./edge-lb.conf", import.meta.url),
} as const;

const PLACEHOLDER_RE = /\$\{([A-Z][A-Z0-9_]*)\}/g;
/** Characters that would open or close a block or start a comment in the rendered file. */
const STRUCTURAL_RE = /[{}#]/;

/** The placeholder names `template` uses, each once, in order of first use. */
export function placeholders(template: string): string[] {
  return [...new Set(Array.from(template.matchAll(PLACEHOLDER_RE), (m) => m[1]!))];
}

/**
 * Replaces every placeholder of `template` with its value from `vars`. Throws a `TypeError`
 * naming each placeholder without a value, and a `RangeError` for a value that would change
 * the file's structure.
 */
export function render(template: string, vars: Record<string, string | undefined>): string {
  const names = placeholders(template);
  const missing = names.filter((name) => vars[name] === undefined || vars[name] === "");
  if (missing.length > 0) {
    throw new TypeError(`Cannot render nginx template: no value for ${missing.join(", ")}`);
  }
  for (const name of names) {
    if (STRUCTURAL_RE.test(vars[name]!)) {
      throw new RangeError(`Cannot render nginx template: ${name} must not contain {, } or #`);
    }
  }
  return template.replace(PLACEHOLDER_RE, (_, name: string) => vars[name]!);
}

export interface EdgeServerOptions {
  /** Failed attempts within `failTimeout` that take an edge out (default 2). */
  maxFails?: number;
  /** How long a failed edge stays out, and the window failures are counted in (default 10s). */
  failTimeout?: string;
}

/** The `server` lines of `edge-lb.conf`'s upstream for edges at `host:port` addresses. */
export function edgeServers(addresses: string[], opts: EdgeServerOptions = {}): string {
  if (addresses.length === 0) throw new RangeError("Cannot list edge servers: none given");
  const params = `max_fails=${opts.maxFails ?? 2} fail_timeout=${opts.failTimeout ?? "10s"}`;
  return addresses.map((address) => {
    if (
      !/^[A-Za-z0-9.-]+:[0-9]{1,5}$/.test(address) && !/^\[[0-9a-f:]+\]:[0-9]{1,5}$/.test(address)
    ) {
      throw new TypeError(`Cannot list edge servers: not a host:port address: ${address}`);
    }
    return `server ${address} ${params};`;
  }).join("\n        ");
}

/** Reads and renders one template. */
export async function renderFile(
  template: URL | string,
  vars: Record<string, string | undefined>,
): Promise<string> {
  return render(await Deno.readTextFile(template), vars);
}

/** A rendered configuration in a prefix directory of its own, ready to start. */
export interface NginxSetup {
  /** nginx's prefix: pid file and temp directories live here. */
  prefix: string;
  conf: string;
  /** Arguments for `nginx`. */
  args: string[];
}

/**
 * Renders `template` into `dir/nginx.conf` and returns the arguments that run it in the
 * foreground as one process (`master_process off`): the caller owns exactly one PID to stop,
 * and no worker switches to `nobody`, which could not write into a private directory.
 */
export async function prepareNginx(
  template: URL | string,
  dir: string,
  vars: Record<string, string | undefined>,
): Promise<NginxSetup> {
  await Deno.mkdir(dir, { recursive: true });
  const conf = `${dir}/nginx.conf`;
  await Deno.writeTextFile(conf, await renderFile(template, vars));
  return {
    prefix: dir,
    conf,
    args: ["-p", `${dir}/`, "-c", conf, "-g", "daemon off; master_process off;"],
  };
}

async function main(args: string[]): Promise<void> {
  const [template] = args;
  if (args.length !== 1 || template === undefined) {
    console.error("Usage: deno run --allow-read --allow-env nginx/render.ts TEMPLATE > nginx.conf");
    Deno.exit(2);
  }
  const vars: Record<string, string | undefined> = { RTMP_MODULE, ...Deno.env.toObject() };
  const edges = vars.EDGES?.split(",").map((s) => s.trim()).filter((s) => s !== "");
  try {
    if (edges !== undefined && vars.EDGE_SERVERS === undefined) {
      vars.EDGE_SERVERS = edgeServers(edges, {
        maxFails: vars.EDGE_MAX_FAILS === undefined ? undefined : Number(vars.EDGE_MAX_FAILS),
        failTimeout: vars.EDGE_FAIL_TIMEOUT,
      });
    }
    console.log(await renderFile(template, vars));
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(2);
  }
}

if (import.meta.main) await main(Deno.args);
