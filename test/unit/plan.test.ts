import test from 'ava';
import type { BundlePlan, Catalog, ResolvedSite } from '../../generator/model/index.js';
import { buildPlan, mirrorFor } from '../../generator/plan/index.js';
import { loadDefaultCatalog } from '../helpers.js';
import { k8s03Worker, kubeadmMode, on120, siteFromLab1, type SiteEdit } from '../sites.js';

let catalog: Catalog;
test.before(async () => {
  catalog = await loadDefaultCatalog();
});

const site = (...edits: SiteEdit[]): ResolvedSite => siteFromLab1(catalog, ...edits);

test('lab1 plan names every binary of binary mode, each with a checksum source', (t) => {
  const plan = buildPlan(site(), catalog);
  const components = plan.artifacts.map((a) => a.component).sort();
  t.deepEqual(components, [
    'cni-plugins',
    'containerd',
    'crictl',
    'etcd',
    'kube-apiserver',
    'kube-controller-manager',
    'kube-proxy',
    'kube-scheduler',
    'kubectl',
    'kubelet',
    'runc',
  ]);
  for (const a of plan.artifacts) {
    t.true(a.url.startsWith('https://'), a.url);
    if (a.checksum.kind === 'pinned') t.regex(a.checksum.sha256!, /^[0-9a-f]{64}$/);
    else t.true(a.checksum.url!.startsWith('https://'), `${a.id} checksum url`);
  }
  const api = plan.artifacts.find((a) => a.component === 'kube-apiserver')!;
  t.is(api.url, 'https://dl.k8s.io/release/v1.37.1/bin/linux/amd64/kube-apiserver');
  t.deepEqual(api.checksum, {
    kind: 'hash-file',
    algorithm: 'sha256',
    path: 'release/v1.37.1/bin/linux/amd64/kube-apiserver.sha256',
    url: 'https://dl.k8s.io/release/v1.37.1/bin/linux/amd64/kube-apiserver.sha256',
  });
});

test('lab1 plan names the images of its version, network plugin and add-ons', (t) => {
  const plan = buildPlan(site(), catalog);
  t.deepEqual(plan.images.map((i) => i.ref).sort(), [
    'docker.io/flannel/flannel-cni-plugin:v1.7.1-flannel1',
    'docker.io/flannel/flannel:v0.28.4',
    'registry.k8s.io/coredns/coredns:v1.14.4',
    'registry.k8s.io/metrics-server/metrics-server:v0.9.0',
    'registry.k8s.io/pause:3.10.2',
  ]);
  t.true(plan.images.every((i) => i.platform === 'linux/amd64' && i.nodes.length === 3));
});

test('kubeadm mode fetches kubeadm and the control-plane images, not the apiserver binary', (t) => {
  const plan = buildPlan(site(kubeadmMode), catalog);
  const comps = plan.artifacts.map((a) => a.component);
  t.true(comps.includes('kubeadm'));
  t.false(comps.includes('kube-apiserver'));
  t.false(comps.includes('etcd'));
  t.true(plan.images.some((i) => i.ref === 'registry.k8s.io/kube-apiserver:v1.37.1'));
  t.true(plan.images.some((i) => i.ref === 'registry.k8s.io/etcd:3.6.11-0'));
});

test('site source overrides and registry mirrors redirect downloads and pulls', (t) => {
  const plan = buildPlan(
    site((s) => {
      s.spec.artifacts.sources = { kubernetes: 'http://127.0.0.1:8080/k8s/' };
      s.spec.artifacts.registryMirrors = { 'registry.k8s.io': 'http://127.0.0.1:5000' };
    }),
    catalog,
  );
  t.is(plan.artifacts.find((a) => a.component === 'kube-scheduler')!.url, 'http://127.0.0.1:8080/k8s/release/v1.37.1/bin/linux/amd64/kube-scheduler');
  t.is(plan.images.find((i) => i.name === 'pause')!.pullFrom, '127.0.0.1:5000/pause:3.10.2');
  t.is(plan.images.find((i) => i.name === 'flannel')!.pullFrom, 'docker.io/flannel/flannel:v0.28.4');
});

test('k8s.gcr.io references pull from registry.k8s.io', (t) => {
  t.is(mirrorFor('k8s.gcr.io/pause:3.2', {}), 'registry.k8s.io/pause:3.2');
  t.is(mirrorFor('k8s.gcr.io/pause:3.2', { 'registry.k8s.io': 'http://127.0.0.1:5000/' }), '127.0.0.1:5000/pause:3.2');
});

test('every planned key file is 0600 and secret; no worker plans a CA key, etcd key, sa.key or admin', (t) => {
  const plan = buildPlan(site(k8s03Worker), catalog);
  for (const n of plan.nodes) {
    for (const f of n.files.filter((x) => x.path.endsWith('.key') || (x.path.endsWith('.conf') && x.origin.startsWith('pki:')))) {
      t.is(f.mode, '0600', `${n.name}:${f.path}`);
      t.true(f.secret);
    }
    const paths = n.files.map((f) => f.path);
    t.is(new Set(paths).size, paths.length, `${n.name} lists each path once`);
  }
  const worker = plan.nodes.find((n) => n.name === 'k8s-03')!.files.map((f) => f.path);
  t.false(worker.some((p) => /pki\/(ca|etcd\/.*|front-proxy-ca|sa)\.key$/.test(p) || p.includes('admin')));
  t.false(worker.includes('/etc/systemd/system/kube-apiserver.service'));
});

test('gen plan output is serialisable and stable', (t) => {
  const a = JSON.stringify(buildPlan(site(), catalog));
  const b = JSON.stringify(buildPlan(site(), catalog));
  t.is(a, b);
  const back = JSON.parse(a) as BundlePlan;
  t.is(back.nodes.length, 3);
});

test('RHEL-family hosts get the static containerd build in place of the glibc 2.35 one; releases without it keep the regular one', (t) => {
  const rhel = buildPlan(
    site((s) => {
      s.spec.os.family = 'rhel';
      s.spec.os.version = '9';
    }),
    catalog,
  );
  const cd = rhel.artifacts.filter((a) => a.component.startsWith('containerd'));
  t.deepEqual(
    cd.map((a) => a.component),
    ['containerd-static'],
  );
  t.is(cd[0]!.url, 'https://github.com/containerd/containerd/releases/download/v2.3.5/containerd-static-2.3.5-linux-amd64.tar.gz');
  // No pin for 2.3.5: the checksum file containerd's release target writes beside the tarball.
  t.deepEqual(cd[0]!.checksum, {
    kind: 'hash-file',
    algorithm: 'sha256',
    path: 'v2.3.5/containerd-static-2.3.5-linux-amd64.tar.gz.sha256sum',
    url: 'https://github.com/containerd/containerd/releases/download/v2.3.5/containerd-static-2.3.5-linux-amd64.tar.gz.sha256sum',
  });
  const debian = buildPlan(site(), catalog);
  t.deepEqual(
    debian.artifacts.filter((a) => a.component.startsWith('containerd')).map((a) => a.url),
    ['https://github.com/containerd/containerd/releases/download/v2.3.5/containerd-2.3.5-linux-amd64.tar.gz'],
  );
  const old = buildPlan(
    site(on120, (s) => {
      s.spec.os.family = 'rhel';
      s.spec.os.version = '9';
    }),
    catalog,
  );
  t.deepEqual(
    old.artifacts.filter((a) => a.component.startsWith('containerd')).map((a) => a.component),
    ['containerd'],
    'containerd 1.4.3 published no static build',
  );
});
