/**
 * The edge's request and reply, independent of any HTTP server: `Edge.handle` takes an
 * `EdgeRequest` (method, request target, headers) and returns an `EdgeReply` whose body is
 * held in memory. Both server adapters (`app.ts` for Hono / `Deno.serve`, `node_server.ts`
 * for `node:http`) translate to and from these two shapes, so they behave identically.
 */

/** A request as the edge needs it. */
export interface EdgeRequest {
  method: string;
  /** Request target as sent: path and query, still percent-encoded. */
  target: string;
  /** A request header by lower-case name. */
  header(name: string): string | null | undefined;
  /** Size of the request line and headers, when the server does not enforce the limit. */
  headBytes?: number;
}

/** A complete answer; `body` is null for HEAD, 204 and 304. */
export interface EdgeReply {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array<ArrayBuffer> | null;
}

/** Largest request head accepted: request line plus headers. */
export const MAX_HEAD_BYTES = 16 * 1024;
