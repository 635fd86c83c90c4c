import { createHash } from 'node:crypto';
import type { Arch, ResolvedNode, ResolvedSite } from '../model/index.js';
import type { Engine } from '../text/template.js';
import { DIST } from './dist-layout.js';

/**
 * QEMU per architecture: the binary, the machine and what else the machine needs. arm64's `virt`
 * machine has no firmware of its own: a cloud image boots through UEFI (Debian's
 * qemu-efi-aarch64 package installs it at this path); a direct kernel boot needs none.
 */
const QEMU: Record<Arch, { binary: string; machine: string; firmware: string }> = {
  amd64: { binary: 'qemu-system-x86_64', machine: 'q35', firmware: '' },
  arm64: { binary: 'qemu-system-aarch64', machine: 'virt', firmware: '/usr/share/qemu-efi-aarch64/QEMU_EFI.fd' },
};

/**
 * The site's one L2 network between its VMs, unprivileged: every VM's NIC joins one multicast group
 * on the host's loopback (QEMU `-netdev socket,mcast=…,localaddr=127.0.0.1`), so frames reach every
 * other VM of the site and nothing else. The group and port come from the site's name, so two
 * sites on one host do not share a wire.
 */
export function siteMulticast(site: string): { group: string; port: number } {
  const h = createHash('sha256').update(`kubeseed-vm-network\0${site}`).digest();
  return { group: `239.255.${h[0]!}.${h[1]! || 1}`, port: 20000 + (h.readUInt16BE(2) % 20000) };
}

/** A node without a MAC in the blueprint still needs the same one at every start. */
export function macOf(site: string, node: ResolvedNode): string {
  if (node.mac) return node.mac.toLowerCase();
  const h = createHash('sha256').update(`${site}\0${node.name}`).digest();
  return `52:54:00:${[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

/** `vm/<node>.sh`: boots one node of the site on the site's network, its disk an overlay of the base image, seed and payload attached. */
export function qemuScript(engine: Engine, site: ResolvedSite, node: ResolvedNode, payloadIso: string | null): string {
  const q = QEMU[node.arch as Arch];
  const net = siteMulticast(site.name);
  return engine.render('pack/qemu.sh', {
    node: node.name,
    site: site.name,
    address: node.cidr,
    roles: node.roles.join(', '),
    mac: macOf(site.name, node),
    binary: q.binary,
    machine: q.machine,
    firmware: q.firmware,
    firmwareVar: `FIRMWARE_${node.arch.toUpperCase()}`,
    arch: node.arch,
    mcast: `${net.group}:${net.port}`,
    seedIso: DIST.seedIso(node.name),
    payloadIso: payloadIso ? DIST.payload(payloadIso) : '',
  });
}

/** `vm/up.sh` and `vm/down.sh`: the whole site at once. */
export function siteScripts(engine: Engine, site: ResolvedSite, nodes: ResolvedNode[]): { up: string; down: string } {
  const context = { site: site.name, nodes: nodes.map((n) => n.name), mcast: `${siteMulticast(site.name).group}:${siteMulticast(site.name).port}` };
  return { up: engine.render('pack/vm-up.sh', context), down: engine.render('pack/vm-down.sh', context) };
}
