import test from 'ava';
import type { Catalog, ResolvedSite } from '../../generator/model/index.js';
import { CERTS, certInstances, keyHolder } from '../../generator/pki/table.js';
import { loadDefaultCatalog } from '../helpers.js';
import { k8s03Worker, kubeadmMode, siteFromLab1, type SiteEdit } from '../sites.js';

let catalog: Catalog;
test.before(async () => {
  catalog = await loadDefaultCatalog();
});

const resolved = (...edits: SiteEdit[]): ResolvedSite => siteFromLab1(catalog, ...edits);

test('table invariants: names unique, every CA listed before its leaves, every leaf names an existing CA', (t) => {
  const names = CERTS.map((c) => c.name);
  t.is(new Set(names).size, names.length);
  CERTS.forEach((c, i) => {
    if (c.kind !== 'leaf') return;
    const caIndex = CERTS.findIndex((x) => x.name === c.ca);
    t.true(caIndex >= 0, `${c.name} names CA ${c.ca}`);
    t.is(CERTS[caIndex]!.kind, 'ca');
    t.true(caIndex < i, `${c.ca} comes before ${c.name}`);
  });
  for (const c of CERTS) t.true(Boolean(c.nodePath) !== Boolean(c.kubeconfig) || c.certOn === 'operator', `${c.name} lands either as files or in a kubeconfig`);
});

test('a worker receives no CA key, no etcd key, no sa.key and no admin credential', (t) => {
  const site = resolved(k8s03Worker);
  const worker = 'k8s-03';
  const keys = certInstances(site)
    .filter((c) => c.keyNodes.includes(worker))
    .map((c) => c.id);
  t.deepEqual(keys.sort(), ['kube-proxy', 'kubelet-client/k8s-03', 'kubelet-serving/k8s-03']);
  const certs = certInstances(site)
    .filter((c) => c.certNodes.includes(worker))
    .map((c) => c.id);
  t.false(certs.some((c) => c.startsWith('admin') || c.startsWith('etcd-') || c === 'sa'));
  t.true(certs.includes('ca'), 'a worker trusts the cluster CA');
});

test('CA keys stay off nodes that do not sign: binary mode keeps etcd-ca and front-proxy-ca keys in the state only', (t) => {
  const site = resolved();
  const inst = certInstances(site);
  t.deepEqual(inst.find((c) => c.id === 'etcd-ca')!.keyNodes, []);
  t.deepEqual(inst.find((c) => c.id === 'front-proxy-ca')!.keyNodes, []);
  t.deepEqual(inst.find((c) => c.id === 'ca')!.keyNodes, ['k8s-01', 'k8s-02', 'k8s-03']);
  const etcdCa = CERTS.find((c) => c.name === 'etcd-ca')!;
  t.deepEqual(keyHolder(etcdCa, 'kubeadm'), { roles: ['control-plane'] }, 'kubeadm HA control planes make their own etcd certs');
});

test('per-node certificates name their node; the admin credential goes to the operator only', (t) => {
  const site = resolved();
  const inst = certInstances(site);
  const k2 = inst.find((c) => c.id === 'kubelet-serving/k8s-02')!;
  t.is(k2.cn, 'system:node:k8s-02');
  t.deepEqual(k2.o, ['system:nodes']);
  t.deepEqual(k2.sans, { dns: ['k8s-02'], ips: ['192.168.93.46'] });
  t.deepEqual(k2.certNodes, ['k8s-02']);
  const etcd = inst.find((c) => c.id === 'etcd-server/k8s-01')!;
  t.deepEqual(etcd.sans, { dns: ['k8s-01', 'localhost'], ips: ['192.168.93.45', '127.0.0.1', '::1'] });
  const api = inst.find((c) => c.id === 'apiserver/k8s-03')!;
  t.true(api.sans.ips.includes('192.168.93.47') && api.sans.ips.includes('10.254.0.1') && api.sans.ips.includes('127.0.0.1'));
  t.true(api.sans.dns.includes('kubernetes.default.svc.cluster.local'));
  t.deepEqual(inst.find((c) => c.id === 'admin')!.certNodes, ['operator']);
  t.deepEqual(inst.find((c) => c.id === 'bootstrapper')!.certNodes, ['k8s-01']);
});

test('the admin group follows the version: system:masters before 1.29, kubeadm:cluster-admins from 1.29', (t) => {
  const newer = certInstances(resolved());
  t.deepEqual(newer.find((c) => c.id === 'admin')!.o, ['kubeadm:cluster-admins']);
  const older = certInstances(
    resolved((s) => {
      s.spec.kubernetes.version = 'v1.20.2';
    }),
  );
  t.deepEqual(older.find((c) => c.id === 'admin')!.o, ['system:masters']);
  t.deepEqual(older.find((c) => c.id === 'apiserver-kubelet-client')!.o, ['system:masters']);
});

test('kubeadm mode pre-issues no kubelet client (TLS bootstrap does that) and leaves the controller-manager and scheduler kubeconfigs to kubeadm', (t) => {
  const ids = certInstances(resolved(kubeadmMode)).map((c) => c.id);
  t.false(ids.some((id) => id.startsWith('kubelet-client') || id === 'bootstrapper' || id === 'controller-manager' || id === 'scheduler'));
  t.true(ids.includes('kubelet-serving/k8s-01'));
  // kube-proxy runs as a host service in both modes.
  t.true(ids.includes('kube-proxy'));
});
