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
