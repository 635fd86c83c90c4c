import test from 'ava';
import { join } from 'node:path';
import { loadSite } from '../../generator/pipeline/load.js';
import { realFs } from '../../generator/io/fs.js';
import { readState } from '../../generator/io/state.js';
import { NODE } from '../../generator/model/layout.js';
import { nodeFacts, nodeFiles } from '../../generator/render/index.js';
import { computeUpdates, type SiteUpdate } from '../../generator/update/compute.js';
import { parseRecord, serializeRecord } from '../../generator/update/record.js';
import { RESTART_ORDER, unitsFor } from '../../generator/render/restarts.js';
import { fixtureStateDir, ROCKY_SITE } from '../goldens.js';
import { repoRoot, testClock } from '../helpers.js';
import { newPause, renderedNodes, updateScenarios, type Scenario } from '../update-scenarios.js';

/**
 * The update computation (generator/update): which files and which units each kind of change
 * touches. The golden files (test/golden/updates) hold the full change sets; these tests state the
 * rules they must follow.
 */

let scenarios: Promise<Scenario[]> | undefined;
const scenario = async (name: string): Promise<SiteUpdate> => {
  scenarios ??= updateScenarios();
  return (await scenarios).find((s) => s.name === name)!.update;
};
const units = (u: SiteUpdate, node: string) => u.updates.find((x) => x.node === node)?.restarts.map((r) => r.unit);
const paths = (u: SiteUpdate, node: string) => {
  const n = u.updates.find((x) => x.node === node)!;
  return [...n.added, ...n.changed].map((f) => f.path).concat(n.removed);
};

test('the first bundle of a site records every node at revision 1 and makes no update', async (t) => {
  const u = await scenario('first-bundle');
  t.is(u.revision, 1);
  t.deepEqual(u.updates, []);
  t.deepEqual(u.recorded, ['k8s-01', 'k8s-02', 'k8s-03']);
  t.true(Object.values(u.record.nodes).every((n) => n.revision === 1 && Object.keys(n.files).length > 40));
});

test('nothing changed: no update, and the site keeps its revision and record', async (t) => {
  const first = await scenario('first-bundle');
  const u = await scenario('nothing-changed');
  t.is(u.revision, 1);
  t.deepEqual(u.updates, []);
  t.deepEqual(u.recorded, []);
  t.deepEqual(u.record, first.record);
});

