import test from 'ava';
import { parse, parseAllDocuments } from 'yaml';
import { kubeletConfig } from '../../generator/render/configs.js';
import { apiserverFlags, controllerManagerFlags, etcdFlags, schedulerFlags } from '../../generator/render/flags.js';
import { buildPlan } from '../../generator/plan/index.js';
import { kubeadmConfig } from '../../generator/render/kubeadm.js';
import { loadDefaultCatalog } from '../helpers.js';
import { kubeadmMode, nodeNamed, relaxedTiming, siteFromLab1 } from '../sites.js';

const flag = (flags: [string, string | null][], name: string) => flags.find(([n]) => n === name)?.[1];

test('standard timing keeps the upstream defaults: no timing flag is written', async (t) => {
  const site = siteFromLab1(await loadDefaultCatalog());
  t.is(site.controlPlane.timing, 'standard');
  t.is(flag(etcdFlags(site, site.nodes[0]!), 'election-timeout'), undefined);
  t.is(flag(controllerManagerFlags(site), 'leader-elect-lease-duration'), undefined);
  t.is(flag(controllerManagerFlags(site), 'node-monitor-grace-period'), undefined);
  const kubelet = parse(kubeletConfig(site, site.nodes[0]!));
  t.false('nodeStatusUpdateFrequency' in kubelet);
  t.false('nodeLeaseDurationSeconds' in kubelet);
});

test('relaxed timing: kubelets report every 20 s on an 80 s lease, and the controller-manager waits 2 min before a silent node is NotReady', async (t) => {
  const site = siteFromLab1(await loadDefaultCatalog(), relaxedTiming);
  const kubelet = parse(kubeletConfig(site, site.nodes[0]!));
  t.is(kubelet.nodeStatusUpdateFrequency, '20s');
  t.is(kubelet.nodeLeaseDurationSeconds, 80);
  t.is(flag(controllerManagerFlags(site), 'node-monitor-grace-period'), '2m0s');
  t.is(flag(schedulerFlags(site), 'node-monitor-grace-period'), undefined);
});

test('relaxed timing: etcd elects with a 500 ms heartbeat and 5 s election timeout; controller-manager and scheduler hold 60 s leases', async (t) => {
  const site = siteFromLab1(await loadDefaultCatalog(), relaxedTiming);
  const etcd = etcdFlags(site, site.nodes[0]!);
  t.is(flag(etcd, 'heartbeat-interval'), '500');
  t.is(flag(etcd, 'election-timeout'), '5000');
  for (const flags of [controllerManagerFlags(site), schedulerFlags(site)]) {
    t.is(flag(flags, 'leader-elect-lease-duration'), '60s');
    t.is(flag(flags, 'leader-elect-renew-deadline'), '40s');
    t.is(flag(flags, 'leader-elect-retry-period'), '10s');
  }
});

test("relaxed timing reaches kubeadm's stacked etcd and its control plane", async (t) => {
  const catalog = await loadDefaultCatalog();
  const site = siteFromLab1(catalog, relaxedTiming, kubeadmMode);
  const secrets = { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'a'.repeat(64)}` };
  const docs = parseAllDocuments(kubeadmConfig(site, site.nodes[0]!, secrets, buildPlan(site, catalog).images)).map((d) => d.toJS());
  const cluster = docs[1];
  const arg = (list: { name: string; value: string }[], name: string) => list.find((a) => a.name === name)?.value;
  t.is(arg(cluster.etcd.local.extraArgs, 'election-timeout'), '5000');
  t.is(arg(cluster.controllerManager.extraArgs, 'leader-elect-lease-duration'), '60s');
  t.is(arg(cluster.scheduler.extraArgs, 'leader-elect-renew-deadline'), '40s');
  t.is(arg(cluster.controllerManager.extraArgs, 'node-monitor-grace-period'), '2m0s');
  const kubelet = docs.find((d) => d.kind === 'KubeletConfiguration');
  t.is(kubelet.nodeLeaseDurationSeconds, 80);
});

test('an apiserver beside an etcd member talks to that member only; one without a member lists them all', async (t) => {
  const site = siteFromLab1(await loadDefaultCatalog());
  t.is(flag(apiserverFlags(site, site.nodes[0]!), 'etcd-servers'), 'https://127.0.0.1:2379');
  // The first node keeps its control plane but leaves etcd: its apiserver needs the members' addresses.
  const split = siteFromLab1(await loadDefaultCatalog(), (s) => {
    nodeNamed(s, 'k8s-01').roles = ['control-plane', 'worker'];
  });
  const lone = split.nodes.find((n) => !n.roles.includes('etcd'))!;
  t.truthy(lone);
  t.is(flag(apiserverFlags(split, lone), 'etcd-servers'), split.derived.etcdEndpoints.join(','));
  t.is(split.derived.etcdEndpoints.length, 2);
});
