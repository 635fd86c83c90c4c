import { dirname } from 'node:path/posix';
import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { FILES } from '../model/layout.js';
import type { Engine } from '../text/template.js';
import { PACK_LAYOUT } from './scripts.js';

/** A dotted netmask from a prefix length (anaconda's `network --netmask` wants one). */
export function netmask(prefix: number): string {
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 255).join('.');
}

/** Packages from the install media that the node's first boot and services use. */
function packages(site: ResolvedSite, node: ResolvedNode): string[] {
  const cp = node.roles.includes('control-plane');
  return [
    '@^minimal-environment',
    'conntrack-tools',
    'socat',
    'ipset',
    'ipvsadm',
    'chrony',
    'iptables-nft',
    'tar',
    'gzip',
    ...(site.controlPlane.loadBalancer === 'local' ? ['nginx', 'nginx-mod-stream'] : []),
    ...(site.controlPlane.loadBalancer === 'vip' && cp ? ['haproxy', 'keepalived'] : []),
  ];
}

/**
 * A kickstart for a RHEL-family 9 host (RHEL, Rocky, Alma): static network, hostname, locked root
 * with the site's SSH keys, a minimal package set from the install media, and a `%post` that lays
 * down the node's files (the archive and its checksum list travel inside). The disk the installer
 * finds first is wiped: this is for new hosts.
 */
export function kickstart(engine: Engine, site: ResolvedSite, node: ResolvedNode, archive: Uint8Array, list: string): string {
  return engine.render('pack/ks.cfg', {
    node: node.name,
    site: site.name,
    timezone: site.os.timezone,
    ntpServers: site.os.ntpServers,
    network: {
      device: node.mac ?? site.network.interface ?? 'link',
      ip: node.ip,
      netmask: netmask(node.prefixLength),
      gateway: node.gateway,
      nameservers: node.dns.join(','),
    },
    sshKeys: site.os.sshAuthorizedKeys.map((k) => JSON.stringify(k)),
    packages: packages(site, node),
    archive: Buffer.from(archive)
      .toString('base64')
      .replace(/.{1,76}/g, '$&\n'),
    list,
    layout: PACK_LAYOUT,
    wantsDir: dirname(FILES.firstbootWants),
  });
}