test('a leaf renewal changes only certificates, keys and the kubeconfigs that embed them, and restarts every component but containerd', async (t) => {
  const u = await scenario('leaf-renewal');
  t.is(u.revision, 2);
  t.is(u.updates.length, 3);
  for (const n of ['k8s-01', 'k8s-02', 'k8s-03']) {
    t.true(
      paths(u, n).every((p) => /\/pki\/|\.conf$|kube-proxy\/kubeconfig$/.test(p)),
      paths(u, n).join(' '),
    );
    t.false(
      paths(u, n).some((p) => p.endsWith('/ca.crt') || p.endsWith('/ca.key') || p.includes('/sa.')),
      'no CA and no service-account key',
    );
    t.deepEqual(units(u, n), ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy']);
    t.is(u.updates.find((x) => x.node === n)!.base, 1);
  }
  // The new record carries the renewed files from revision 2 on, the rest from revision 1.
  const rec = u.record.nodes['k8s-02']!;
  t.is(rec.revision, 2);
  t.is(rec.files['/etc/kubernetes/pki/apiserver.crt']!.since, 2);
  t.is(rec.files['/etc/containerd/config.toml']!.since, 1);
});

test('a containerd config change restarts containerd alone', async (t) => {
  const u = await scenario('containerd-config');
  for (const n of ['k8s-01', 'k8s-02', 'k8s-03']) {
    t.deepEqual(paths(u, n), ['/etc/containerd/config.toml']);
    t.deepEqual(units(u, n), ['containerd']);
    t.false(u.updates.find((x) => x.node === n)!.daemonReload);
  }
});

test('a new etcd member joins the running cluster: it starts as existing with the members and itself; the others get it in their etcd settings, apiserver and hosts, and no etcd restart', async (t) => {
  const u = await scenario('new-etcd-member');
  t.deepEqual(u.recorded, ['k8s-04']);
  t.deepEqual(
    u.updates.map((x) => x.node),
    ['k8s-01', 'k8s-02', 'k8s-03'],
  );
  for (const n of ['k8s-01', 'k8s-02', 'k8s-03']) {
    for (const p of ['/etc/hosts', '/etc/kubeseed/apiserver-proxy.conf', '/etc/kubeseed/etcd-cluster.env']) t.true(paths(u, n).includes(p), `${n} ${p}`);
    t.false(paths(u, n).includes('/etc/systemd/system/etcd.service'), `${n}: etcd's unit stays as it was`);
    // The apiserver (its certificate names the new control plane), then the way to the apiservers; the bootstrap node applies the changed cluster manifests last.
    t.deepEqual(units(u, n), ['kube-apiserver', 'kubeseed-apiserver-proxy', ...(n === 'k8s-01' ? ['cluster-manifests'] : [])]);
  }
  t.truthy(u.record.nodes['k8s-04']);
  t.deepEqual(u.record.site!.nodes['k8s-04'], { ip: '192.168.93.48', roles: ['control-plane', 'etcd', 'worker'], joined: true });
  const s = (await (scenarios ??= updateScenarios())).find((x) => x.name === 'new-etcd-member')!;
  const env = (node: string) => s.nodes.find((n) => n.facts.node.name === node)!.files.find((f) => f.path === '/etc/kubeseed/etcd-cluster.env')!.content;
  t.regex(env('k8s-04'), /^ETCD_INITIAL_CLUSTER_STATE=existing$/m);
  t.regex(
    env('k8s-04'),
    /^ETCD_INITIAL_CLUSTER=k8s-01=https:\/\/192\.168\.93\.45:2380,k8s-02=https:\/\/192\.168\.93\.46:2380,k8s-03=https:\/\/192\.168\.93\.47:2380,k8s-04=https:\/\/192\.168\.93\.48:2380$/m,
  );
  t.regex(env('k8s-04'), /^KUBESEED_ETCD_ENDPOINTS=https:\/\/192\.168\.93\.45:2379,https:\/\/192\.168\.93\.46:2379,https:\/\/192\.168\.93\.47:2379$/m);
  t.regex(env('k8s-01'), /^ETCD_INITIAL_CLUSTER_STATE=new$/m);
  t.regex(env('k8s-01'), /^ETCD_INITIAL_CLUSTER=k8s-01=.*,k8s-04=https:\/\/192\.168\.93\.48:2380$/m);
  t.regex(env('k8s-01'), /^KUBESEED_ETCD_ENDPOINTS=$/m);
});

test('the bundle after a member joined changes nothing: it still starts as existing, and the others knew of it already', async (t) => {
  const u = await scenario('after-join');
  const s = (await (scenarios ??= updateScenarios())).find((x) => x.name === 'after-join')!;
  t.is(u.revision, 2);
  t.is(u.updates.length, 3, 'the latest updates, carried again');
  t.true(u.updates.every((x) => x.revision === 2));
  const env = s.nodes.find((n) => n.facts.node.name === 'k8s-04')!.files.find((f) => f.path === '/etc/kubeseed/etcd-cluster.env')!.content;
  t.regex(env, /^ETCD_INITIAL_CLUSTER_STATE=existing$/m);
});

test('an etcd member leaves: the bootstrap node takes it out (drain, delete, member remove) with the endpoints of the members that stay; nobody restarts etcd', async (t) => {
  const u = await scenario('etcd-member-removed');
  t.deepEqual(u.dropped, ['k8s-03']);
  t.deepEqual(
    u.updates.map((x) => x.node),
    ['k8s-01', 'k8s-02'],
  );
  const k1 = u.updates.find((x) => x.node === 'k8s-01')!;
  t.deepEqual(k1.departures, [
    {
      name: 'k8s-03',
      ip: '192.168.93.47',
      roles: ['control-plane', 'etcd', 'worker'],
      etcd: true,
      revision: 2,
      by: 'k8s-01',
      etcdEndpoints: ['https://192.168.93.45:2379', 'https://192.168.93.46:2379'],
    },
  ]);
  t.deepEqual(u.updates.find((x) => x.node === 'k8s-02')!.departures, []);
  for (const n of ['k8s-01', 'k8s-02']) {
    t.true(paths(u, n).includes('/etc/kubeseed/etcd-cluster.env'), n);
    t.false(units(u, n)!.includes('etcd'), `${n}: no etcd restart with two members left`);
  }
  t.deepEqual(u.record.departed, { 'k8s-03': { ip: '192.168.93.47', roles: ['control-plane', 'etcd', 'worker'], etcd: true, revision: 2, by: 'k8s-01' } });
  t.deepEqual(parseRecord(serializeRecord(u.record)), u.record, 'the record keeps it');
  const s = (await (scenarios ??= updateScenarios())).find((x) => x.name === 'etcd-member-removed')!;
  const again = computeUpdates(u.record, s.nodes, ['k8s-01', 'k8s-02']);
  t.is(again.revision, 2, 'made again: nothing new');
  t.deepEqual(
    again.updates.find((x) => x.node === 'k8s-01')!.departures.map((d) => d.name),
    ['k8s-03'],
    "and the bootstrap node's update carries the take-out again",
  );
});

test('removed files and dropped nodes: a file the node no longer gets is removed and restarts its unit; a node gone from the site loses its record', async (t) => {
  const first = await scenario('first-bundle');
  const lab1 = await loadSite(realFs, { site: 'lab1', cwd: repoRoot, root: repoRoot, clock: testClock });
  const state = (await readState(fixtureStateDir))!;
  const nodes = await renderedNodes(lab1.resolved!, lab1.catalog!, state);
  const k1 = nodes[0]!;
  const fewer = [{ ...k1, files: k1.files.filter((f) => f.path !== '/etc/kubeseed/apiserver-proxy.conf') }];
  const u = computeUpdates(first.record, fewer, ['k8s-01', 'k8s-02']);
  t.is(u.revision, 2);
  t.deepEqual(u.dropped, ['k8s-03']);
  t.deepEqual(Object.keys(u.record.nodes), ['k8s-01', 'k8s-02']);
  t.deepEqual(u.record.nodes['k8s-02'], first.record.nodes['k8s-02'], 'a node not rendered keeps its record');
  t.deepEqual(u.updates[0]!.removed, ['/etc/kubeseed/apiserver-proxy.conf']);
  t.deepEqual(units(u, 'k8s-01'), ['kubeseed-apiserver-proxy']);
});

test('a node keeps getting its latest update while nothing changes, and --update-from makes it start earlier', async (t) => {
  const lab1 = await loadSite(realFs, { site: 'lab1', cwd: repoRoot, root: repoRoot, clock: testClock });
  const site = lab1.resolved!;
  const names = site.nodes.map((n) => n.name);
  scenarios ??= updateScenarios();
  const renewedScenario = (await scenarios).find((x) => x.name === 'leaf-renewal')!;
  const renewed = renewedScenario.update;
  const renewedNodes = renewedScenario.nodes;
  // The same bundle again: the same revision and the same update (bytes and all), so a second gen bundle loses nothing.
  const again = computeUpdates(renewed.record, renewedNodes, names);
  t.is(again.revision, 2);
  t.deepEqual(again.updates, renewed.updates);
  t.deepEqual(again.record, renewed.record);
  // Then containerd's config: revision 3 carries that file alone, from revision 2 ...
  const both = await renderedNodes(site, lab1.catalog!, renewedScenario.state, newPause);
  const third = computeUpdates(renewed.record, both, names);
  t.is(third.revision, 3);
  t.deepEqual(
    third.updates[0]!.changed.map((f) => f.path),
    ['/etc/containerd/config.toml'],
  );
  t.is(third.updates[0]!.base, 2);
  // ... and from revision 1 (a node that missed revision 2) both changes, with the units of both.
  const cumulative = computeUpdates(renewed.record, both, names, 1);
  const u = cumulative.updates.find((x) => x.node === 'k8s-01')!;
  t.is(u.base, 1);
  t.is(u.changed.length, renewed.updates.find((x) => x.node === 'k8s-01')!.changed.length + 1);
  t.deepEqual(
    u.restarts.map((r) => r.unit),
    ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'containerd', 'kubelet', 'kube-proxy'],
  );
  t.deepEqual(cumulative.record, third.record, '--update-from changes the update, not the record');
});

