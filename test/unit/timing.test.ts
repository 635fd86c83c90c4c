import test from 'ava';
import { parseAllDocuments } from 'yaml';
import { controllerManagerFlags, etcdFlags, schedulerFlags } from '../../generator/render/flags.js';
import { kubeadmConfig } from '../../generator/render/kubeadm.js';
import { loadDefaultCatalog } from '../helpers.js';
import { siteFromLab1 } from '../pki-fixture.js';

const relaxed = (x: string) => x.replace('    loadBalancer: local', '    loadBalancer: local\n    timing: relaxed');
const flag = (flags: [string, string | null][], name: string) => flags.find(([n]) => n === name)?.[1];

test('standard timing keeps the upstream defaults: no timing flag is written', async (t) => {
  const site = siteFromLab1(await loadDefaultCatalog());
  t.is(site.controlPlane.timing, 'standard');
  t.is(flag(etcdFlags(site, site.nodes[0]!), 'election-timeout'), undefined);
  t.is(flag(controllerManagerFlags(site), 'leader-elect-lease-duration'), undefined);
});

test('relaxed timing: etcd elects with a 500 ms heartbeat and 5 s election timeout; controller-manager and scheduler hold 60 s leases', async (t) => {
  const site = siteFromLab1(await loadDefaultCatalog(), relaxed);
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
  const site = siteFromLab1(await loadDefaultCatalog(), (x) => relaxed(x).replace('mode: binary', 'mode: kubeadm'));
  const [, cluster] = parseAllDocuments(kubeadmConfig(site, site.nodes[0]!, { token: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'a'.repeat(64)}` })).map((d) => d.toJS());
  const arg = (list: { name: string; value: string }[], name: string) => list.find((a) => a.name === name)?.value;
  t.is(arg(cluster.etcd.local.extraArgs, 'election-timeout'), '5000');
  t.is(arg(cluster.controllerManager.extraArgs, 'leader-elect-lease-duration'), '60s');
  t.is(arg(cluster.scheduler.extraArgs, 'leader-elect-renew-deadline'), '40s');
});
