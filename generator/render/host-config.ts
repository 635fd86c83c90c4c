import type { OsFamily, ResolvedSite } from '../model/index.js';
import { OS_PATHS } from '../model/layout.js';
import { tomlString } from '../text/template.js';

/** The unit that runs chrony, by OS family. */
export const CHRONY_SERVICE: Record<OsFamily, string> = { debian: 'chrony', ubuntu: 'chrony', rhel: 'chronyd' };

/** The resolv.conf the kubelet hands pods: the family's (OS_PATHS), unless the site names its own. */
export function resolvConf(site: ResolvedSite): string {
  return site.os.resolvConf ?? OS_PATHS[site.os.family].resolvConf;
}

/**
 * The whole chrony.conf rather than a drop-in: the distributions' own file names a public pool,
 * which a node inside the site must never try.
 */
export function chronyConf(site: ResolvedSite): string {
  return [
    "# Written by kubeseed: the site's time sources, and nothing outside the site.",
    ...site.os.ntpServers.map((s) => `server ${s} iburst`),
    `driftfile ${OS_PATHS[site.os.family].chronyDrift}`,
    // Step the clock at boot when it is far off (a node's RTC after months in storage), slew afterwards.
    'makestep 1.0 3',
    'rtcsync',
    `logdir ${OS_PATHS[site.os.family].chronyLogDir}`,
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
