import type { Arch, ResolvedNode, ResolvedSite } from '../model/index.js';
import { formatIPv4, isHostAddress, parseCidr, parseIPv4 } from '../site/ipv4.js';
import type { Engine } from '../text/template.js';
import { DIST } from './dist-layout.js';
import { macOf } from './vm.js';

/** The box the Vagrantfile names unless KUBESEED_BOX says otherwise (scripts/e2e/build-vagrant-box.sh builds it). */
export const DEFAULT_BOX = 'kubeseed/debian12';

/** vagrant-libvirt settings per architecture; amd64 takes the provider's defaults. */
const LIBVIRT_ARCH: Record<Arch, { machineArch: string; machineType: string } | null> = {
  amd64: null,
  arm64: { machineArch: 'aarch64', machineType: 'virt' },
};

/** One libvirt network per subnet of the site: isolated (no forward), no DHCP, the host at the nodes' gateway. */
export interface VagrantNetwork {
  name: string;
  /** e.g. 10.88.0.0/24 */
  subnet: string;
  netmask: string;
  /** The host's address on the network's bridge: the nodes' gateway, or null for vagrant-libvirt's choice (the first address). */
  hostIp: string | null;
}

export interface VagrantNode {
  name: string;
  ip: string;
  mac: string;
  network: number;
  /** Relative to dist/: the seed first, then the payload volume. */
  cdroms: string[];
  machineArch: string | null;
  machineType: string | null;
}

/** What `vm/Vagrantfile` carries as JSON; its Ruby only walks this. */
export interface VagrantSite {
  site: string;
  box: string;
  networks: VagrantNetwork[];
  nodes: VagrantNode[];
  /** For a box booted by its kernel file (the kubeseed box): what the site needs of the kernel (cgroup v1). */
  kernelArgs: string[];
  /**
   * Under software emulation (KUBESEED_LIBVIRT_DRIVER=qemu), what the e2e harness boots with, for
   * the same reasons (docs/decisions.md): the most capable emulated CPU (AES-NI for Go's TLS), guest
   * time from the instruction count, and the TSC trusted as the clock.
   */
  software: { qemuArgs: string[]; kernelArgs: string[] };
}

function netmask(prefix: number): string {
  return formatIPv4(2 ** 32 - 2 ** (32 - prefix));
}

/** The Vagrantfile's data: pure, from the site and the nodes this bundle holds. */
export function vagrantSite(site: ResolvedSite, nodes: ResolvedNode[], payloadIso: string | null): VagrantSite {
  const subnets = [...new Set(nodes.map((n) => n.subnet))];
  const taken = new Set(site.nodes.map((n) => n.ip));
  const networks = subnets.map((subnet, i): VagrantNetwork => {
    const cidr = parseCidr(subnet)!;
    const gateway = nodes.find((n) => n.subnet === subnet)!.gateway;
    const gw = gateway ? parseIPv4(gateway) : null;
    return {
      name: subnets.length === 1 ? `kubeseed-${site.name}` : `kubeseed-${site.name}-${i + 1}`,
      subnet,
      netmask: netmask(cidr.prefix),
      hostIp: gw !== null && isHostAddress(cidr, gw) && !taken.has(gateway) ? gateway : null,
    };
  });
  return {
    site: site.name,
    box: DEFAULT_BOX,
    networks,
    nodes: nodes.map((n) => {
      const arch = LIBVIRT_ARCH[n.arch as Arch];
      return {
        name: n.name,
        ip: n.ip,
        mac: macOf(site.name, n),
        network: subnets.indexOf(n.subnet),
        cdroms: [DIST.seedIso(n.name), ...(payloadIso ? [DIST.payload(payloadIso)] : [])],
        machineArch: arch?.machineArch ?? null,
        machineType: arch?.machineType ?? null,
      };
    }),
    kernelArgs: site.os.cgroupVersion === 1 ? ['systemd.unified_cgroup_hierarchy=0'] : [],
    software: { qemuArgs: ['-cpu', 'max', '-icount', 'shift=0,sleep=on'], kernelArgs: ['tsc=reliable'] },
  };
}

/** `vm/Vagrantfile`: fixed Ruby around the site's data, serialised as JSON (never templated into Ruby). */
export function vagrantfile(engine: Engine, site: ResolvedSite, nodes: ResolvedNode[], payloadIso: string | null): string {
  return engine.render('pack/Vagrantfile', { site: site.name, data: JSON.stringify(vagrantSite(site, nodes, payloadIso), null, 2) });
}
