import test from 'ava';
import { parseAllDocuments } from 'yaml';
import type { Catalog, ResolvedSite } from '../../generator/model/index.js';
import { buildPlan } from '../../generator/plan/index.js';
import { kubeadmConfig } from '../../generator/render/kubeadm.js';
import { UnsupportedError } from '../../generator/render/manifests.js';
import { loadDefaultCatalog } from '../helpers.js';
import { kubeadmMode, on120, siteFromLab1 } from '../sites.js';

const secrets = { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'a'.repeat(64)}` };

/** A node's kubeadm.yaml (the bootstrap node's by default), with the images of the site's plan, as parsed documents. */
function render(site: ResolvedSite, catalog: Catalog, nodeIndex = 0) {
  const node = site.nodes[nodeIndex]!;
  return parseAllDocuments(kubeadmConfig(site, node, secrets, buildPlan(site, catalog).images)).map((d) => d.toJS());
}

/** The catalog with one image reference of one release replaced (or removed, with `null`). */
function withImage(catalog: Catalog, version: string, name: string, ref: string | null): Catalog {
  const c = structuredClone(catalog);
  const r = c.releases.find((x) => x.version === version)!;
  r.images = ref === null ? r.images.filter((i) => i.name !== name) : r.images.map((i) => (i.name === name ? { ...i, ref } : i));
  return c;
}

test('v1.37 (kubeadm v1beta4): extra arguments as name/value lists, timeouts in Init/JoinConfiguration, CRI socket as a URL', async (t) => {
  const catalog = await loadDefaultCatalog();
  const site = siteFromLab1(catalog, kubeadmMode);
  const [init, cluster, kubelet] = render(site, catalog);
  t.is(init.apiVersion, 'kubeadm.k8s.io/v1beta4');
  t.is(init.kind, 'InitConfiguration');
  t.deepEqual(init.nodeRegistration.kubeletExtraArgs, [{ name: 'node-ip', value: '192.168.93.45' }]);
  t.is(init.nodeRegistration.criSocket, 'unix:///run/containerd/containerd.sock');
  t.is(init.timeouts.controlPlaneComponentHealthCheck, '30m0s');
  t.is(init.bootstrapTokens[0].token, secrets.token);
  t.is(cluster.kind, 'ClusterConfiguration');
  t.true(Array.isArray(cluster.apiServer.extraArgs));
  t.deepEqual(
    cluster.apiServer.extraArgs.find((a: { name: string }) => a.name === 'encryption-provider-config'),
    { name: 'encryption-provider-config', value: '/etc/kubernetes/encryption-config.yaml' },
  );
  t.is(cluster.apiServer.timeoutForControlPlane, undefined);
  t.deepEqual(cluster.etcd, { local: { imageRepository: 'registry.k8s.io', imageTag: '3.6.11-0', dataDir: '/var/lib/etcd' } });
  t.is(cluster.controlPlaneEndpoint, '127.0.0.1:8443');
  t.is(kubelet.containerRuntimeEndpoint, 'unix:///run/containerd/containerd.sock');
  t.is(kubelet.tlsCertFile, '/var/lib/kubelet/pki/kubelet.crt');
});

test('v1.20 (kubeadm v1beta2): maps for extra arguments, timeoutForControlPlane and discovery timeout; external etcd points at the etcd units', async (t) => {
  const catalog = await loadDefaultCatalog();
  const site = siteFromLab1(catalog, kubeadmMode, on120, (s) => {
    s.spec.kubernetes.etcdTopology = 'external';
  });
  const [, cluster] = render(site, catalog);
  t.is(cluster.apiVersion, 'kubeadm.k8s.io/v1beta2');
  t.is(cluster.apiServer.extraArgs.profiling, 'false');
  t.is(cluster.apiServer.timeoutForControlPlane, '30m0s');
  t.deepEqual(cluster.etcd.external.endpoints, ['https://192.168.93.45:2379', 'https://192.168.93.46:2379', 'https://192.168.93.47:2379']);
  const [join] = render(site, catalog, 1);
  t.is(join.kind, 'JoinConfiguration');
  t.is(join.discovery.timeout, '30m0s');
  t.deepEqual(join.discovery.bootstrapToken, { apiServerEndpoint: '127.0.0.1:8443', token: secrets.token, caCertHashes: [secrets.caCertHash] });
  t.deepEqual(join.nodeRegistration.kubeletExtraArgs, { 'node-ip': '192.168.93.46' });
});

test("the control plane, stacked etcd and CoreDNS run the images the release lists, not kubeadm's compiled-in tags", async (t) => {
  const catalog = await loadDefaultCatalog();
  const cluster = (site: ResolvedSite) => render(site, catalog)[1];
  const v137 = cluster(siteFromLab1(catalog, kubeadmMode));
  t.is(v137.imageRepository, 'registry.k8s.io');
  t.deepEqual(v137.dns, { imageRepository: 'registry.k8s.io/coredns', imageTag: 'v1.14.4' });
  t.is(v137.etcd.local.imageTag, '3.6.11-0');
  // kubeadm 1.20 names CoreDNS <repository>/coredns:<tag>, without the coredns/ path of 1.21+.
  const v120 = cluster(siteFromLab1(catalog, kubeadmMode, on120, (s) => (s.spec.addons = ['coredns'])));
  t.deepEqual(v120.dns, { imageRepository: 'registry.k8s.io', imageTag: '1.7.0' });
  t.deepEqual(v120.etcd.local, { imageRepository: 'registry.k8s.io', imageTag: '3.4.13-0', dataDir: '/var/lib/etcd' });
  // No CoreDNS add-on, no CoreDNS image: kubeadm's CoreDNS phase is skipped and nothing is pinned.
  t.is(cluster(siteFromLab1(catalog, kubeadmMode, on120)).dns, undefined);
});

test("an image kubeadm cannot name from the release's reference is refused, not silently replaced", async (t) => {
  const catalog = await loadDefaultCatalog();
  const attempt = (c: Catalog) => () => render(siteFromLab1(c, kubeadmMode), c);
  t.throws(attempt(withImage(catalog, 'v1.37.1', 'etcd', 'registry.k8s.io/etcd-io/etcd-server:3.6.11-0')), {
    instanceOf: UnsupportedError,
    message: /etcd-server/,
  });
  t.throws(attempt(withImage(catalog, 'v1.37.1', 'etcd', null)), { instanceOf: UnsupportedError, message: /no etcd image/ });
  t.throws(attempt(withImage(catalog, 'v1.37.1', 'coredns', 'registry.k8s.io/coredns:v1.14.4')), { instanceOf: UnsupportedError, message: /coredns\/coredns/ });
  t.throws(attempt(withImage(catalog, 'v1.37.1', 'kube-scheduler', 'example.org/kube-scheduler:v1.37.1')), {
    instanceOf: UnsupportedError,
    message: /kube-scheduler/,
  });
  t.throws(attempt(withImage(catalog, 'v1.37.1', 'kube-apiserver', 'registry.k8s.io/kube-apiserver@sha256:' + 'b'.repeat(64))), {
    instanceOf: UnsupportedError,
  });
});
