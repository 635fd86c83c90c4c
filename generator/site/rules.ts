import { findRelease } from '../catalog/load.js';
import { minorOf, quirk } from '../catalog/quirks.js';
import { closest } from '../input/suggest.js';
import type { Catalog, Issue, Severity } from '../model/index.js';
import { formatIPv4, formatNetwork, isHostAddress, overlaps, parseCidr, parseIPv4, type Cidr } from './ipv4.js';
import type { WrittenSite } from './schema.js';
import { parseDurationHours, parsePortRange } from './units.js';

/** What every rule sees: the written site (defaults filled) and the catalog it is checked against. */
export interface RuleContext {
  site: WrittenSite;
  catalog: Catalog;
}

export interface Rule {
  name: string;
  summary: string;
  check(ctx: RuleContext): Issue[];
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A registry as image references name it: host, optional port. */
const REGISTRY_HOST = /^[a-z0-9.-]+(:\d+)?$/;

function issue(rule: string, path: string, message: string, hint?: string, severity: Severity = 'error'): Issue {
  return { rule, severity, path, message, ...(hint ? { hint } : {}) };
}

const nodePath = (i: number, field?: string) => `spec.nodes[${i}]${field ? `.${field}` : ''}`;

/** Node subnets that parse, by node index. */
function nodeCidrs(site: WrittenSite): Map<number, Cidr> {
  const out = new Map<number, Cidr>();
  site.spec.nodes.forEach((n, i) => {
    const c = parseCidr(n.address);
    if (c && c.prefix <= 30 && isHostAddress(c, c.addr)) out.set(i, c);
  });
  return out;
}

function duplicates<T>(items: readonly T[], key: (t: T) => string | undefined): Map<string, number[]> {
  const seen = new Map<string, number[]>();
  items.forEach((t, i) => {
    const k = key(t);
    if (k !== undefined) seen.set(k, [...(seen.get(k) ?? []), i]);
  });
  return new Map([...seen].filter(([, idx]) => idx.length > 1));
}

export const RULES: Rule[] = [
  {
    name: 'node-name-dns1123',
    summary: 'node names are DNS-1123 labels',
    check: ({ site }) =>
      site.spec.nodes.flatMap((n, i) =>
        DNS1123_LABEL.test(n.name)
          ? []
          : [issue('node-name-dns1123', nodePath(i, 'name'), `'${n.name}' is not a DNS-1123 label`, `use lower case letters, digits and "-", at most 63 characters, e.g. ${n.name.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '') || 'k8s-01'}`)],
      ),
  },
  {
    name: 'node-name-unique',
    summary: 'node names are unique',
    check: ({ site }) =>
      [...duplicates(site.spec.nodes, (n) => n.name)].flatMap(([name, idx]) =>
        idx.slice(1).map((i) => issue('node-name-unique', nodePath(i, 'name'), `node name '${name}' is already used by spec.nodes[${idx[0]}]`, 'give every node its own name')),
      ),
  },
  {
    name: 'node-address-valid',
    summary: 'node addresses are IPv4 host addresses with a prefix length, inside a usable subnet',
    check: ({ site }) =>
      site.spec.nodes.flatMap((n, i) => {
        const c = parseCidr(n.address);
        const p = nodePath(i, 'address');
        if (!c) {
          return [issue('node-address-valid', p, `${n.address} is not an IPv4 CIDR`, 'write the address with its prefix length, e.g. 192.168.93.45/24')];
        }
        if (c.prefix > 30 || c.prefix < 8) {
          return [issue('node-address-valid', p, `/${c.prefix} is not a usable node subnet`, 'use a prefix length between /8 and /30')];
        }
        if (!isHostAddress(c, c.addr)) {
          const what = c.addr === c.network ? 'network' : 'broadcast';
          return [issue('node-address-valid', p, `${formatIPv4(c.addr)} is the ${what} address of ${formatNetwork(c)}`, 'pick a host address inside the subnet')];
        }
        return [];
      }),
  },
  {
    name: 'node-address-unique',
    summary: 'no two nodes share an address',
    check: ({ site }) =>
      [...duplicates(site.spec.nodes, (n) => {
        const c = parseCidr(n.address);
        return c ? formatIPv4(c.addr) : undefined;
      })].flatMap(([ip, idx]) =>
        idx.slice(1).map((i) => issue('node-address-unique', nodePath(i, 'address'), `${ip} is already the address of spec.nodes[${idx[0]}]`, 'give every node its own address')),
      ),
  },
  {
    name: 'gateway-in-subnet',
    summary: "each node's gateway is a host address in that node's subnet, not the node itself",
    check: ({ site }) => {
      const cidrs = nodeCidrs(site);
      return site.spec.nodes.flatMap((n, i) => {
        const gw = parseIPv4(n.gateway);
        const p = nodePath(i, 'gateway');
        if (gw === null) return [issue('gateway-in-subnet', p, `${n.gateway} is not an IPv4 address`, 'e.g. 192.168.93.1')];
        const c = cidrs.get(i);
        if (!c) return [];
        if (!isHostAddress(c, gw)) return [issue('gateway-in-subnet', p, `gateway ${n.gateway} is outside the node subnet ${formatNetwork(c)}`, `use a router address inside ${formatNetwork(c)}`)];
        if (gw === c.addr) return [issue('gateway-in-subnet', p, `gateway ${n.gateway} is the node's own address`, 'name the subnet router')];
        return [];
      });
    },
  },
  {
    name: 'dns-servers-valid',
    summary: 'DNS servers are IPv4 addresses',
    check: ({ site }) =>
      site.spec.nodes.flatMap((n, i) =>
        n.dns.flatMap((d, j) => (parseIPv4(d) === null ? [issue('dns-servers-valid', `${nodePath(i, 'dns')}[${j}]`, `${d} is not an IPv4 address`, 'resolv.conf needs addresses, not names')] : [])),
      ),
  },
  {
    name: 'mac-unique',
    summary: 'no two nodes share a MAC address',
    check: ({ site }) =>
      [...duplicates(site.spec.nodes, (n) => n.mac?.toLowerCase())].flatMap(([mac, idx]) =>
        idx.slice(1).map((i) => issue('mac-unique', nodePath(i, 'mac'), `MAC ${mac} is already used by spec.nodes[${idx[0]}]`)),
      ),
  },
  {
    name: 'cluster-cidrs-valid',
    summary: 'serviceCIDR and podCIDR are network addresses of a sensible size',
    check: ({ site }) => {
      const k = site.spec.kubernetes;
      const out: Issue[] = [];
      for (const [field, value, min, max] of [
        ['serviceCIDR', k.serviceCIDR, 12, 28],
        ['podCIDR', k.podCIDR, 8, 24],
      ] as const) {
        const p = `spec.kubernetes.${field}`;
        const c = parseCidr(value);
        if (!c) out.push(issue('cluster-cidrs-valid', p, `${value} is not an IPv4 CIDR`, 'e.g. 10.254.0.0/16'));
        else if (c.addr !== c.network) out.push(issue('cluster-cidrs-valid', p, `${value} has host bits set`, `write ${formatNetwork(c)}`));
        else if (c.prefix < min || c.prefix > max) out.push(issue('cluster-cidrs-valid', p, `/${c.prefix} is out of range for ${field}`, `use a prefix between /${min} and /${max}`));
      }
      return out;
    },
  },
  {
    name: 'cidrs-disjoint',
    summary: 'serviceCIDR, podCIDR and every node subnet are pairwise disjoint',
    check: ({ site }) => {
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
            out.push(issue('cidrs-disjoint', y.path, `${y.label} (${formatNetwork(y.c)}) overlaps ${x.label} (${formatNetwork(x.c)})`, 'pod, service and node networks must not share addresses'));
          }
        }
      }
      return out;
    },
  },
  {
    name: 'cluster-dns-in-service-cidr',
    summary: 'an explicit clusterDNS lies inside serviceCIDR and is not the apiserver service IP',
    check: ({ site }) => {
      const k = site.spec.kubernetes;
      if (k.clusterDNS === undefined) return [];
      const p = 'spec.kubernetes.clusterDNS';
      const ip = parseIPv4(k.clusterDNS);
      const svc = parseCidr(k.serviceCIDR);
      if (ip === null) return [issue('cluster-dns-in-service-cidr', p, `${k.clusterDNS} is not an IPv4 address`)];
      if (!svc) return [];
      if (!isHostAddress(svc, ip)) return [issue('cluster-dns-in-service-cidr', p, `${k.clusterDNS} is outside serviceCIDR ${formatNetwork(svc)}`, `e.g. ${formatIPv4(svc.network + 2)}`)];
      if (ip === svc.network + 1) return [issue('cluster-dns-in-service-cidr', p, `${k.clusterDNS} is the apiserver service IP`, `e.g. ${formatIPv4(svc.network + 2)}`)];
      return [];
    },
  },
  {
    name: 'node-port-range',
    summary: 'nodePortRange is "from-to" with 1 ≤ from < to ≤ 65535',
    check: ({ site }) =>
      parsePortRange(site.spec.kubernetes.nodePortRange)
        ? []
        : [issue('node-port-range', 'spec.kubernetes.nodePortRange', `${site.spec.kubernetes.nodePortRange} is not a port range`, 'e.g. 30000-32767')],
  },
  {
    name: 'control-plane-present',
    summary: 'at least one node has the control-plane role',
    check: ({ site }) =>
      site.spec.nodes.some((n) => n.roles.includes('control-plane')) ? [] : [issue('control-plane-present', 'spec.nodes', 'no node has the control-plane role', 'add control-plane to the roles of one node (or three, for HA)')],
  },
  {
    name: 'etcd-present',
    summary: 'at least one node has the etcd role',
    check: ({ site }) => (site.spec.nodes.some((n) => n.roles.includes('etcd')) ? [] : [issue('etcd-present', 'spec.nodes', 'no node has the etcd role', 'add etcd to the roles of one or three nodes')]),
  },
  {
    name: 'etcd-count-odd',
    summary: 'an even number of etcd members is a warning: it tolerates no more failures than one member fewer',
    check: ({ site }) => {
      const n = site.spec.nodes.filter((x) => x.roles.includes('etcd')).length;
      return n > 0 && n % 2 === 0
        ? [issue('etcd-count-odd', 'spec.nodes', `${n} etcd members tolerate no more failures than ${n - 1}`, 'use an odd number of etcd nodes', 'warning')]
        : [];
    },
  },
  {
    name: 'vip-valid',
    summary: 'loadBalancer vip needs a VIP inside the control-plane subnet that is no node address',
    check: ({ site }) => {
      const cp = site.spec.controlPlane;
      const p = 'spec.controlPlane.vip';
      if (cp.loadBalancer !== 'vip') {
        return cp.vip !== undefined ? [issue('vip-valid', p, `vip is ignored when loadBalancer is ${cp.loadBalancer}`, 'set loadBalancer: vip or remove vip', 'warning')] : [];
      }
      if (cp.vip === undefined) return [issue('vip-valid', 'spec.controlPlane', 'loadBalancer vip needs a vip', 'add vip: <a free address in the control-plane subnet>')];
      const out0: Issue[] = [];
      if (!site.spec.network.interface) {
        out0.push(issue('vip-valid', 'spec.network', 'loadBalancer vip needs network.interface: keepalived holds the VIP on a named interface', 'add interface: <the NIC name>; with a node mac, network-config gives the NIC that name'));
      }
      const ip = parseIPv4(cp.vip);
      if (ip === null) return [...out0, issue('vip-valid', p, `${cp.vip} is not an IPv4 address`)];
      const cidrs = nodeCidrs(site);
      const out: Issue[] = [...out0];
      site.spec.nodes.forEach((n, i) => {
        const c = cidrs.get(i);
        if (!c) return;
        if (c.addr === ip) out.push(issue('vip-valid', p, `vip ${cp.vip} is the address of node ${n.name}`, 'pick an unused address'));
        else if (n.roles.includes('control-plane') && !isHostAddress(c, ip)) {
          out.push(issue('vip-valid', p, `vip ${cp.vip} is outside the subnet ${formatNetwork(c)} of control-plane node ${n.name}`, 'keepalived can only hold an address of the local subnet'));
        }
      });
      return out;
    },
  },
  {
    name: 'version-in-catalog',
    summary: 'the Kubernetes version exists in the catalog',
    check: ({ site, catalog }) => {
      const v = site.spec.kubernetes.version;
      if (findRelease(catalog, v)) return [];
      const known = catalog.releases.map((r) => r.version);
      const near = closest(v, known);
      return [issue('version-in-catalog', 'spec.kubernetes.version', `${v} is not in the catalog (${catalog.dir})`, `${near ? `did you mean ${near}? ` : ''}known: ${known.join(', ')}`)];
    },
  },
  {
    name: 'arch-supported',
    summary: "every architecture is offered by the catalog's release, and every node's arch is fetched",
    check: ({ site, catalog }) => {
      const rel = findRelease(catalog, site.spec.kubernetes.version);
      const arch = site.spec.artifacts.arch;
      const out: Issue[] = [];
      if (rel) {
        arch.forEach((a, i) => {
          if (!rel.arch.includes(a)) out.push(issue('arch-supported', `spec.artifacts.arch[${i}]`, `${rel.version} has no ${a} artifacts in the catalog`, `supported: ${rel.arch.join(', ')}`));
        });
      }
      site.spec.nodes.forEach((n, i) => {
        if (n.arch && !arch.includes(n.arch)) out.push(issue('arch-supported', nodePath(i, 'arch'), `${n.arch} is not in spec.artifacts.arch`, `add ${n.arch} to spec.artifacts.arch`));
      });
      return out;
    },
  },
  {
    name: 'addons-in-catalog',
    summary: "every add-on and the network plugin have their images in the catalog's release",
    check: ({ site, catalog }) => {
      const rel = findRelease(catalog, site.spec.kubernetes.version);
      if (!rel) return [];
      const out: Issue[] = [];
      site.spec.addons.forEach((a, i) => {
        if (!rel.images.some((img) => img.when.addon === a)) out.push(issue('addons-in-catalog', `spec.addons[${i}]`, `${rel.version} has no images for add-on ${a} in the catalog`));
      });
      const plugin = site.spec.network.plugin;
      if (plugin !== 'bridge' && !rel.images.some((img) => img.when.network === plugin)) {
        out.push(issue('addons-in-catalog', 'spec.network.plugin', `${rel.version} has no images for ${plugin} in the catalog`, 'bridge needs no image'));
      }
      return out;
    },
  },
  {
    name: 'sources-known',
    summary: 'artifact source overrides name sources of the catalog and are http(s) URLs',
    check: ({ site, catalog }) =>
      Object.entries(site.spec.artifacts.sources).flatMap(([name, url]) => {
        const p = `spec.artifacts.sources.${name}`;
        const out: Issue[] = [];
        const known = Object.keys(catalog.sources);
        if (!known.includes(name)) {
          const near = closest(name, known);
          out.push(issue('sources-known', p, `unknown source '${name}'`, `${near ? `did you mean '${near}'? ` : ''}known: ${known.join(', ')}`));
        }
        if (!/^https?:\/\/[^\s/]+/.test(url)) out.push(issue('sources-known', p, `${url} is not an http(s) URL`, 'e.g. http://mirror.local/k8s'));
        return out;
      }),
  },
  {
    name: 'registry-mirrors-valid',
    summary: 'registry mirrors map a registry host to an http(s) URL',
    check: ({ site }) =>
      Object.entries(site.spec.artifacts.registryMirrors).flatMap(([host, url]) => {
        const p = `spec.artifacts.registryMirrors.${host}`;
        const out: Issue[] = [];
        if (!REGISTRY_HOST.test(host)) out.push(issue('registry-mirrors-valid', p, `${host} is not a registry host name`, 'e.g. registry.k8s.io'));
        if (!/^https?:\/\/[^\s/]+/.test(url)) out.push(issue('registry-mirrors-valid', p, `${url} is not an http(s) URL`, 'e.g. http://127.0.0.1:5000'));
        return out;
      }),
  },
  {
    name: 'node-registry-mirrors-valid',
    summary: 'on-site registry mirrors map a registry host to http(s) URLs',
    check: ({ site }) =>
      Object.entries(site.spec.containerRuntime.registryMirrors).flatMap(([host, urls]) => {
        const p = `spec.containerRuntime.registryMirrors.${host}`;
        const out: Issue[] = [];
        if (!REGISTRY_HOST.test(host)) out.push(issue('node-registry-mirrors-valid', p, `${host} is not a registry host name`, 'e.g. docker.io'));
        urls.forEach((url, i) => {
          if (!/^https?:\/\/[a-z0-9.-]+(:\d+)?(\/[^\s"]*)?$/i.test(url)) out.push(issue('node-registry-mirrors-valid', `${p}[${i}]`, `${url} is not an http(s) URL`, 'e.g. https://registry.site.internal:5000'));
        });
        return out;
      }),
  },
  {
    name: 'durations-parse',
    summary: 'CA and certificate lifetimes are durations, and a certificate does not outlive its CA',
    check: ({ site }) => {
      const pki = site.spec.pki;
      const ca = parseDurationHours(pki.caValidity);
      const leaf = parseDurationHours(pki.certValidity);
      const out: Issue[] = [];
      if (ca === null || ca < 1) out.push(issue('durations-parse', 'spec.pki.caValidity', `${pki.caValidity} is not a duration of at least 1h`, 'e.g. 87600h (10 years)'));
      if (leaf === null || leaf < 1) out.push(issue('durations-parse', 'spec.pki.certValidity', `${pki.certValidity} is not a duration of at least 1h`, 'e.g. 8760h (1 year)'));
      if (ca !== null && leaf !== null && leaf > ca) out.push(issue('durations-parse', 'spec.pki.certValidity', `certificates (${pki.certValidity}) would outlive their CA (${pki.caValidity})`, 'shorten certValidity or lengthen caValidity'));
      return out;
    },
  },
  {
    name: 'pod-cidr-fits-nodes',
    summary: 'with the bridge plugin, podCIDR holds one /24 per node',
    check: ({ site }) => {
      if (site.spec.network.plugin !== 'bridge') return [];
      const c = parseCidr(site.spec.kubernetes.podCIDR);
      if (!c || c.prefix > 24) return c ? [issue('pod-cidr-fits-nodes', 'spec.kubernetes.podCIDR', `${site.spec.kubernetes.podCIDR} cannot hold a /24 per node`, 'use /16 or larger')] : [];
      const capacity = 2 ** (24 - c.prefix);
      const n = site.spec.nodes.length;
      return capacity >= n ? [] : [issue('pod-cidr-fits-nodes', 'spec.kubernetes.podCIDR', `${site.spec.kubernetes.podCIDR} holds ${capacity} node subnets of /24, the site has ${n} nodes`, 'use a larger podCIDR')];
    },
  },
  {
    name: 'cgroup-v2-old-kubernetes',
    summary: 'Kubernetes before 1.25 on a cgroup-v2 host is a warning',
    check: ({ site }) => {
      const v = site.spec.kubernetes.version;
      let minor: number;
      try {
        minor = minorOf(v);
      } catch {
        return [];
      }
      const cgroup = site.spec.os.cgroupVersion ?? 2;
      if (cgroup !== 2 || quirk('cgroupV2', minor)) return [];
      return [
        issue(
          'cgroup-v2-old-kubernetes',
          'spec.os',
          `Kubernetes ${v} predates full cgroup v2 support, and current ${site.spec.os.family} releases boot with cgroup v2 only`,
          'boot the nodes with systemd.unified_cgroup_hierarchy=0 and set os.cgroupVersion: 1, or use Kubernetes 1.25 or newer',
          'warning',
        ),
      ];
    },
  },
  {
    name: 'etcd-topology-valid',
    summary: 'stacked etcd is a kubeadm choice, and puts etcd exactly on the control planes',
    check: ({ site }) => {
      const k = site.spec.kubernetes;
      if (k.etcdTopology === 'stacked' && k.mode !== 'kubeadm') {
        return [issue('etcd-topology-valid', 'spec.kubernetes.etcdTopology', 'stacked etcd needs mode: kubeadm', 'binary mode runs etcd as units on the etcd nodes: leave etcdTopology out, or set external')];
      }
      if ((k.etcdTopology ?? (k.mode === 'kubeadm' ? 'stacked' : 'external')) !== 'stacked') return [];
      const i = site.spec.nodes.findIndex((n) => n.roles.includes('etcd') !== n.roles.includes('control-plane'));
      return i < 0
        ? []
        : [issue('etcd-topology-valid', `spec.nodes[${i}].roles`, `with stacked etcd every control plane runs etcd and nothing else does, but ${site.spec.nodes[i]!.name} has ${site.spec.nodes[i]!.roles.join(', ')}`, 'give control planes the etcd role and other nodes none, or set kubernetes.etcdTopology: external')];
    },
  },
  {
    name: 'kickstart-needs-rhel',
    summary: 'the kickstart output is for RHEL-family hosts',
    check: ({ site }) => {
      const i = site.spec.output.formats.indexOf('kickstart');
      return i >= 0 && site.spec.os.family !== 'rhel'
        ? [issue('kickstart-needs-rhel', `spec.output.formats[${i}]`, `kickstart installs RHEL-family hosts, but os.family is ${site.spec.os.family}`, 'use nocloud-iso or tarball for Debian and Ubuntu', 'warning')]
        : [];
    },
  },
];

/** Runs every rule; the result lists all problems, errors and warnings alike. */
export function checkRules(ctx: RuleContext): Issue[] {
  return RULES.flatMap((r) => r.check(ctx));
}

