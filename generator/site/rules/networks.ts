import type { Issue } from '../../model/index.js';
import { formatIPv4, formatNetwork, isHostAddress, overlaps, parseCidr, parseIPv4, type Cidr } from '../ipv4.js';
import { parsePortRange } from '../units.js';
import { isDnsName, isInterfaceName } from '../names.js';
import { nodeCidrs, nodePath, rule, type Rule } from './rule.js';

/** The pod range every node gets. */
const NODE_POD_MASK = 24;

/** The cluster networks: service and pod CIDRs, their overlap with node subnets, cluster DNS, node ports. */
export const NETWORK_RULES: Rule[] = [
  rule({
    name: 'cluster-cidrs-valid',
    summary: 'serviceCIDR and podCIDR are network addresses of a sensible size',
    check: ({ site }, report) => {
      const k = site.spec.kubernetes;
      const out: Issue[] = [];
      for (const [field, value, min, max] of [
        ['serviceCIDR', k.serviceCIDR, 12, 28],
        ['podCIDR', k.podCIDR, 8, 24],
      ] as const) {
        const p = `spec.kubernetes.${field}`;
        const c = parseCidr(value);
        if (!c) out.push(report(p, `${value} is not an IPv4 CIDR`, 'e.g. 10.254.0.0/16'));
        else if (c.addr !== c.network) out.push(report(p, `${value} has host bits set`, `write ${formatNetwork(c)}`));
        else if (c.prefix < min || c.prefix > max) out.push(report(p, `/${c.prefix} is out of range for ${field}`, `use a prefix between /${min} and /${max}`));
      }
      return out;
    },
  }),
  rule({
    name: 'cidrs-disjoint',
    summary: 'serviceCIDR, podCIDR and every node subnet are pairwise disjoint',
    check: ({ site }, report) => {
      const k = site.spec.kubernetes;
      const named: { path: string; label: string; c: Cidr }[] = [];
      const svc = parseCidr(k.serviceCIDR);
      const pod = parseCidr(k.podCIDR);
      if (svc) named.push({ path: 'spec.kubernetes.serviceCIDR', label: 'serviceCIDR', c: svc });
      if (pod) named.push({ path: 'spec.kubernetes.podCIDR', label: 'podCIDR', c: pod });
      const seenSubnets = new Map<string, number>();
      for (const [i, c] of nodeCidrs(site)) {
        const key = formatNetwork(c);
        if (seenSubnets.has(key)) continue;
        seenSubnets.set(key, i);
        named.push({ path: nodePath(i, 'address'), label: `the subnet of ${site.spec.nodes[i]!.name}`, c });
      }
      const out: Issue[] = [];
      for (let a = 0; a < named.length; a++) {
        for (let b = a + 1; b < named.length; b++) {
          const x = named[a]!;
          const y = named[b]!;
          if (overlaps(x.c, y.c)) {
            out.push(
              report(
                y.path,
                `${y.label} (${formatNetwork(y.c)}) overlaps ${x.label} (${formatNetwork(x.c)})`,
                'pod, service and node networks must not share addresses',
              ),
            );
          }
        }
      }
      return out;
    },
  }),
  rule({
    name: 'cluster-dns-in-service-cidr',
    summary: 'an explicit clusterDNS lies inside serviceCIDR and is not the apiserver service IP',
    check: ({ site }, report) => {
      const k = site.spec.kubernetes;
      if (k.clusterDNS === undefined) return [];
      const p = 'spec.kubernetes.clusterDNS';
      const ip = parseIPv4(k.clusterDNS);
      const svc = parseCidr(k.serviceCIDR);
      if (ip === null) return [report(p, `${k.clusterDNS} is not an IPv4 address`)];
      if (!svc) return [];
      if (!isHostAddress(svc, ip)) return [report(p, `${k.clusterDNS} is outside serviceCIDR ${formatNetwork(svc)}`, `e.g. ${formatIPv4(svc.network + 2)}`)];
      if (ip === svc.network + 1) return [report(p, `${k.clusterDNS} is the apiserver service IP`, `e.g. ${formatIPv4(svc.network + 2)}`)];
      return [];
    },
  }),
  rule({
    name: 'node-port-range',
    summary: 'nodePortRange is "from-to" with 1 ≤ from < to ≤ 65535',
    check: ({ site }, report) =>
      parsePortRange(site.spec.kubernetes.nodePortRange)
        ? []
        : [report('spec.kubernetes.nodePortRange', `${site.spec.kubernetes.nodePortRange} is not a port range`, 'e.g. 30000-32767')],
  }),
  rule({
    name: 'pod-cidr-fits-nodes',
    summary:
      'podCIDR holds one /24 per node, whatever the plugin: bridge gives each node a /24, and for flannel and calico the controller-manager allocates /24 node ranges (kubeadm too)',
    check: ({ site }, report) => {
      const c = parseCidr(site.spec.kubernetes.podCIDR);
      const p = 'spec.kubernetes.podCIDR';
      if (!c) return [];
      // kube-controller-manager --node-cidr-mask-size (default 24 for IPv4; kubeadm's calcNodeCidrSize keeps 24), our bridge subnets are /24 too.
      const who =
        site.spec.network.plugin === 'bridge'
          ? 'the bridge plugin gives every node a /24'
          : 'the controller-manager gives every node a /24 (--node-cidr-mask-size)';
      if (c.prefix > NODE_POD_MASK) return [report(p, `${site.spec.kubernetes.podCIDR} cannot hold a /${NODE_POD_MASK} per node: ${who}`, 'use /16 or larger')];
      const capacity = 2 ** (NODE_POD_MASK - c.prefix);
      const n = site.spec.nodes.length;
      return capacity >= n
        ? []
        : [
            report(
              p,
              `${site.spec.kubernetes.podCIDR} holds ${capacity} node range(s) of /${NODE_POD_MASK}, the site has ${n} nodes: ${who}, and the rest would get none`,
              `use a podCIDR of /${NODE_POD_MASK - Math.ceil(Math.log2(n))} or larger`,
            ),
          ];
    },
  }),
  rule({
    name: 'cluster-domain-valid',
    summary: 'clusterDomain is a DNS name (lower-case RFC 1123 labels)',
    check: ({ site }, report) => {
      const d = site.spec.kubernetes.clusterDomain;
      return isDnsName(d)
        ? []
        : [
            report(
              'spec.kubernetes.clusterDomain',
              `${JSON.stringify(d)} is not a DNS name`,
              'lower-case labels of letters, digits and "-" (not at either end), separated by dots, e.g. cluster.local',
            ),
          ];
    },
  }),
  rule({
    name: 'interface-name-valid',
    summary: 'network.interface is a Linux interface name',
    check: ({ site }, report) => {
      const name = site.spec.network.interface;
      return name === undefined || isInterfaceName(name)
        ? []
        : [
            report(
              'spec.network.interface',
              `${JSON.stringify(name)} is not a Linux interface name`,
              'at most 15 letters, digits, "_", "-" or ".", e.g. eth0 or enp1s0',
            ),
          ];
    },
  }),
];
