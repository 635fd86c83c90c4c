import { formatIPv4, formatNetwork, isHostAddress, parseCidr, parseIPv4, specialRange } from '../ipv4.js';
import { duplicates, nodeCidrs, nodePath, rule, type Rule } from './rule.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** The schema's MAC shape; a malformed MAC is the schema's issue, not this rule's. */
const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Each node on its own and against the others: name, address, gateway, DNS, MAC. */
export const NODE_RULES: Rule[] = [
  rule({
    name: 'node-name-dns1123',
    summary: 'node names are DNS-1123 labels',
    check: ({ site }, report) =>
      site.spec.nodes.flatMap((n, i) =>
        DNS1123_LABEL.test(n.name)
          ? []
          : [
              report(
                nodePath(i, 'name'),
                `'${n.name}' is not a DNS-1123 label`,
                `use lower case letters, digits and "-", at most 63 characters, e.g. ${
                  n.name
                    .toLowerCase()
                    .replace(/[^a-z0-9-]/g, '-')
                    .replace(/^-+|-+$/g, '') || 'k8s-01'
                }`,
              ),
            ],
      ),
  }),
  rule({
    name: 'node-name-unique',
    summary: 'node names are unique',
    check: ({ site }, report) =>
      [...duplicates(site.spec.nodes, (n) => n.name)].flatMap(([name, idx]) =>
        idx.slice(1).map((i) => report(nodePath(i, 'name'), `node name '${name}' is already used by spec.nodes[${idx[0]}]`, 'give every node its own name')),
      ),
  }),
  rule({
    name: 'node-address-valid',
    summary:
      'node addresses are unicast IPv4 host addresses with a prefix length, inside a usable subnet (not loopback, link-local, multicast, reserved or 0/8)',
    check: ({ site }, report) =>
      site.spec.nodes.flatMap((n, i) => {
        const c = parseCidr(n.address);
        const p = nodePath(i, 'address');
        if (!c) {
          return [report(p, `${n.address} is not an IPv4 CIDR`, 'write the address with its prefix length, e.g. 192.168.93.45/24')];
        }
        if (c.prefix > 30 || c.prefix < 8) {
          return [report(p, `/${c.prefix} is not a usable node subnet`, 'use a prefix length between /8 and /30')];
        }
        const special = specialRange(c.addr);
        if (special)
          return [report(p, `${formatIPv4(c.addr)} is a ${special} address, not one a node can have`, 'give the node a unicast address of its network')];
        if (!isHostAddress(c, c.addr)) {
          const what = c.addr === c.network ? 'network' : 'broadcast';
          return [report(p, `${formatIPv4(c.addr)} is the ${what} address of ${formatNetwork(c)}`, 'pick a host address inside the subnet')];
        }
        return [];
      }),
  }),
  rule({
    name: 'node-address-unique',
    summary: 'no two nodes share an address',
    check: ({ site }, report) =>
      [
        ...duplicates(site.spec.nodes, (n) => {
          const c = parseCidr(n.address);
          return c ? formatIPv4(c.addr) : undefined;
        }),
      ].flatMap(([ip, idx]) =>
        idx.slice(1).map((i) => report(nodePath(i, 'address'), `${ip} is already the address of spec.nodes[${idx[0]}]`, 'give every node its own address')),
      ),
  }),
  rule({
    name: 'gateway-in-subnet',
    summary: "each node's gateway is a host address in that node's subnet, not the node itself",
    check: ({ site }, report) => {
      const cidrs = nodeCidrs(site);
      return site.spec.nodes.flatMap((n, i) => {
        const gw = parseIPv4(n.gateway);
        const p = nodePath(i, 'gateway');
        if (gw === null) return [report(p, `${n.gateway} is not an IPv4 address`, 'e.g. 192.168.93.1')];
        const c = cidrs.get(i);
        if (!c) return [];
        if (!isHostAddress(c, gw))
          return [report(p, `gateway ${n.gateway} is outside the node subnet ${formatNetwork(c)}`, `use a router address inside ${formatNetwork(c)}`)];
        if (gw === c.addr) return [report(p, `gateway ${n.gateway} is the node's own address`, 'name the subnet router')];
        return [];
      });
    },
  }),
  rule({
    name: 'dns-servers-valid',
    summary: 'DNS servers are unicast IPv4 addresses (a local resolver on loopback and link-local resolvers are fine)',
    check: ({ site }, report) =>
      site.spec.nodes.flatMap((n, i) =>
        n.dns.flatMap((d, j) => {
          const p = `${nodePath(i, 'dns')}[${j}]`;
          const ip = parseIPv4(d);
          if (ip === null) return [report(p, `${JSON.stringify(d)} is not an IPv4 address`, 'resolv.conf needs addresses, not names')];
          const special = specialRange(ip);
          // 127.0.0.53 (systemd-resolved) and 169.254.169.253 (a cloud's resolver) are real resolvers.
          return special && !special.startsWith('loopback') && !special.startsWith('link-local')
            ? [report(p, `${d} is a ${special} address, not a resolver`, 'name the DNS servers of the node network')]
            : [];
        }),
      ),
  }),
  rule({
    name: 'mac-unicast',
    summary: "a node's MAC is a unicast NIC address (not broadcast, multicast or all zeros)",
    check: ({ site }, report) =>
      site.spec.nodes.flatMap((n, i) => {
        if (!n.mac || !MAC.test(n.mac)) return [];
        const octets = n.mac.split(':').map((o) => Number.parseInt(o, 16));
        const p = nodePath(i, 'mac');
        const hint = 'write the MAC of the NIC the node boots with (ip link)';
        if (octets.every((o) => o === 0xff)) return [report(p, `${n.mac} is the broadcast address`, hint)];
        // The least significant bit of the first octet is the group bit (IEEE 802-2014, 8.2).
        if (octets[0]! & 1) return [report(p, `${n.mac} is a multicast address (the group bit of the first octet is set)`, hint)];
        if (octets.every((o) => o === 0)) return [report(p, `${n.mac} is all zeros`, hint)];
        return [];
      }),
  }),
  rule({
    name: 'node-roles-unique',
    summary: "a node's roles are listed once each",
    check: ({ site }, report) =>
      site.spec.nodes.flatMap((n, i) =>
        [...duplicates(n.roles, (r) => r)].flatMap(([role, idx]) =>
          idx.slice(1).map((j) => report(`${nodePath(i, 'roles')}[${j}]`, `role ${role} is listed twice`, 'list each role once')),
        ),
      ),
  }),
  rule({
    name: 'mac-unique',
    summary: 'no two nodes share a MAC address',
    check: ({ site }, report) =>
      [...duplicates(site.spec.nodes, (n) => n.mac?.toLowerCase())].flatMap(([mac, idx]) =>
        idx.slice(1).map((i) => report(nodePath(i, 'mac'), `MAC ${mac} is already used by spec.nodes[${idx[0]}]`)),
      ),
  }),
];
