/**
 * What an Ogg Opus stream needs besides its pages (RFC 7845): the identification header
 * (OpusHead), the comment header (OpusTags), and the duration of a packet from its TOC byte
 * (RFC 6716 §3.1), which the granule positions of the data pages count in 48 kHz samples.
 */

/** Opus granule positions and durations count samples at this rate, whatever the input. */
export const OPUS_GRANULE_RATE = 48000;

/** OpusHead for channel mapping family 0 (mono or stereo), RFC 7845 §5.1. */
export function opusHead(channels: 1 | 2, inputSampleRate: number, preSkip = 0): Uint8Array {
  const out = new Uint8Array(19);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode("OpusHead")); // magic signature
  out[8] = 1; // version
  out[9] = channels; // output channel count
  view.setUint16(10, preSkip, true); // pre-skip
  view.setUint32(12, inputSampleRate, true); // input sample rate
  view.setInt16(16, 0, true); // output gain
  out[18] = 0; // channel mapping family
  return out;
}

/** OpusTags with a vendor string and no user comments, RFC 7845 §5.2. */
export function opusTags(vendor: string): Uint8Array {
  const vendorBytes = new TextEncoder().encode(vendor);
  const out = new Uint8Array(8 + 4 + vendorBytes.length + 4);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode("OpusTags")); // magic signature
  view.setUint32(8, vendorBytes.length, true); // vendor string length
  out.set(vendorBytes, 12); // vendor string
  view.setUint32(12 + vendorBytes.length, 0, true); // user comment list length
  return out;
}

/** Frame duration of each TOC config (RFC 6716 table 2), in 48 kHz samples. */
function frameSamples(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config % 4]!; // SILK-only: 10, 20, 40, 60 ms
  if (config < 16) return [480, 960][config % 2]!; // Hybrid: 10, 20 ms
  return [120, 240, 480, 960][config % 4]!; // CELT-only: 2.5, 5, 10, 20 ms
}

/**
 * Samples (at 48 kHz) one Opus packet decodes to. Throws `SyntaxError` for an empty packet
 * or a code 3 packet without its frame count byte.
 */
export function opusPacketSamples(packet: Uint8Array): number {
  const toc = packet[0];
  if (toc === undefined) throw new SyntaxError("Cannot read Opus packet: it is empty");
  const samples = frameSamples(toc >> 3); // config
  switch (toc & 0x03) { // c: frame count code
    case 0:
      return samples;
    case 1:
    case 2:
      return 2 * samples;
    default: {
      const count = packet[1];
      if (count === undefined) {
        throw new SyntaxError("Cannot read Opus packet: code 3 without a frame count");
      }
      return (count & 0x3f) * samples; // M: frame count
    }
  }
}
