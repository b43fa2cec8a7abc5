/**
 * Viewer regions from client addresses: `REGION_CIDRS` (`10.0.0.0/8=eu,2001:db8::/32=us`)
 * parsed into a table that answers the most specific matching network for an address.
 * IPv4, IPv6 and IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, how dual-stack sockets
 * report IPv4 clients) are understood; addresses are compared as bytes.
 */

/** Region names: what edges report in `REGION` and viewers send in `?region=`. */
export const REGION_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

interface Network {
  bytes: Uint8Array;
  prefix: number;
  region: string;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    // Leading zeros are refused: some parsers read them as octal.
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

function parseHextets(text: string): number[] | null {
  if (text === "") return [];
  const out: number[] = [];
  for (const group of text.split(":")) {
    if (!/^[0-9A-Fa-f]{1,4}$/.test(group)) return null;
    out.push(parseInt(group, 16));
  }
  return out;
}

function parseIpv6(input: string): Uint8Array | null {
  let text = input;
  const zone = text.indexOf("%");
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (text.includes(".", lastColon)) {
    // A dotted IPv4 tail stands for the last two groups ("::ffff:10.1.2.3").
    const v4 = parseIpv4(text.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [(v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!];
    const before = text.slice(0, lastColon + 1);
    text = before.endsWith("::") ? before : before.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const head = parseHextets(halves[0]!);
  const rest = halves.length === 2 ? parseHextets(halves[1]!) : [];
  if (head === null || rest === null) return null;
  const explicit = head.length + rest.length + tail.length;
  let groups: number[];
  if (halves.length === 2) {
    if (explicit > 7) return null;
    groups = [...head, ...new Array<number>(8 - explicit).fill(0), ...rest, ...tail];
  } else {
    if (explicit !== 8) return null;
    groups = [...head, ...tail];
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

const V4_MAPPED_PREFIX = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/**
 * The bytes of an IP address: 4 for IPv4 (also for IPv4-mapped IPv6), 16 for IPv6; null
 * when `text` is not an address. Brackets (`[::1]`) and zone ids (`fe80::1%eth0`) are allowed.
 */
export function parseIp(input: string): Uint8Array | null {
  let text = input.trim();
  if (text.startsWith("[") && text.endsWith("]")) text = text.slice(1, -1);
  if (!text.includes(":")) return parseIpv4(text);
  const v6 = parseIpv6(text);
  if (v6 === null) return null;
  if (V4_MAPPED_PREFIX.every((b, i) => v6[i] === b)) return v6.slice(12);
  return v6;
}

function prefixMatches(network: Uint8Array, prefix: number, address: Uint8Array): boolean {
  if (network.length !== address.length) return false;
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (network[i] !== address[i]) return false;
  const bits = prefix & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (network[whole]! & mask) === (address[whole]! & mask);
}

/** Longest-prefix lookup of viewer regions; build it with `parseRegionCidrs`. */
export class RegionMap {
  readonly #networks: Network[];

  constructor(networks: Network[] = []) {
    // Most specific first, so the first match is the longest prefix.
    this.#networks = [...networks].sort((a, b) => b.prefix - a.prefix);
  }

  get size(): number {
    return this.#networks.length;
  }

  /** The region of the most specific network containing `address`, if any. */
  lookup(address: string): string | undefined {
    const bytes = parseIp(address);
    if (bytes === null) return undefined;
    for (const net of this.#networks) {
      if (prefixMatches(net.bytes, net.prefix, bytes)) return net.region;
    }
    return undefined;
  }
}

/**
 * Parses `cidr=region,…`. Throws `TypeError` naming the first bad entry by position, e.g. for
 * an unparseable address, a prefix out of range, host bits set or an invalid region name.
 */
export function parseRegionCidrs(spec: string): RegionMap {
  const networks: Network[] = [];
  const entries = spec.split(",").map((s) => s.trim()).filter((s) => s !== "");
  entries.forEach((entry, i) => {
    const where = `entry ${i + 1}`;
    const eq = entry.indexOf("=");
    if (eq < 0) throw new TypeError(`${where} must look like 10.0.0.0/8=eu`);
    const cidr = entry.slice(0, eq).trim();
    const region = entry.slice(eq + 1).trim();
    if (!REGION_RE.test(region)) {
      throw new TypeError(`${where} has an invalid region name (1-64 of [A-Za-z0-9_.-])`);
    }
    const slash = cidr.indexOf("/");
    const bytes = parseIp(slash < 0 ? cidr : cidr.slice(0, slash));
    if (bytes === null) throw new TypeError(`${where} has an invalid IP address`);
    const max = bytes.length * 8;
    const prefixText = slash < 0 ? String(max) : cidr.slice(slash + 1);
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
      throw new TypeError(`${where} needs a prefix length of 0-${max}`);
    }
    const prefix = Number(prefixText);
    for (let bit = prefix; bit < max; bit++) {
      if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) {
        throw new TypeError(`${where} has host bits set beyond /${prefix}`);
      }
    }
    networks.push({ bytes, prefix, region });
  });
  return new RegionMap(networks);
}
