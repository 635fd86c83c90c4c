import test from 'ava';
import { FILES } from '../../generator/model/layout.js';
import { applyScript, kubeadmUpgradeCommand, packUpdates, siteOrder } from '../../generator/pack/update.js';
import { buildPlan } from '../../generator/plan/index.js';
import { nodeFacts } from '../../generator/render/index.js';
import { computeUpdates, type RenderedNodeFiles } from '../../generator/update/compute.js';
import { readTemplates } from '../../generator/io/templates.js';
import { createEngine } from '../../generator/text/template.js';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { renderLab1 } from '../goldens.js';
import { repoRoot } from '../helpers.js';
import { kubeadmMode, siteFromLab1 } from '../sites.js';
import { olderRelease, renderedWithPayload, updateScenarios, UPGRADE_FROM } from '../update-scenarios.js';

/**
 * Upgrades (issue #23): a new release in the blueprint gives each node an update with the new
 * release's downloads whose content changed, the files that name them, and the units that run
 * them, in the safe order. The golden files (test/golden/updates/upgrade*) hold the change sets
 * and the rendered scripts; these tests state the rules.
 */

let scenarios: ReturnType<typeof updateScenarios> | undefined;
const upgrade = async (name = 'upgrade') => {
  scenarios ??= updateScenarios();
  return (await scenarios).find((s) => s.name === name)!;
};

test('an upgrade carries the downloads whose content changed and restarts the units that run them, etcd and containerd untouched when their versions stay', async (t) => {
  const s = await upgrade();
  const lab1 = await renderLab1();
  const oldPlan = buildPlan(siteFromLab1(lab1.catalog, olderRelease), lab1.catalog);
  const newPlan = buildPlan(s.site!, lab1.catalog);
  const version = (p: typeof oldPlan, c: string) => p.artifacts.find((a) => a.component === c)?.version;
  t.is(s.update.updates.length, 3);
  for (const u of s.update.updates) {
    const keys = u.artifacts.map((a) => a.key);
    // Exactly the components whose version differs between the two releases.
    const differing = [...new Set(newPlan.artifacts.filter((a) => a.nodes.includes(u.node)).map((a) => a.component))].filter(
      (c) => version(oldPlan, c) !== version(newPlan, c),
    );
    t.deepEqual([...keys].filter((k) => k !== 'images').sort(), differing.sort(), u.node);
    t.true(keys.includes('kubelet') && keys.includes('kube-apiserver'));
    t.true(
      [...u.changed].some((f) => f.path === FILES.release),
      'the node records the release it runs',
    );
    // The bootstrap node also applies the new release's cluster manifests (they changed).
    t.deepEqual(
      u.restarts.map((r) => r.unit).filter((x) => x !== 'cluster-manifests'),
      ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'],
    );
    if (version(oldPlan, 'etcd') === version(newPlan, 'etcd')) t.false(keys.includes('etcd'));
    if (version(oldPlan, 'containerd') === version(newPlan, 'containerd')) t.false(keys.includes('containerd'));
  }
  t.truthy(UPGRADE_FROM);
});

test('bundling the upgraded site again changes nothing: same revision, no new update', async (t) => {
  const s = await upgrade();
  const names = s.nodes.map((n) => n.facts.node.name);
  const again = computeUpdates(s.update.record, s.nodes, names);
  t.is(again.revision, s.update.revision);
  t.deepEqual(again.record, s.update.record);
  // The node keeps getting the same latest update (the same bytes), not a newer one.
  t.deepEqual(
    again.updates.map((u) => [u.node, u.revision, u.artifacts.length]),
    s.update.updates.map((u) => [u.node, u.revision, u.artifacts.length]),
  );
});

