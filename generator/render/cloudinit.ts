import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import type { RenderedFile, ResolvedNode, ResolvedSite } from '../model/index.js';
import { BOOT_FILES, NODE_FILES } from '../model/layout.js';

export interface NoCloudSeed {
  'user-data': string;
  'meta-data': string;
  'network-config': string;
}

/** cloud-init reads with PyYAML, i.e. YAML 1.1: serialise accordingly so e.g. '0600' stays a string. */
const yaml11 = (v: unknown) => stringify(v, { version: '1.1', lineWidth: 0 });

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** `sha256sum -c` input for every node file, paths relative to / as they stand in the archive. */
export function nodeFilesList(files: RenderedFile[]): string {
  return files.map((f) => `${sha256(f.content)}  ${f.path.slice(1)}\n`).join('');
}

/**
 * The NoCloud seed of a node. A node's files (its keys among them) do not fit in user-data's
 * 64 KiB, so they travel as an archive on the same seed volume; user-data writes the orchestrator
 * and the SHA-256 of every file, which first boot checks before installing any. `runcmd` (first
 * boot only) starts the orchestrator; its unit stays enabled so later boots resume or no-op.
 */
export function noCloudSeed(site: ResolvedSite, node: ResolvedNode, files: RenderedFile[]): NoCloudSeed {
  const written = [
    ...files.filter((f) => BOOT_FILES.includes(f.path)),
    { path: NODE_FILES.list, mode: '0644', content: nodeFilesList(files), origin: 'render:node-files-list' },
  ];
  const userData = {
    hostname: node.name,
    preserve_hostname: false,
    manage_etc_hosts: false,
    ssh_pwauth: false,
    disable_root: true,
    ...(site.os.sshAuthorizedKeys.length ? { ssh_authorized_keys: site.os.sshAuthorizedKeys } : {}),
    write_files: written.map((f) => ({
      path: f.path,
      owner: 'root:root',
      permissions: f.mode,
      encoding: 'gz+b64',
      content: gzipSync(Buffer.from(f.content), { level: 9 }).toString('base64'),
    })),
    runcmd: [
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', 'kubeseed-firstboot.service'],
      ['systemctl', 'start', '--no-block', 'kubeseed-firstboot.service'],
    ],
  };
  const digest = createHash('sha256');
  for (const f of files) digest.update(`${f.path}\0${f.mode}\0${f.content}\0`);
  const metaData = { 'instance-id': `${site.name}-${node.name}-${digest.digest('hex').slice(0, 16)}`, 'local-hostname': node.name };
  const networkConfig = {
    version: 2,
    ethernets: {
      primary: {
        match: node.mac ? { macaddress: node.mac } : { name: site.network.interface ?? 'e*' },
        // The interface gets the name the site gives it, so keepalived and the CNI can rely on it.
        ...(node.mac && site.network.interface ? { 'set-name': site.network.interface } : {}),
        addresses: [node.cidr],
        routes: [{ to: '0.0.0.0/0', via: node.gateway }],
        ...(node.dns.length ? { nameservers: { addresses: node.dns } } : {}),
      },
    },
  };
  return { 'user-data': `#cloud-config\n${yaml11(userData)}`, 'meta-data': yaml11(metaData), 'network-config': yaml11(networkConfig) };
}
