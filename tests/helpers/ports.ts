/**
 * Free TCP ports on loopback for tests that start real servers (ffmpeg, redis-server,
 * nginx, our own services) which need a port number before they listen.
 */

/** A port that was free a moment ago: bound on 127.0.0.1 and released. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** True once something accepts TCP connections on `port`. */
export async function isListening(port: number, hostname = "127.0.0.1"): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname, port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}
