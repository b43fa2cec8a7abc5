/**
 * Sending on a `ws` WebSocket with backpressure: `sendFlushed` resolves once the message has
 * been handed to the kernel, so a producer that awaits it holds at most one message in the
 * socket's buffer and its own bounded queue (a hub subscription) takes the excess, dropping
 * to a keyframe. A peer that takes nothing for `stallMs` is an error, so the caller closes it.
 */

/** The part of a `ws` socket `sendFlushed` uses (the package ships no types). */
export interface SendingSocket {
  send(data: Uint8Array, opts: { binary: boolean }, done: (err?: Error) => void): void;
}

/** Sends `data` as one binary message; resolves when it is written, rejects on error or stall. */
export function sendFlushed(
  socket: SendingSocket,
  data: Uint8Array,
  stallMs: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`Cannot send on WebSocket: peer took nothing for ${stallMs} ms`)),
      stallMs,
    );
    socket.send(data, { binary: true }, (err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    });
  });
}
