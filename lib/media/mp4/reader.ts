/**
 * Reading MP4 box structure back (ISO/IEC 14496-12 §4.2): walking boxes, finding one by
 * path, and the movie header's duration and creation time. Used to list recordings
 * without a media tool, and by tests to check what `Mp4Muxer` wrote. Throws `SyntaxError`
 * for a box that claims more bytes than are there.
 */

import { ByteReader } from "../bytes.ts";

export interface BoxHeader {
  type: string;
  /** Offset of the box's first byte. */
  start: number;
  /** Offset of the payload (after size, type and any largesize). */
  payload: number;
  /** Offset just past the box. */
  end: number;
}

/** The boxes in `bytes[from, to)`, in order; a box running past `to` ends the walk with an error. */
export function* boxes(bytes: Uint8Array, from = 0, to = bytes.length): Generator<BoxHeader> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = from;
  while (at + 8 <= to) {
    let size = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    let payload = at + 8;
    if (size === 1) {
      if (at + 16 > to) throw new SyntaxError(`Cannot read box ${type}: truncated largesize`);
      size = view.getUint32(at + 8) * 0x100000000 + view.getUint32(at + 12);
      payload = at + 16;
    } else if (size === 0) {
      size = to - at; // extends to the end of the file
    }
    if (size < payload - at) throw new SyntaxError(`Cannot read box ${type}: size ${size}`);
    yield { type, start: at, payload, end: at + size };
    at += size;
  }
}

/**
 * The first box at `path` (e.g. `["moov", "trak", "mdia", "mdhd"]`), descending into
 * containers; undefined when absent or when `bytes` ends first.
 */
export function findBox(bytes: Uint8Array, path: string[], from = 0, to = bytes.length) {
  let range = { from, to };
  let found: BoxHeader | undefined;
  for (const type of path) {
    found = undefined;
    for (const b of boxes(bytes, range.from, Math.min(range.to, bytes.length))) {
      if (b.type === type) {
        found = b;
        break;
      }
    }
    if (!found) return undefined;
    range = { from: found.payload, to: found.end };
  }
  return found;
}

/** Every box at `path`, e.g. both `trak` boxes of a `moov`. */
export function findBoxes(bytes: Uint8Array, type: string, parent: BoxHeader): BoxHeader[] {
  return [...boxes(bytes, parent.payload, Math.min(parent.end, bytes.length))].filter((b) =>
    b.type === type
  );
}

const MP4_EPOCH_OFFSET_S = 2082844800;

export interface MovieHeader {
  created: Date;
  timescale: number;
  duration: number;
  durationSeconds: number;
}

/**
 * Reads `moov/mvhd` from the start of a file (enough bytes to reach it: with the `moov`
 * first, a few hundred). Undefined when the bytes hold no `moov` header yet.
 */
export function readMovieHeader(bytes: Uint8Array): MovieHeader | undefined {
  const mvhd = findBox(bytes, ["moov", "mvhd"]);
  if (!mvhd || mvhd.end > bytes.length) return undefined;
  const r = new ByteReader(bytes.subarray(mvhd.payload, mvhd.end));
  const version = r.u8();
  r.skip(3); // flags
  let created: number;
  let timescale: number;
  let duration: number;
  if (version === 1) {
    created = r.u32() * 0x100000000 + r.u32();
    r.skip(8); // modification_time
    timescale = r.u32();
    duration = r.u32() * 0x100000000 + r.u32();
  } else {
    created = r.u32();
    r.skip(4); // modification_time
    timescale = r.u32();
    duration = r.u32();
  }
  if (timescale === 0) throw new SyntaxError("Cannot read mvhd: timescale 0");
  return {
    created: new Date((created - MP4_EPOCH_OFFSET_S) * 1000),
    timescale,
    duration,
    durationSeconds: duration / timescale,
  };
}
