/** IPv4 address and CIDR arithmetic on unsigned 32-bit integers. */

export interface Cidr {
  /** Address as written (may be a host address inside the network). */
  addr: number;
  prefix: number;
  network: number;
  broadcast: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function parseIPv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4 || !parts.every((p) => OCTET.test(p))) return null;
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function parseCidr(text: string): Cidr | null {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  if (!m) return null;
  const addr = parseIPv4(m[1]!);
  const prefix = Number(m[2]);
  if (addr === null || prefix > 32) return null;
  const size = 2 ** (32 - prefix);
  const network = addr - (addr % size);
  return { addr, prefix, network, broadcast: network + size - 1 };
}

export function cidrSize(c: Cidr): number {
  return c.broadcast - c.network + 1;
}

export function formatNetwork(c: Cidr): string {
  return `${formatIPv4(c.network)}/${c.prefix}`;
}

export function contains(c: Cidr, ip: number): boolean {
  return ip >= c.network && ip <= c.broadcast;
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}

/** True when `ip` is usable as a host address in `c` (not its network or broadcast address, for prefixes < 31). */
export function isHostAddress(c: Cidr, ip: number): boolean {
  if (!contains(c, ip)) return false;
  if (c.prefix >= 31) return true;
  return ip !== c.network && ip !== c.broadcast;
}

/** The `index`-th subnet of length `prefix` inside `c`, or null when it does not fit. */
export function nthSubnet(c: Cidr, prefix: number, index: number): Cidr | null {
  if (prefix < c.prefix || prefix > 32) return null;
  const size = 2 ** (32 - prefix);
  const network = c.network + index * size;
  if (network + size - 1 > c.broadcast) return null;
  return { addr: network, prefix, network, broadcast: network + size - 1 };
}

/**
 * IPv4 ranges that cannot be a node's own address or a server it talks to (the special-purpose
 * registry of RFC 6890): no packet is routed to or from them on a site network.
 */
const SPECIAL_RANGES: readonly { cidr: Cidr; what: string }[] = [
  ['0.0.0.0/8', '"this network" (0.0.0.0/8)'],
  ['127.0.0.0/8', 'loopback (127.0.0.0/8)'],
  ['169.254.0.0/16', 'link-local (169.254.0.0/16)'],
  ['224.0.0.0/4', 'multicast (224.0.0.0/4)'],
  ['240.0.0.0/4', 'reserved (240.0.0.0/4, with the broadcast address 255.255.255.255)'],
].map(([cidr, what]) => ({ cidr: parseCidr(cidr!)!, what: what! }));

/** What kind of special address `ip` is, or undefined for an ordinary unicast address. */
export function specialRange(ip: number): string | undefined {
  return SPECIAL_RANGES.find((r) => contains(r.cidr, ip))?.what;
}
