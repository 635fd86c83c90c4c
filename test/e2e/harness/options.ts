import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSite } from '../../../generator/site/index.js';
import type { WrittenSite } from '../../../generator/site/index.js';
import { repoRoot } from '../../helpers.js';

export const USAGE = `Usage: npm run test:e2e -- [options]

Builds (or reuses) the hermetic fixtures, runs the real \`gen bundle\` and boots every node of the
site in QEMU inside a network namespace of its own. Needs root.

Options:
  --site FILE          site blueprint (default test/e2e/sites/lab1.yaml)
  --reverse            power the nodes on in reverse order
  --late NODE          power NODE on two minutes after the others
  --reboot NODE|none   node rebooted after the checks (default: the last node)
  --icount SHIFT|off   guest clock from the instruction count (default 0), or the host's clock
  --timeout S          seconds to wait for every node Ready (default 1800)
  --keep               keep the run's directory even when every check passes
  --no-os-packages     the payload carries none of the nodes' OS packages: every first boot must
                       stop at its preflight within 30 s of guest time, naming what it lacks
  --day2 renew         after the checks: gen certs --renew and gen bundle, each node's update applied
                       over ssh (etcd members first), then new serials served, every node Ready,
                       no pod restarted, and a second apply a no-op (named checks in report.json)
  --day2 replace-member  after the checks (a site with three etcd members): the last one leaves the
                       blueprint (gen bundle, updates over ssh: the first control plane takes it out),
                       then a new member with a new name and address joins (gen bundle, updates, its
                       boot); etcd watched every 5 s for a quorum, then three members, every node Ready
  --day2 add-worker    after the checks: one more worker in the run's site, gen bundle (the other
                       nodes get no update; bridge: their route to it), the new node booted from its
                       seed, Ready with a pod on it; then kubeseed-reset on it, checked over ssh and
                       on its powered-off disk, and the node installed again from its seed
  --upgrade VERSION    after the checks: a DaemonSet on every node, the blueprint moved to VERSION
                       (a release of the site's catalog, e.g. v1.20.3-kubeseed.1), gen bundle and the
                       bundle's apply-updates.sh over ssh; then every component on VERSION, the
                       DaemonSet's pods unchanged, and a second apply-updates.sh a no-op
  --report FILE        also write report.json to FILE
  --help, -h           show this help`;

const DAY2 = ['renew', 'replace-member', 'add-worker'] as const;
export type Day2 = (typeof DAY2)[number];
const isDay2 = (v: string): v is Day2 => (DAY2 as readonly string[]).includes(v);

export interface Options {
  /** As given on the command line (the log names it this way). */
  siteArg: string;
  sitePath: string;
  site: WrittenSite;
  reverse: boolean;
  late?: string;
  reboot?: string;
  icount: string;
  timeoutS: number;
  keep: boolean;
  /** Bundle without the nodes' OS packages and check that each first boot stops at its preflight. */
  noOsPackages: boolean;
  report?: string;
  /** A day-two scenario run on the booted site (harness/day2.ts). */
  day2?: Day2;
  /** The release the booted site is upgraded to (harness/upgrade.ts). */
  upgrade?: string;
}

/** A command line the harness cannot run with: exit code 2, message and no stack. */
export class UsageError extends Error {}

/** The command line, with the site read by the generator's own parser; `undefined` for --help. */
export function parseOptions(argv: string[]): Options | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        site: { type: 'string', default: 'test/e2e/sites/lab1.yaml' },
        reverse: { type: 'boolean' },
        late: { type: 'string' },
        reboot: { type: 'string' },
        timeout: { type: 'string', default: '1800' },
        keep: { type: 'boolean' },
        'no-os-packages': { type: 'boolean' },
        report: { type: 'string' },
        day2: { type: 'string' },
        upgrade: { type: 'string' },
        icount: { type: 'string', default: '0' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return undefined;
  const sitePath = resolve(repoRoot, values.site);
  let text: string;
  try {
    text = readFileSync(sitePath, 'utf8');
  } catch (e) {
    throw new UsageError(`--site ${values.site}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  const parsed = parseSite(text, values.site);
  if (!parsed.site) {
    throw new UsageError(`--site ${values.site} is not a valid site:\n${parsed.issues.map((i) => `  ${i.path}: ${i.message}`).join('\n')}`);
  }
  const site = parsed.site;
  for (const [flag, name] of [
    ['--late', values.late],
    ['--reboot', values.reboot],
  ] as const) {
    if (name !== undefined && name !== 'none' && !site.spec.nodes.some((n) => n.name === name)) {
      throw new UsageError(`${flag} ${name}: ${values.site} has no such node (nodes: ${site.spec.nodes.map((n) => n.name).join(', ')})`);
    }
  }
  if (values.icount !== 'off' && !/^\d+$/.test(values.icount)) {
    throw new UsageError(`--icount ${values.icount}: give a shift (0 = one nanosecond of guest time per instruction) or off`);
  }
  if (!/^\d+$/.test(values.timeout) || Number(values.timeout) === 0) throw new UsageError(`--timeout ${values.timeout}: give a number of seconds`);
  if (values.day2 !== undefined && !isDay2(values.day2)) throw new UsageError(`--day2 ${values.day2}: the day-two scenarios are ${DAY2.join(', ')}`);
  if (values.day2 !== undefined && values['no-os-packages']) throw new UsageError('--day2 needs a site that comes up: not with --no-os-packages');
  if (values.upgrade !== undefined) {
    if (!/^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$/.test(values.upgrade))
      throw new UsageError(`--upgrade ${values.upgrade}: give a Kubernetes version, e.g. v1.20.3-kubeseed.1`);
    if (values.upgrade === site.spec.kubernetes.version) throw new UsageError(`--upgrade ${values.upgrade}: ${values.site} already runs it`);
    if (values['no-os-packages'] || values.day2 !== undefined)
      throw new UsageError('--upgrade runs alone on a site that comes up: not with --no-os-packages or --day2');
  }
  return {
    siteArg: values.site,
    sitePath,
    site,
    reverse: values.reverse ?? false,
    ...(values.late !== undefined ? { late: values.late } : {}),
    ...(values.reboot !== undefined ? { reboot: values.reboot } : {}),
    icount: values.icount,
    timeoutS: Number(values.timeout),
    keep: values.keep ?? false,
    noOsPackages: values['no-os-packages'] ?? false,
    ...(values.report !== undefined ? { report: values.report } : {}),
    ...(values.day2 !== undefined && isDay2(values.day2) ? { day2: values.day2 } : {}),
    ...(values.upgrade !== undefined ? { upgrade: values.upgrade } : {}),
  };
}
