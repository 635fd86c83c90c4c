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
import { planFrom } from '../pipeline/plan-from.js';
import type { PlanChange } from '../plan/change.js';

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
  usage: 'gen plan [--site NAME|PATH] [--catalog DIR] [--out DIR] [--state DIR] [--lock FILE] [--sizes [--timeout SECONDS]] [--from LOCK|MANIFEST] [--json]',
  help: [
    ...SITE_HELP,
    '--out DIR             output root (default: ./output), where the site state is found',
    '--state DIR           site state directory (default: <out>/<site>/state): the blueprint is checked against the',
    '                      site it records, as gen validate does',
    '--lock FILE           the lock whose sizes to show (default: <site>.lock.json beside the blueprint)',
    "--sizes               ask each download's server for its size (HEAD) when the lock does not record it",
    '--timeout SECONDS     with --sizes: give up on a server that does not answer for this long (default: 30)',
    'Without --sizes, plan reads no network: sizes come from the lock (written by gen fetch).',
    '--from FILE           instead of the plan, what a gen bundle of the blueprint as written would change against an',
    '                      earlier lock (gen fetch) or bundle manifest.json: versions, images, downloads, and per node',
    "                      (from the site state's delivery record) the files added, changed and removed and the units",
    '                      those files and the new binaries restart. Nothing is written.',
  ],
  options: {
    ...SITE_OPTIONS,
    out: { type: 'string' },
    state: { type: 'string' },
    lock: { type: 'string' },
    sizes: { type: 'boolean' },
    timeout: { type: 'string' },
    from: { type: 'string' },
  },
  numbers: { timeout: FETCH_NUMBERS.timeout },
  conflicts: [
    { option: 'from', with: ['sizes', 'timeout', 'lock'], because: '--from shows what changes against an earlier bundle, not the downloads and their sizes' },
  ],
  async run(values, _pos, ctx) {
    const { site, catalog, file } = await loadValidSite(values, ctx, { running: true });
    const s = ctx.streams;
    if (values.from) {
      const loc = { cwd: s.cwd, ...(values.state ? { state: values.state as string } : {}), ...(values.out ? { out: values.out as string } : {}) };
      const change = await planFrom(site, catalog, { ...loc, from: values.from as string, root: ctx.root });
      if (values.json) s.out(JSON.stringify(change, null, 2));
      else for (const line of describeChange(change, (style, text) => paint(s, style, text))) s.out(line);
      return EXIT.ok;
    }
    const plan = buildPlan(site, catalog);
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

/** `gen plan --from` as text: the versions, images and downloads that change, then each node. */
function describeChange(c: PlanChange, style: (s: 'bold', text: string) => string): string[] {
  const out: string[] = [];
  const was = c.from.kubernetes ?? '?';
  out.push(
    style(
      'bold',
      `Site ${c.site}: Kubernetes ${was === c.to.kubernetes ? c.to.kubernetes : `${was} -> ${c.to.kubernetes}`}, ${c.from.mode && c.from.mode !== c.to.mode ? `${c.from.mode} -> ` : ''}${c.to.mode} mode`,
    ),
  );
  out.push(
    `compared with ${c.from.kind === 'lock' ? 'the lock' : 'the bundle manifest'} ${c.from.file}${c.from.revision !== null ? ` (site revision ${c.from.revision})` : ''}`,
  );
  out.push(style('bold', `\nVersions (${c.versions.length} changed)`));
  out.push(c.versions.length ? table([['component', 'from', 'to'], ...c.versions.map((v) => [v.component, v.from ?? '-', v.to ?? '-'])]) : '  none');
  out.push(style('bold', `\nImages (${c.images.added.length} added, ${c.images.removed.length} removed)`));
  for (const r of c.images.added) out.push(`  + ${r}`);
  for (const r of c.images.removed) out.push(`  - ${r}`);
  if (c.artifacts) {
    out.push(style('bold', `\nDownloads (${c.artifacts.added.length} added, ${c.artifacts.removed.length} removed)`));
    for (const a of c.artifacts.added) out.push(`  + ${a}`);
    for (const a of c.artifacts.removed) out.push(`  - ${a}`);
  }
  out.push(style('bold', '\nNodes'));
  if (!c.nodes) out.push(`  not compared: ${c.nodesNote}`);
  else
    for (const n of c.nodes) {
      if (n.new) {
        out.push(`  ${n.node}: new, installs from its seed`);
        continue;
      }
      const files = n.added.length + n.changed.length + n.removed.length;
      out.push(`  ${n.node}: ${files ? `${n.added.length} file(s) added, ${n.changed.length} changed, ${n.removed.length} removed` : 'no file changes'}`);
      for (const p of n.added) out.push(`    + ${p}`);
      for (const p of n.changed) out.push(`    ~ ${p}`);
      for (const p of n.removed) out.push(`    - ${p}`);
      out.push(`    restarts: ${n.restarts.length ? n.restarts.map((r) => `${r.unit} (${r.because.join(', ')})`).join('; ') : 'nothing'}`);
    }
  out.push('\nNothing was written; gen bundle makes these changes.');
  return out;
}
