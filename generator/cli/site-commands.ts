import { hasErrors } from '../model/index.js';
import { buildPlan } from '../plan/index.js';
import { EXIT, SITE_HELP, SITE_OPTIONS, type Command } from './commands.js';
import { paint, reportIssues, table } from './output.js';
import { loadSiteFrom, loadValidSite } from './site-input.js';

export const validateCommand: Command = {
  name: 'validate',
  usage: 'gen validate [--site NAME|PATH] [--catalog DIR] [--json]',
  help: SITE_HELP,
  options: SITE_OPTIONS,
  async run(values, _pos, ctx) {
    const loaded = await loadSiteFrom(values, ctx);
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
  usage: 'gen plan [--site NAME|PATH] [--catalog DIR] [--json]',
  help: SITE_HELP,
  options: SITE_OPTIONS,
  async run(values, _pos, ctx) {
    const { site, catalog } = await loadValidSite(values, ctx);
    const plan = buildPlan(site, catalog);
    const s = ctx.streams;
    if (values.json) {
      s.out(JSON.stringify(plan, null, 2));
      return EXIT.ok;
    }
    s.out(paint(s, 'bold', `Site ${plan.site}: Kubernetes ${plan.kubernetesVersion}, ${plan.mode} mode\n`));
    s.out(paint(s, 'bold', `Downloads (${plan.artifacts.length})`));
    s.out(
      table([
        ['artifact', 'checksum', 'nodes'],
        ...plan.artifacts.map((a) => [
          a.id,
          a.checksum.kind === 'pinned' ? `pinned ${a.checksum.sha256!.slice(0, 12)}…` : `${a.checksum.kind} ${a.checksum.url}`,
          a.nodes.join(','),
        ]),
      ]),
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
