import { resolve } from 'node:path';
import { HttpClient } from '../fetch/http.js';
import { readLock } from '../fetch/lock.js';
import { sizesByHead, sizesFromLock } from '../fetch/sizes.js';
import { hasErrors } from '../model/index.js';
import { defaultLockPath } from '../pipeline/fetch.js';
import { formatBytes } from '../text/bytes.js';
import { FETCH_NUMBERS } from './fetch-command.js';
import { buildPlan } from '../plan/index.js';
import { EXIT, SITE_HELP, SITE_OPTIONS, type Command } from './commands.js';
import { paint, reportIssues, table } from './output.js';
import { loadSiteFrom, loadValidSite } from './site-input.js';

export const validateCommand: Command = {
  name: 'validate',
  usage: 'gen validate [--site NAME|PATH] [--catalog DIR] [--out DIR] [--state DIR] [--json]',
  help: [
    ...SITE_HELP,
    '--out DIR             output root (default: ./output), where the site state is found',
    '--state DIR           site state directory (default: <out>/<site>/state)',
    'When the state holds a delivery record (written by gen bundle), the blueprint is also checked against the',
    "running site: its networks and domain, its nodes' addresses and roles, and the etcd members it keeps;",
    'and the move from the release it was bundled with against upstream version skew (see README, Upgrading).',
  ],
  options: { ...SITE_OPTIONS, out: { type: 'string' }, state: { type: 'string' } },
  async run(values, _pos, ctx) {
    const loaded = await loadSiteFrom(values, ctx, { running: true });
    const ok = !hasErrors(loaded.issues) && loaded.resolved !== undefined;
    if (values.json) {
      ctx.streams.out(JSON.stringify({ file: loaded.file, valid: ok, issues: loaded.issues }, null, 2));
    } else {
      reportIssues(ctx.streams, loaded.issues);
      if (ok) {
        const r = loaded.resolved!;
        ctx.streams.out(
          `${paint(ctx.streams, 'green', 'valid')}: ${r.name} — ${r.nodes.length} node(s), Kubernetes ${r.kubernetes.version}, ${r.kubernetes.mode} mode, ${r.network.plugin}, catalog ${r.artifacts.catalog}`,
        );
      }
    }
    return ok ? EXIT.ok : EXIT.badInput;
  },
};

