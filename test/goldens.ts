import { join } from 'node:path';
import { realFs } from '../generator/io/fs.js';
import { readState } from '../generator/io/state.js';
import { readTemplates } from '../generator/io/templates.js';
import { loadSite } from '../generator/pipeline/load.js';
import { renderSite } from '../generator/pipeline/render.js';
import { buildPlan } from '../generator/plan/index.js';
import { kickstart } from '../generator/pack/kickstart.js';
import { applyScript, rollbackScript } from '../generator/pack/update.js';
import { nodeFilesList } from '../generator/render/index.js';
import { createEngine } from '../generator/text/template.js';
import { repoRoot, testClock } from './helpers.js';
import { describeScenario, updateScenarios } from './update-scenarios.js';

export const ROCKY_SITE = join(repoRoot, 'test', 'fixtures', 'sites', 'lab1-rocky.yaml');
export const fixtureStateDir = join(repoRoot, 'test', 'fixtures', 'state', 'lab1');

/** lab1 (or a variant of it with the same name and nodes) rendered with the committed test state. */
export async function renderLab1(site = 'lab1') {
  const loaded = await loadSite(realFs, { site, cwd: repoRoot, root: repoRoot, clock: testClock });
  if (!loaded.resolved || !loaded.catalog) throw new Error(`lab1 does not resolve: ${JSON.stringify(loaded.issues)}`);
  const state = await readState(fixtureStateDir);
  if (!state) throw new Error('no test state: run scripts/fixtures/make-test-state.mjs');
  const templates = await readTemplates(join(repoRoot, 'blueprints', 'templates'));
  return { site: loaded.resolved, catalog: loaded.catalog, state, ...renderSite(loaded.resolved, loaded.catalog, state, templates) };
}

/**
 * Golden files: the exact text each should hold, keyed by path under test/golden. The test
 * compares, `npm run golden` (scripts/update-golden.mjs) rewrites them for review in the diff.
 * Absolute paths are replaced by <repo> so the files hold on any checkout.
 */
const ROCKY_REVIEWED = [
  '/etc/chrony.conf',
  '/etc/containerd/certs.d/',
  '/opt/kubeseed/manifests/10-calico.yaml',
  '/opt/kubeseed/manifests/40-',
  '/opt/kubeseed/manifests/50-',
];

export async function renderGoldens(): Promise<Record<string, string>> {
  const loaded = await loadSite(realFs, { site: 'lab1', cwd: repoRoot, root: repoRoot, clock: testClock });
  if (!loaded.resolved || !loaded.catalog) throw new Error(`lab1 does not resolve: ${JSON.stringify(loaded.issues)}`);
  const plan = buildPlan(loaded.resolved, loaded.catalog);
  const out: Record<string, string> = {
    'lab1/resolved.json': stable(loaded.resolved),
    'lab1/plan.json': stable(plan),
  };
  for (const node of (await renderLab1()).nodes) {
    for (const f of node.files) out[`lab1/nodes/${node.name}${f.path}`] = `# mode ${f.mode} origin ${f.origin}\n${f.content}`;
    for (const [name, text] of Object.entries(node.seed)) out[`lab1/seeds/${node.name}/${name}`] = text;
  }
  // Kickstarts of the RHEL variant; the node-files archive (binary, covered by the checksum list) is a placeholder here.
  const rocky = await renderLab1(ROCKY_SITE);
  const engine = createEngine(await readTemplates(join(repoRoot, 'blueprints', 'templates')));
  for (const node of rocky.nodes) {
    const n = rocky.site.nodes.find((x) => x.name === node.name)!;
    out[`lab1-rocky/${node.name}/ks.cfg`] = kickstart(engine, rocky.site, n, Buffer.from('node-files.tar.gz placeholder'), nodeFilesList(node.files));
    // What the RHEL variant renders differently from lab1: chrony's path, registry mirrors, calico and the extra add-ons.
    for (const f of node.files.filter((x) => ROCKY_REVIEWED.some((p) => x.path.startsWith(p))))
      out[`lab1-rocky/${node.name}/files${f.path}`] = `# mode ${f.mode} origin ${f.origin}\n${f.content}`;
  }
  // Update bundles: which files and which units each kind of change touches.
  const updateEngine = createEngine(await readTemplates(join(repoRoot, 'blueprints', 'templates')));
  for (const s of await updateScenarios()) {
    out[`updates/${s.name}.txt`] = describeScenario(s);
    // An upgrade's scripts as rendered: the downloads installed, kubeadm's commands (kubeadm mode), the rollback.
    if (!s.site) continue;
    const plan = buildPlan(s.site, (await renderLab1()).catalog);
    for (const u of s.update.updates.filter((x) => ['k8s-01', 'k8s-02'].includes(x.node))) {
      out[`updates/${s.name}/${u.node}.apply.sh`] = applyScript(updateEngine, s.site, u, plan);
      if (u.node === 'k8s-01') out[`updates/${s.name}/${u.node}.rollback.sh`] = rollbackScript(updateEngine, s.site, u);
    }
  }
  return out;
}

function stable(value: unknown): string {
  return JSON.stringify(value, null, 2).replaceAll(repoRoot, '<repo>') + '\n';
}

export const goldenDir = join(repoRoot, 'test', 'golden');
