/**
 * A tiny Ogg page reader for tests: the packets of the first logical bitstream of an Ogg
 * file (e.g. what ffmpeg's libopus writes), so tests can feed real Opus packets to code that
 * takes them one by one. Only what such files use: no multiplexed streams, no CRC check.
 */

export interface OggPacket {
  data: Uint8Array;
  /** Granule position of the page the packet ends on. */
  granulePosition: bigint;
}

export function readOggPackets(file: Uint8Array): OggPacket[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const packets: OggPacket[] = [];
  let partial: Uint8Array[] = [];
  let at = 0;
  while (at + 27 <= file.length) {
    if (new TextDecoder().decode(file.subarray(at, at + 4)) !== "OggS") {
      throw new SyntaxError(`Cannot read Ogg: no capture pattern at ${at}`);
    }
    const granulePosition = view.getBigInt64(at + 6, true);
    const segments = file[at + 26]!;
    const lacing = file.subarray(at + 27, at + 27 + segments);
    let body = at + 27 + segments;
    let run = 0;
    for (const value of lacing) {
      run += value;
      if (value === 255) continue;
      partial.push(file.subarray(body, body + run));
      body += run;
      run = 0;
      const size = partial.reduce((n, p) => n + p.length, 0);
      const data = new Uint8Array(size);
      let o = 0;
      for (const p of partial) {
        data.set(p, o);
        o += p.length;
      }
      packets.push({ data, granulePosition });
      partial = [];
    }
    if (run > 0) {
      partial.push(file.subarray(body, body + run));
      body += run;
    }
    at = body;
  }
  return packets;
}
