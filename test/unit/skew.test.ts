import test from 'ava';
import { join } from 'node:path';
import { compareVersions, parseVersion } from '../../generator/catalog/versions.js';
import { realFs } from '../../generator/io/fs.js';
import type { BundledRelease, Catalog } from '../../generator/model/index.js';
import { readCatalog } from '../../generator/pipeline/load.js';
import { planChange } from '../../generator/plan/change.js';
import { buildPlan } from '../../generator/plan/index.js';
import { checkRules, resolveSite } from '../../generator/site/index.js';
import { CONTAINERD_MINIMUM, SKEW_RULES, maxNodeLag } from '../../generator/site/rules/skew.js';
import { parseRecord, serializeRecord } from '../../generator/update/record.js';
import { loadDefaultCatalog, repoRoot, TODAY } from '../helpers.js';
import { lab1 } from '../sites.js';

let catalog: Catalog;
let e2e: Catalog;
test.before(async () => {
  catalog = await loadDefaultCatalog();
  e2e = (await readCatalog(realFs, join(repoRoot, 'test', 'e2e', 'catalog'))).catalog!;
});

const SKEW = new Set(SKEW_RULES.map((r) => r.name));
const recorded = (c: Catalog, version: string): BundledRelease => {
  const r = c.releases.find((x) => x.version === version)!;
  return { kubernetes: r.version, versions: r.versions };
};
/** The skew rules' issues for a site on `to` whose state records `from`. */
function skew(c: Catalog, from: string | null, to: string, mode: 'binary' | 'kubeadm' = 'binary') {
  const site = lab1();
  site.spec.kubernetes.version = to;
  site.spec.kubernetes.mode = mode;
  return checkRules({ site, catalog: c, today: TODAY, previous: from ? recorded(c, from) : null })
    .filter((i) => SKEW.has(i.rule))
    .map((i) => i.rule)
    .sort();
}

test('versions order as semver: a suffixed local build sits between its patch and the previous one', (t) => {
  const v = (s: string) => parseVersion(s)!;
  t.true(compareVersions(v('v1.20.3-kubeseed.1'), v('v1.20.2')) > 0);
  t.true(compareVersions(v('v1.20.3-kubeseed.1'), v('v1.20.3')) < 0);
  t.true(compareVersions(v('v1.20.3-kubeseed.2'), v('v1.20.3-kubeseed.10')) < 0, 'numeric identifiers compare as numbers');
  t.true(compareVersions(v('v1.20.3-alpha'), v('v1.20.3-alpha.1')) < 0);
  t.true(compareVersions(v('v1.20.3-1'), v('v1.20.3-alpha')) < 0, 'numeric identifiers sort before alphanumeric ones');
  t.is(compareVersions(v('1.6.20'), v('v1.6.20')), 0, 'containerd writes no v');
  t.true(compareVersions(v('v3.5.25'), v('v3.5.26')) < 0);
  t.true(compareVersions(v('v1.10.0'), v('v1.9.9')) > 0);
  t.is(parseVersion('v1.20'), null);
  t.is(parseVersion('latest'), null);
});

test('one minor at a time along the catalog passes every skew rule; 1.34 -> 1.35 stops only at etcd 3.5.26', (t) => {
  t.deepEqual(skew(catalog, 'v1.35.9', 'v1.36.4'), []);
  t.deepEqual(skew(catalog, 'v1.36.4', 'v1.37.1'), []);
  t.deepEqual(skew(catalog, 'v1.37.1', 'v1.37.1'), [], 'the same release again is no change');
  t.deepEqual(skew(catalog, 'v1.36.4', 'v1.37.1', 'kubeadm'), []);
  t.deepEqual(skew(catalog, 'v1.34.2', 'v1.35.9'), ['upgrade-etcd-one-minor'], 'the catalog holds no 1.34 release with etcd 3.5.26 or later');
});

test('a site never bundled has no transition to check: only the release itself (containerd) is', (t) => {
  for (const r of catalog.releases) t.deepEqual(skew(catalog, null, r.version), [], r.version);
});

test('skipping minors, and going back, name every rule they break', (t) => {
  t.deepEqual(skew(catalog, 'v1.35.9', 'v1.37.1'), ['upgrade-control-plane-one-minor']);
  t.deepEqual(
    skew(catalog, 'v1.34.2', 'v1.37.1'),
    ['upgrade-control-plane-one-minor', 'upgrade-etcd-one-minor'],
    '1.34 -> 1.37: three kubelet minors is allowed',
  );
  t.deepEqual(skew(catalog, 'v1.20.2', 'v1.34.2'), ['upgrade-control-plane-one-minor', 'upgrade-kube-proxy-skew', 'upgrade-kubelet-skew']);
  t.deepEqual(skew(catalog, 'v1.20.2', 'v1.35.9'), [
    'upgrade-control-plane-one-minor',
    'upgrade-etcd-one-minor',
    'upgrade-kube-proxy-skew',
    'upgrade-kubelet-skew',
  ]);
  t.deepEqual(skew(catalog, 'v1.37.1', 'v1.36.4'), ['upgrade-kube-proxy-skew', 'upgrade-kubelet-skew', 'upgrade-no-downgrade']);
  t.deepEqual(skew(catalog, 'v1.35.9', 'v1.34.2'), ['upgrade-kube-proxy-skew', 'upgrade-kubelet-skew', 'upgrade-no-downgrade']);
});