test('a mode change alone is a change', async (t) => {
  const first = await scenario('first-bundle');
  const lab1 = await loadSite(realFs, { site: 'lab1', cwd: repoRoot, root: repoRoot, clock: testClock });
  const nodes = await renderedNodes(lab1.resolved!, lab1.catalog!, (await readState(fixtureStateDir))!);
  const k1 = nodes[0]!;
  const loose = [{ ...k1, files: k1.files.map((f) => (f.path === '/etc/crictl.yaml' ? { ...f, mode: '0600' as const } : f)) }];
  const u = computeUpdates(first.record, loose, ['k8s-01', 'k8s-02', 'k8s-03']);
  t.deepEqual(
    u.updates[0]!.changed.map((f) => f.path),
    ['/etc/crictl.yaml'],
  );
  t.deepEqual(u.updates[0]!.restarts, []);
});

test('every file of every test site has a restart rule, and every path a unit names on its command line restarts that unit', async (t) => {
  const sites = ['lab1', ROCKY_SITE, ...['smoke1', 'smoke2', 'kubeadm2', 'lab1'].map((s) => join(repoRoot, 'test', 'e2e', 'sites', `${s}.yaml`))];
  let checked = 0;
  for (const s of sites) {
    const loaded = await loadSite(realFs, { site: s, cwd: repoRoot, root: repoRoot, clock: testClock });
    if (!loaded.resolved) {
      t.fail(`${s} does not resolve`);
      continue;
    }
    for (const node of loaded.resolved.nodes) {
      const facts = nodeFacts(loaded.resolved, node);
      for (const f of nodeFiles(facts)) {
        t.not(unitsFor(facts, f.path), null, `${s} ${node.name}: no restart rule for ${f.path}`);
        checked++;
      }
      for (const unit of facts.units) {
        for (const [, value] of unit.flags) {
          if (!value?.startsWith('/') || value.startsWith(NODE.etcdData) || value.startsWith(NODE.logDir)) continue;
          t.true(
            unitsFor(facts, value)?.includes(unit.name),
            `${s} ${node.name}: ${unit.name} reads ${value} but an update that changes it would not restart it`,
          );
        }
      }
    }
  }
  t.true(checked > 300, `${checked} files checked`);
});

test('the restart order puts etcd before the apiserver, the apiserver before its clients, containerd before the kubelet', (t) => {
  const at = (u: string) => RESTART_ORDER.indexOf(u);
  t.true(at('etcd') < at('kube-apiserver'));
  t.true(at('kube-apiserver') < at('kube-controller-manager') && at('kube-apiserver') < at('kube-scheduler'));
  t.true(at('kube-scheduler') < at('containerd') && at('containerd') < at('kubelet') && at('kubelet') < at('kube-proxy'));
});

test('the delivery record round-trips and a damaged one is refused with the field named', async (t) => {
  const first = await scenario('first-bundle');
  const text = serializeRecord(first.record);
  t.deepEqual(parseRecord(text), first.record);
  t.regex((parseRecord('{') as { invalid: string }).invalid, /^is not JSON/);
  const bad = JSON.parse(text) as { nodes: Record<string, { files: Record<string, { sha256: string }> }> };
  bad.nodes['k8s-01']!.files['/etc/hosts']!.sha256 = 'nothex';
  t.regex((parseRecord(JSON.stringify(bad)) as { invalid: string }).invalid, /nodes\.k8s-01\.files\.\/etc\/hosts\.sha256/);
});
