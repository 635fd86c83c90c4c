import { findRelease } from '../catalog/load.js';
import { effectiveAddons } from '../catalog/addons.js';
import { minorOf, quirk } from '../catalog/quirks.js';
import type { ApiEndpoint, Catalog, ResolvedNode, ResolvedSite } from '../model/index.js';
import { formatIPv4, formatNetwork, nthSubnet, parseCidr } from './ipv4.js';
import type { WrittenSite } from './schema.js';
import { parseDurationHours, parsePortRange } from './units.js';

/** Port of the local apiserver proxy (nginx/haproxy on every node) and of the VIP listener. */
export const LB_PORT = 8443;
export const APISERVER_PORT = 6443;

/**
 * Defaults filled and derived values computed. Call only on a site without errors: every
 * value parsed here has been checked by the rules.
 */
export function resolveSite(site: WrittenSite, catalog: Catalog, sourceFile: string): ResolvedSite {
  const spec = site.spec;
  const k = spec.kubernetes;
  const release = findRelease(catalog, k.version);
  if (!release) throw new Error(`internal: ${k.version} not in catalog; validate first`);
  const svc = must(parseCidr(k.serviceCIDR));
  const pod = must(parseCidr(k.podCIDR));

  const nodes: ResolvedNode[] = spec.nodes.map((n, index) => {
    const c = must(parseCidr(n.address));
    const podSubnet = spec.network.plugin === 'bridge' ? nthSubnet(pod, 24, index) : null;
    return {
      name: n.name,
      index,
      ip: formatIPv4(c.addr),
      cidr: n.address,
      prefixLength: c.prefix,
      subnet: formatNetwork(c),
      gateway: n.gateway,
      dns: n.dns,
      ...(n.mac ? { mac: n.mac.toLowerCase() } : {}),
      arch: n.arch ?? spec.artifacts.arch[0]!,
      roles: [...n.roles].sort(),
      ...(podSubnet ? { podSubnet: formatNetwork(podSubnet) } : {}),
    };
  });

  const controlPlanes = nodes.filter((n) => n.roles.includes('control-plane'));
  const etcd = nodes.filter((n) => n.roles.includes('etcd'));
  const bootstrap = controlPlanes[0]!;
  const lb = spec.controlPlane.loadBalancer;
  const endpoint: ApiEndpoint =
    lb === 'local' ? endpointOf('127.0.0.1', LB_PORT) : lb === 'vip' ? endpointOf(spec.controlPlane.vip!, LB_PORT) : endpointOf(bootstrap.ip, APISERVER_PORT);

  const serviceIP = formatIPv4(svc.network + 1);
  const domain = k.clusterDomain;
  const sanIPs = unique(['127.0.0.1', serviceIP, ...controlPlanes.map((n) => n.ip), ...(lb === 'vip' ? [spec.controlPlane.vip!] : [])]);
  const sanDNS = unique([
    'localhost',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    `kubernetes.default.svc.${domain}`,
    ...controlPlanes.map((n) => n.name),
  ]);

  return {
    name: site.metadata.name,
    sourceFile,
    kubernetes: {
      version: k.version,
      minor: minorOf(k.version),
      mode: k.mode,
      clusterDomain: domain,
      serviceCIDR: k.serviceCIDR,
      podCIDR: k.podCIDR,
      nodePortRange: must(parsePortRange(k.nodePortRange)),
      proxyMode: k.proxyMode ?? (quirk('nftablesProxyDefault', minorOf(k.version)) ? 'nftables' : 'ipvs'),
      etcdTopology: k.etcdTopology ?? (k.mode === 'kubeadm' ? 'stacked' : 'external'),
      serviceIP,
      clusterDNS: k.clusterDNS ?? formatIPv4(svc.network + 2),
    },
    controlPlane: {
      loadBalancer: lb,
      ...(lb === 'vip' ? { vip: spec.controlPlane.vip! } : {}),
      endpoint,
      apiserverPort: APISERVER_PORT,
      timing: spec.controlPlane.timing,
    },
    network: { plugin: spec.network.plugin, ...(spec.network.interface ? { interface: spec.network.interface } : {}) },
    addons: effectiveAddons(release, spec.addons),
    os: {
      family: spec.os.family,
      ...(spec.os.version ? { version: spec.os.version } : {}),
      ...(spec.os.resolvConf ? { resolvConf: spec.os.resolvConf } : {}),
      timezone: spec.os.timezone,
      ntpServers: spec.os.ntpServers,
      sshAuthorizedKeys: spec.os.sshAuthorizedKeys,
      cgroupVersion: spec.os.cgroupVersion ?? 2,
      packages: [...new Set(spec.os.packages)].sort(),
      firewall: spec.os.firewall,
    },
    pki: {
      keyAlgorithm: spec.pki.keyAlgorithm,
      caValidityHours: must(parseDurationHours(spec.pki.caValidity)),
      certValidityHours: must(parseDurationHours(spec.pki.certValidity)),
    },
    artifacts: {
      arch: spec.artifacts.arch,
      sources: { ...catalog.sources, ...spec.artifacts.sources },
      registryMirrors: spec.artifacts.registryMirrors,
      catalog: catalog.dir,
    },
    containerRuntime: { registryMirrors: spec.containerRuntime.registryMirrors, version: release.versions.containerd! },
    output: { formats: spec.output.formats, embedPayload: spec.output.embedPayload },
    nodes,
    derived: {
      bootstrapNode: bootstrap.name,
      etcdInitialCluster: etcd.map((n) => `${n.name}=https://${n.ip}:2380`).join(','),
      etcdEndpoints: etcd.map((n) => `https://${n.ip}:2379`),
      apiserverSANs: { dns: sanDNS, ips: sanIPs },
    },
  };
}

function endpointOf(host: string, port: number): ApiEndpoint {
  return { host, port, url: `https://${host}:${port}` };
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

function must<T>(v: T | null): T {
  if (v === null) throw new Error('internal: resolving an unvalidated value');
  return v;
}