test('a record from before upgrades existed adopts the node downloads unchanged, unless the same bundle changes the release', async (t) => {
  const lab1 = await renderLab1();
  const names = lab1.site.nodes.map((n) => n.name);
  const old = siteFromLab1(lab1.catalog, olderRelease);
  const oldNodes = await renderedWithPayload(old, lab1.catalog, lab1.state);
  const legacy = computeUpdates(
    null,
    oldNodes.map((n): RenderedNodeFiles => ({ facts: n.facts, files: n.files })),
    names,
  );
  t.true(Object.values(legacy.record.nodes).every((n) => n.artifacts === undefined));
  // Same release, now with a payload at hand: recorded, no update.
  const adopted = computeUpdates(legacy.record, oldNodes, names);
  t.is(adopted.revision, legacy.revision);
  t.deepEqual(adopted.updates, []);
  t.true(Object.values(adopted.record.nodes).every((n) => Object.values(n.artifacts ?? {}).every((a) => a.since === 1)));
  // A new release in the same bundle: every download goes.
  const newNodes = await renderedWithPayload(siteFromLab1(lab1.catalog), lab1.catalog, lab1.state);
  const up = computeUpdates(legacy.record, newNodes, names);
  t.is(up.revision, 2);
  const k1 = up.updates.find((u) => u.node === 'k8s-01')!;
  t.is(k1.artifacts.length, oldNodes.find((n) => n.facts.node.name === 'k8s-01')!.artifacts!.length);
});

test('without a payload at hand the downloads stay as recorded', async (t) => {
  const s = await upgrade();
  const names = s.nodes.map((n) => n.facts.node.name);
  const bare = s.nodes.map((n): RenderedNodeFiles => ({ facts: n.facts, files: n.files }));
  const u = computeUpdates(s.update.record, bare, names);
  t.is(u.revision, s.update.revision);
  for (const name of names) t.deepEqual(u.record.nodes[name]!.artifacts, s.update.record.nodes[name]!.artifacts);
});

test('kubeadm mode: the first control plane runs kubeadm upgrade apply with the new version (and leads the rollout), the others kubeadm upgrade node; the new images go along', async (t) => {
  const s = await upgrade('upgrade-kubeadm');
  const site = s.site!;
  const first = site.nodes.find((n) => n.name === site.derived.bootstrapNode)!;
  const other = site.nodes.find((n) => n.name !== first.name)!;
  const apply = kubeadmUpgradeCommand(site, nodeFacts(site, first))!;
  t.deepEqual(apply.slice(0, 3), ['upgrade', 'apply', site.kubernetes.version]);
  t.true(apply.includes('--certificate-renewal=false'), 'kubeseed owns the certificates');
  t.deepEqual(kubeadmUpgradeCommand(site, nodeFacts(site, other)), ['upgrade', 'node', '--certificate-renewal=false']);
  t.is(siteOrder(site)[0], first.name);
  for (const u of s.update.updates) {
    t.true(u.artifacts.some((a) => a.key === 'images'));
    t.deepEqual(
      u.restarts.map((r) => r.unit).filter((x) => x !== 'cluster-manifests'),
      ['kubeadm-upgrade', 'kubelet', 'kube-proxy'],
    );
  }
  const lab1 = await renderLab1();
  t.is(kubeadmUpgradeCommand(siteFromLab1(lab1.catalog), nodeFacts(siteFromLab1(lab1.catalog), first)), null, 'binary mode runs no kubeadm');
  // A pre-release target needs kubeadm's consent to an "unstable" version.
  const pre = { ...site, kubernetes: { ...site.kubernetes, version: 'v1.37.2-kubeseed.1' } };
  t.true(kubeadmUpgradeCommand(pre, nodeFacts(pre, first))!.includes('--allow-experimental-upgrades'));
  t.truthy(kubeadmMode);
});

test('an upgrade whose downloads the bundle has no payload for is refused, naming the file', async (t) => {
  const s = await upgrade();
  const engine = createEngine(await readTemplates(join(repoRoot, 'blueprints', 'templates')));
  const dist = mkdtempSync(join(tmpdir(), 'kubeseed-upgrade-'));
  try {
    const plan = buildPlan(s.site!, (await renderLab1()).catalog);
    const e = await t.throwsAsync(packUpdates(dist, { site: s.site!, plan, payload: null, updates: s.update.updates, revision: 2, epoch: 0, engine }));
    t.regex(e.message, /^the update of k8s-01 carries \S+-v1\.37\.\d+-\S+ \(sha256 [0-9a-f]{12}…\), which this bundle's payload does not hold/);
    t.throws(() => applyScript(engine, s.site!, s.update.updates[0]!), { message: /needs the plan/ });
  } finally {
    rmSync(dist, { recursive: true, force: true });
  }
});
