import type { OsFamily, ResolvedSite } from '../model/index.js';
import { tomlString } from './engine.js';

/** Where each OS family keeps chrony: the file kubeseed owns, the drift file and the unit to restart. */
export const CHRONY: Record<OsFamily, { conf: string; drift: string; service: string }> = {
  debian: { conf: '/etc/chrony/chrony.conf', drift: '/var/lib/chrony/chrony.drift', service: 'chrony' },
  ubuntu: { conf: '/etc/chrony/chrony.conf', drift: '/var/lib/chrony/chrony.drift', service: 'chrony' },
  rhel: { conf: '/etc/chrony.conf', drift: '/var/lib/chrony/drift', service: 'chronyd' },
};

/**
 * The whole chrony.conf rather than a drop-in: the distributions' own file names a public pool,
 * which a node inside the site must never try.
 */
export function chronyConf(site: ResolvedSite): string {
  const c = CHRONY[site.os.family];
  return [
    "# Written by kubeseed: the site's time sources, and nothing outside the site.",
    ...site.os.ntpServers.map((s) => `server ${s} iburst`),
    `driftfile ${c.drift}`,
    // Step the clock at boot when it is far off (a node's RTC after months in storage), slew afterwards.
    'makestep 1.0 3',
    'rtcsync',
    'logdir /var/log/chrony',
    '',
  ].join('\n');
}

/**
 * containerd's hosts.toml for one upstream registry: the site's own registries, asked in order.
 * No `server` line: naming the upstream would point a node outside the site.
 */
export function containerdHosts(mirrors: string[]): string {
  return [
    '# Written by kubeseed: registries inside the site that containerd asks first, in this order.',
    ...mirrors.flatMap((m) => ['', `[host.${tomlString(m)}]`, '  capabilities = ["pull", "resolve"]']),
    '',
  ].join('\n');
}