export const planCommand: Command = {
  name: 'plan',
  usage: 'gen plan [--site NAME|PATH] [--catalog DIR] [--out DIR] [--state DIR] [--lock FILE] [--sizes [--timeout SECONDS]] [--json]',
  help: [
    ...SITE_HELP,
    '--out DIR             output root (default: ./output), where the site state is found',
    '--state DIR           site state directory (default: <out>/<site>/state): the blueprint is checked against the',
    '                      site it records, as gen validate does',
    '--lock FILE           the lock whose sizes to show (default: <site>.lock.json beside the blueprint)',
    "--sizes               ask each download's server for its size (HEAD) when the lock does not record it",
    '--timeout SECONDS     with --sizes: give up on a server that does not answer for this long (default: 30)',
    'Without --sizes, plan reads no network: sizes come from the lock (written by gen fetch).',
  ],
  options: {
    ...SITE_OPTIONS,
    out: { type: 'string' },
    state: { type: 'string' },
    lock: { type: 'string' },
    sizes: { type: 'boolean' },
    timeout: { type: 'string' },
  },
  numbers: { timeout: FETCH_NUMBERS.timeout },
  async run(values, _pos, ctx) {
    const { site, catalog, file } = await loadValidSite(values, ctx, { running: true });
    const plan = buildPlan(site, catalog);
    const s = ctx.streams;
    const lockPath = values.lock ? resolve(s.cwd, values.lock as string) : defaultLockPath(file);
    let sizes = sizesFromLock(plan, await readLock(lockPath));
    if (values.sizes) {
      const http = new HttpClient({ env: ctx.env, timeoutMs: Number(values.timeout ?? 30) * 1000, retries: 2, backoffMs: 250 });
      try {
        sizes = await sizesByHead(plan, sizes, http, 4);
      } finally {
        await http.close();
      }
    }
    for (const a of plan.artifacts) a.size = sizes.artifacts.get(a.id)?.size ?? null;
    for (const [id, why] of sizes.unknown) s.err(paint(s, 'yellow', `warning: no size for ${id}: ${why}`));
    const downloads = {
      bytes: sizes.total,
      lock: lockPath,
      artifacts: { known: sizes.artifacts.size, unknown: plan.artifacts.filter((a) => a.size === null).map((a) => a.id) },
      osPackages: sizes.osPackages,
    };
    if (values.json) {
      s.out(JSON.stringify({ ...plan, downloads }, null, 2));
      return EXIT.ok;
    }
    s.out(paint(s, 'bold', `Site ${plan.site}: Kubernetes ${plan.kubernetesVersion}, ${plan.mode} mode\n`));
    s.out(paint(s, 'bold', `Downloads (${plan.artifacts.length})`));
    s.out(
      table([
        ['artifact', 'size', 'checksum', 'nodes'],
        ...plan.artifacts.map((a) => [
          a.id,
          a.size === null ? '?' : `${formatBytes(a.size)}${sizes.artifacts.get(a.id)?.from === 'server' ? ' (server)' : ''}`,
          a.checksum.kind === 'pinned' ? `pinned ${a.checksum.sha256!.slice(0, 12)}…` : `${a.checksum.kind} ${a.checksum.url}`,
          a.nodes.join(','),
        ]),
      ]),
    );
    const unknown = downloads.artifacts.unknown.length;
    const debs = sizes.osPackages ? ` + OS packages ${formatBytes(sizes.osPackages.bytes)} (${sizes.osPackages.debs} .deb)` : '';
    s.out(
      `Total: ${sizes.total || !unknown ? formatBytes(sizes.total) : 'unknown'}${debs ? ` (binaries ${formatBytes(sizes.total - sizes.osPackages!.bytes)}${debs})` : ''}` +
        (unknown ? `; ${unknown} size(s) unknown: run gen fetch (which records them in ${lockPath}) or gen plan --sizes` : '') +
        '; images are counted once gen fetch has pulled them',
    );
    s.out(paint(s, 'bold', `\nImages (${plan.images.length})`));
    s.out(table([['reference', 'platform', 'pulled from', 'nodes'], ...plan.images.map((i) => [i.ref, i.platform, i.pullFrom, i.nodes.join(',')])]));
    s.out(paint(s, 'bold', `\nCertificates and keys (${plan.certificates.length})`));
    s.out(
      table([
        ['name', 'CN', 'O', 'certificate on', 'key on'],
        ...plan.certificates.map((c) => [c.name, c.cn || '-', c.o.join(',') || '-', c.nodes.join(',') || '-', c.keyOnNodes.join(',') || '-']),
      ]),
    );
    const os = plan.osPackages;
    s.out(
      paint(s, 'bold', `\nOS packages (${os.repos.length} repositor${os.repos.length === 1 ? 'y' : 'ies'}; resolved with their dependencies by gen fetch)`),
    );
    if (os.repos.length) {
      s.out(
        table([
          ['repository', 'archive', 'nodes'],
          ...os.repos.map((r) => [
            r.id,
            `${r.mirror} ${r.suite} ${r.components.join(' ')}`,
            Object.keys(os.nodes)
              .filter((n) => os.nodes[n]!.repo === r.id)
              .join(','),
          ]),
        ]),
      );
      s.out(table([['node', 'packages'], ...Object.entries(os.nodes).map(([n, p]) => [n, p.packages.join(' ')])]));
    } else s.out('  none: the nodes install from their own media');
    for (const n of plan.nodes) {
      s.out(paint(s, 'bold', `\nNode ${n.name} (${n.roles.join(', ')}; ${n.arch}): ${n.files.length} files`));
      s.out(table(n.files.map((f) => [f.mode, f.path, f.origin])));
    }
    return EXIT.ok;
  },
};
