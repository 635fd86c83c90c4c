import { dirname } from 'node:path/posix';
import type { ResolvedNode, ResolvedSite } from '../model/index.js';
import { FILES, NODE, NODE_FILES } from '../model/layout.js';

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
 * The `%post` body: writes the node's files archive and checksum list, verifies every file, installs
 * each with its mode, and enables first boot (a symlink, as `systemctl enable` would make; no
 * systemd runs inside the installer's chroot). POSIX sh, so it also runs under dash.
 */
export function kickstartPost(archive: Uint8Array, list: string): string {
  const b64 = Buffer.from(archive).toString('base64').replace(/.{1,76}/g, '$&\n');
  return [
    'set -eu',
    `mkdir -p ${NODE.config}`,
    `(umask 077 && base64 -d >${NODE_FILES.copied}) <<'KUBESEED_ARCHIVE'`,
    `${b64}KUBESEED_ARCHIVE`,
    `cat >${NODE_FILES.list} <<'KUBESEED_LIST'`,
    `${list}KUBESEED_LIST`,
    `chmod 0644 ${NODE_FILES.list}`,
    'stage=$(mktemp -d)',
    `tar -xzf ${NODE_FILES.copied} -C "$stage" --no-same-owner`,
    `(cd "$stage" && sha256sum --quiet --strict -c ${NODE_FILES.list})`,
    'while read -r sum path; do',
    '  [ -n "$sum" ] || continue',
    '  install -D -m "$(stat -c %a "$stage/$path")" "$stage/$path" "/$path"',
    `done <${NODE_FILES.list}`,
    'rm -rf "$stage"',
    `mkdir -p ${dirname(FILES.firstbootWants)}`,
    `ln -sf ${FILES.firstbootUnit} ${FILES.firstbootWants}`,
    '',
  ].join('\n');
}

/**
 * A kickstart for a RHEL-family 9 host (RHEL, Rocky, Alma): static network, hostname, locked root
 * with the site's SSH keys, a minimal package set from the install media, and a `%post` that lays
 * down the node's files. The disk the installer finds first is wiped: this is for new hosts.
 */
export function kickstart(site: ResolvedSite, node: ResolvedNode, archive: Uint8Array, list: string): string {
  const device = node.mac ?? site.network.interface ?? 'link';
  const net = [
    'network --bootproto=static',
    `--device=${device}`,
    `--ip=${node.ip}`,
    `--netmask=${netmask(node.prefixLength)}`,
    `--gateway=${node.gateway}`,
    ...(node.dns.length ? [`--nameserver=${node.dns.join(',')}`] : ['--nodns']),
    `--hostname=${node.name}`,
    '--activate --onboot=yes --noipv6',
  ].join(' ');
  return [
    `# kubeseed kickstart: node ${node.name} of site ${site.name} (RHEL-family 9).`,
    '# Installs from the install media alone (no network repository), then first boot takes over.',
    '# WARNING: clears every disk the installer can see.',
    'text',
    'skipx',
    'firstboot --disable',
    'eula --agreed',
    'lang en_US.UTF-8',
    'keyboard --xlayouts=us',
    `timezone ${site.os.timezone} --utc`,
    ...site.os.ntpServers.map((s) => `timesource --ntp-server=${s}`),
    net,
    'rootpw --lock',
    ...site.os.sshAuthorizedKeys.map((k) => `sshkey --username=root ${JSON.stringify(k)}`),
    // Matches what first boot sets; enforcing needs the container-selinux policy, which the media may lack.
    'selinux --permissive',
    'firewall --enabled --service=ssh',
    'services --enabled=sshd,chronyd',
    'zerombr',
    'clearpart --all --initlabel',
    // The kubelet refuses to run with swap on.
    'autopart --type=lvm --nohome --noswap',
    'bootloader --timeout=1',
    'reboot --eject',
    '',
    '%packages --excludedocs',
    ...packages(site, node),
    '%end',
    '',
    `%post --erroronfail --log=${FILES.kickstartLog}`,
    `# Lays down the files of ${node.name}; each is checked against its SHA-256 before any is installed.`,
    kickstartPost(archive, list).trimEnd(),
    '%end',
    '',
  ].join('\n');
}
