/**
 * Makes sure the programs the test suite drives for real are installed: ffmpeg/ffprobe,
 * redis-server, GStreamer's rtmp2sink, nginx with the RTMP module, Chromium, `ip` and curl
 * for the network-namespace test's hosts, and openssl for the Redis TLS test's certificates.
 * As root it installs what is missing with apt-get; otherwise it fails with one line naming
 * the package. Run by `deno task test` before the tests.
 */

import { exists, onPath } from "./sys.ts";

interface Requirement {
  /** Debian package that provides it. */
  pkg: string;
  /** Present when this returns true. */
  present: () => Promise<boolean>;
}

async function gstElement(name: string): Promise<boolean> {
  if (!(await onPath("gst-inspect-1.0"))) return false;
  const out = await new Deno.Command("gst-inspect-1.0", {
    args: [name],
    stdout: "null",
    stderr: "null",
  }).output();
  return out.success;
}

export const REQUIREMENTS: Requirement[] = [
  { pkg: "ffmpeg", present: () => onPath("ffmpeg") },
  { pkg: "redis-server", present: () => onPath("redis-server") },
  { pkg: "gstreamer1.0-tools", present: () => onPath("gst-launch-1.0") },
  { pkg: "gstreamer1.0-plugins-bad", present: () => gstElement("rtmp2sink") },
  { pkg: "gstreamer1.0-plugins-ugly", present: () => gstElement("x264enc") },
  { pkg: "gstreamer1.0-libav", present: () => gstElement("avenc_aac") },
  { pkg: "gstreamer1.0-plugins-good", present: () => gstElement("flvmux") },
  { pkg: "nginx", present: () => onPath("nginx") },
  {
    pkg: "libnginx-mod-rtmp",
    present: () => exists("/usr/lib/nginx/modules/ngx_rtmp_module.so"),
  },
  { pkg: "chromium", present: () => exists("/usr/bin/chromium") },
  { pkg: "docker-compose", present: () => onPath("docker-compose") },
  { pkg: "iproute2", present: () => onPath("ip") },
  { pkg: "curl", present: () => onPath("curl") },
  { pkg: "openssl", present: () => onPath("openssl") },
];

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<void> {
  const child = new Deno.Command(cmd, { args, env, stdout: "inherit", stderr: "inherit" });
  const status = await child.output();
  if (!status.success) throw new Error(`${cmd} ${args.join(" ")} failed with code ${status.code}`);
}

async function main(): Promise<void> {
  const missing: string[] = [];
  for (const r of REQUIREMENTS) if (!(await r.present())) missing.push(r.pkg);
  if (missing.length === 0) return;
  const isRoot = Deno.uid?.() === 0;
  if (!isRoot) {
    console.error(
      `Missing Debian package${missing.length > 1 ? "s" : ""}: ${
        missing.join(" ")
      } (install with: sudo apt-get install -y ${missing.join(" ")})`,
    );
    Deno.exit(1);
  }
  console.error(`Installing missing Debian packages: ${missing.join(" ")}`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  await run("apt-get", ["update", "-qq"], env);
  await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], env);
}

if (import.meta.main) await main();
