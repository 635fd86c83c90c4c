import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { kubeadmConfig } from '../../generator/render/kubeadm.js';
import { loadDefaultCatalog } from '../helpers.js';
import { kubeadmMode, on120, siteFromLab1 } from '../sites.js';

const secrets = { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'a'.repeat(64)}` };

test('v1.34 (kubeadm v1beta4): extra arguments as name/value lists, timeouts in Init/JoinConfiguration, CRI socket as a URL', async (t) => {
  const site = siteFromLab1(await loadDefaultCatalog(), kubeadmMode);
  const [init, cluster, kubelet] = parseAllDocuments(kubeadmConfig(site, site.nodes[0]!, secrets)).map((d) => d.toJS());
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
  t.deepEqual(cluster.etcd, { local: { dataDir: '/var/lib/etcd' } });
  t.is(cluster.controlPlaneEndpoint, '127.0.0.1:8443');
  t.is(kubelet.containerRuntimeEndpoint, 'unix:///run/containerd/containerd.sock');
  t.is(kubelet.tlsCertFile, '/var/lib/kubelet/pki/kubelet.crt');
});

test('v1.20 (kubeadm v1beta2): maps for extra arguments, timeoutForControlPlane and discovery timeout; external etcd points at the etcd units', async (t) => {
  const site = siteFromLab1(await loadDefaultCatalog(), kubeadmMode, on120, (s) => {
    s.spec.kubernetes.etcdTopology = 'external';
  });
  const [, cluster] = parseAllDocuments(kubeadmConfig(site, site.nodes[0]!, secrets)).map((d) => d.toJS());
  t.is(cluster.apiVersion, 'kubeadm.k8s.io/v1beta2');
  t.is(cluster.apiServer.extraArgs.profiling, 'false');
  t.is(cluster.apiServer.timeoutForControlPlane, '30m0s');
  t.deepEqual(cluster.etcd.external.endpoints, ['https://192.168.93.45:2379', 'https://192.168.93.46:2379', 'https://192.168.93.47:2379']);
  const [join] = parseAllDocuments(kubeadmConfig(site, site.nodes[1]!, secrets)).map((d) => d.toJS());
  t.is(join.kind, 'JoinConfiguration');
  t.is(join.discovery.timeout, '30m0s');
  t.deepEqual(join.discovery.bootstrapToken, { apiServerEndpoint: '127.0.0.1:8443', token: secrets.token, caCertHashes: [secrets.caCertHash] });
  t.deepEqual(join.nodeRegistration.kubeletExtraArgs, { 'node-ip': '192.168.93.46' });
});