test('the e2e pair: v1.20.2 -> v1.20.3-kubeseed.1 is an upgrade, the way back a downgrade of the patch alone', (t) => {
  t.deepEqual(skew(e2e, 'v1.20.2', 'v1.20.3-kubeseed.1'), []);
  t.deepEqual(skew(e2e, 'v1.20.3-kubeseed.1', 'v1.20.3-kubeseed.1'), []);
  t.deepEqual(skew(e2e, 'v1.20.3-kubeseed.1', 'v1.20.2'), ['upgrade-no-downgrade']);
  const site = lab1();
  site.spec.kubernetes.version = 'v1.20.2';
  const [issue] = checkRules({ site, catalog: e2e, today: TODAY, previous: recorded(e2e, 'v1.20.3-kubeseed.1') }).filter(
    (i) => i.rule === 'upgrade-no-downgrade',
  );
  t.is(issue!.path, 'spec.kubernetes.version');
  t.regex(issue!.message, /last bundled with v1\.20\.3-kubeseed\.1; v1\.20\.2 would move it backwards \(kubernetes v1\.20\.3-kubeseed\.1 -> v1\.20\.2\)/);
  t.regex(issue!.hint!, /write v1\.20\.3-kubeseed\.1 or a newer release/);
});

test('the kubelet lag allowed: two minors for kubelets before 1.25, three from it', (t) => {
  t.is(maxNodeLag(20), 2);
  t.is(maxNodeLag(24), 2);
  t.is(maxNodeLag(25), 3);
  t.is(maxNodeLag(37), 3);
});

test('every skew rule names its upstream source, and the containerd table runs newest first', (t) => {
  for (const r of SKEW_RULES) {
    t.regex(r.source, /kubernetes\.io|etcd\.io|containerd|kubeadm|Kubernetes 1\./, r.name);
    t.true(r.summary.length > 10, r.name);
  }
  const froms = CONTAINERD_MINIMUM.map((r) => r.from);
  t.deepEqual(
    froms,
    [...froms].sort((a, b) => b - a),
  );
  for (const r of catalog.releases.concat(e2e.releases))
    t.deepEqual(skew(r.version.startsWith('v1.20.3') ? e2e : catalog, null, r.version), [], `${r.version} meets its containerd minimum`);
});

test('the delivery record keeps the release it was bundled with, and reads records from before it did', (t) => {
  const release = recorded(e2e, 'v1.20.3-kubeseed.1');
  const text = serializeRecord({ revision: 3, release, nodes: {} });
  const back = parseRecord(text);
  t.deepEqual(back, { revision: 3, release: { kubernetes: 'v1.20.3-kubeseed.1', versions: release.versions }, nodes: {} });
  t.deepEqual(Object.keys(JSON.parse(text).release.versions), Object.keys(release.versions).sort(), 'versions sorted: the same release gives the same bytes');
  t.deepEqual(parseRecord(serializeRecord({ revision: 1, nodes: {} })), { revision: 1, nodes: {} });
  t.true(
    'invalid' in parseRecord(JSON.stringify({ apiVersion: 'kubeseed/v1alpha1', kind: 'DeliveryRecord', revision: 1, release: { kubernetes: 1 }, nodes: {} })),
  );
});

test('plan change of the e2e pair: only the Kubernetes version moves; in kubeadm mode the three control-plane images with it', (t) => {
  for (const mode of ['binary', 'kubeadm'] as const) {
    const written = lab1();
    written.spec.kubernetes.mode = mode;
    written.spec.network.plugin = 'bridge';
    written.spec.addons = [];
    const plan = (v: string) => {
      written.spec.kubernetes.version = v;
      return buildPlan(resolveSite(structuredClone(written), e2e, 'site.yaml'), e2e);
    };
    const old = plan('v1.20.2');
    const next = plan('v1.20.3-kubeseed.1');
    const c = planChange(
      {
        kind: 'manifest',
        file: 'm.json',
        site: old.site,
        kubernetes: 'v1.20.2',
        mode,
        revision: 1,
        versions: recorded(e2e, 'v1.20.2').versions,
        images: old.images.map((i) => i.ref),
        artifacts: null,
      },
      next,
      e2e.releases.find((r) => r.version === 'v1.20.3-kubeseed.1')!,
      e2e,
      { note: 'no state' },
    );
    t.deepEqual(c.versions, [{ component: 'kubernetes', from: 'v1.20.2', to: 'v1.20.3-kubeseed.1' }], mode);
    t.deepEqual(
      c.images.added,
      mode === 'kubeadm' ? ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'].map((b) => `registry.k8s.io/${b}:v1.20.3-kubeseed.1`) : [],
      mode,
    );
    t.is(c.images.removed.length, c.images.added.length);
    t.is(c.nodes, null);
    t.is(c.nodesNote, 'no state');
  }
});
