/**
 * A handler served on a random loopback port for a test, with what must stop before the
 * server can shut down (dashboard event streams hold their responses open until `feeds` is
 * aborted). `await using` closes both.
 */
export interface LoopbackServer extends AsyncDisposable {
  readonly url: string;
}

export function serveLoopback(
  handler: (req: Request) => Response | Promise<Response>,
  feeds?: AbortController,
): LoopbackServer {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handler);
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    [Symbol.asyncDispose]: async () => {
      feeds?.abort();
      await server.shutdown();
    },
  };
}
