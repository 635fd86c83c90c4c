import test from 'ava';
import type { RunningSite } from '../../generator/model/index.js';
import { checkRunningRules, RUNNING_RULES, type WrittenSite } from '../../generator/site/index.js';
import { quorum } from '../../generator/site/rules/running.js';
import { computeUpdates } from '../../generator/update/compute.js';
import { runningSite } from '../../generator/update/record.js';
import { lab1, nodeNamed } from '../sites.js';
import { renderLab1 } from '../goldens.js';
import { renderedNodes } from '../update-scenarios.js';

/**
 * The rules for changing a running site (generator/site/rules/running.ts), against lab1 as it runs:
 * three nodes, each control plane, etcd member and worker.
 */

const RUNNING: RunningSite = {
  revision: 1,
  network: { serviceCIDR: '10.254.0.0/16', podCIDR: '172.30.0.0/16', clusterDomain: 'cluster.local' },
  nodes: ['k8s-01', 'k8s-02', 'k8s-03'].map((name, i) => ({
    name,
    ip: `192.168.93.${45 + i}`,
    etcd: true,
    joined: false,
    roles: ['control-plane', 'etcd', 'worker'],
  })),
};

const drop = (s: WrittenSite, ...names: string[]) => (s.spec.nodes = s.spec.nodes.filter((n) => !names.includes(n.name)));
const add = (s: WrittenSite, name: string, last: number, roles: WrittenSite['spec']['nodes'][number]['roles'] = ['control-plane', 'etcd', 'worker']) =>
  s.spec.nodes.push({ ...structuredClone(s.spec.nodes[0]!), name, address: `192.168.93.${last}/24`, mac: `52:54:00:93:00:${last}`, roles });

function issues(edit: (s: WrittenSite) => void, running: RunningSite = RUNNING) {
  const s = lab1();
  edit(s);
  return checkRunningRules({ site: s, running });
}
const named = (edit: (s: WrittenSite) => void, running?: RunningSite) => issues(edit, running).map((i) => `${i.rule} ${i.path}`);

test('quorum is a majority', (t) => {
  t.deepEqual([1, 2, 3, 4, 5].map(quorum), [1, 2, 2, 3, 3]);
});

test('the unchanged site, a new worker, a worker removed, and one etcd member removed or added pass', (t) => {
  t.deepEqual(
    named(() => {}),
    [],
  );
  t.deepEqual(
    named((s) => add(s, 'k8s-04', 48, ['worker'])),
    [],
  );
  t.deepEqual(
    named((s) => drop(s, 'k8s-03')),
    [],
    'removing one of three leaves a quorum of two',
  );
  t.deepEqual(
    named((s) => add(s, 'k8s-04', 48)),
    [],
  );
  const withWorker: RunningSite = {
    ...RUNNING,
    nodes: [...RUNNING.nodes, { name: 'k8s-09', ip: '192.168.93.59', etcd: false, joined: false, roles: ['worker'] }],
  };
  t.deepEqual(
    named((s) => drop(s, 'k8s-09'), withWorker),
    [],
  );
});

test('etcd-quorum-kept: removing two of three etcd members at once is refused, with a hint', (t) => {
  const found = issues((s) => drop(s, 'k8s-02', 'k8s-03'));
  t.is(found.length, 1);
  const i = found[0]!;
  t.is(i.rule, 'etcd-quorum-kept');
  t.is(i.severity, 'error');
  t.is(i.path, 'spec.nodes');
  t.regex(i.message, /k8s-02, k8s-03 leaves 1 of the 3 recorded .* quorum of 2/);
  t.regex(i.hint!, /one member per change/);
  t.deepEqual(
    named((s) => {
      for (const n of s.spec.nodes) n.roles = ['worker'];
      nodeNamed(s, 'k8s-01').roles = ['control-plane', 'etcd', 'worker'];
    }).filter((r) => r.startsWith('etcd-')),
    ['etcd-quorum-kept spec.nodes'],
    'taking the etcd role away counts as removing the member',
  );
});

test('etcd-quorum-kept: five members may lose two, not three', (t) => {
  const five: RunningSite = {
    ...RUNNING,
    nodes: [
      ...RUNNING.nodes,
      ...['k8s-04', 'k8s-05'].map((name, i) => ({ name, ip: `192.168.93.${48 + i}`, etcd: true, joined: false, roles: ['control-plane', 'etcd', 'worker'] })),
    ],
  };
  const grown = (s: WrittenSite) => {
    add(s, 'k8s-04', 48);
    add(s, 'k8s-05', 49);
  };
  t.deepEqual(named(grown, five), []);
  t.deepEqual(
    named((s) => {
      grown(s);
      drop(s, 'k8s-02', 'k8s-03');
    }, five),
    [],
    'three of five remain: a quorum',
  );
  t.deepEqual(
    named((s) => {
      grown(s);
      drop(s, 'k8s-02', 'k8s-03', 'k8s-04');
    }, five),
    ['etcd-quorum-kept spec.nodes'],
  );
});

test('etcd-one-change-at-a-time: two members added, or one added while another goes, is refused', (t) => {
  t.deepEqual(
    named((s) => {
      add(s, 'k8s-04', 48);
      add(s, 'k8s-05', 49);
    }),
    ['etcd-one-change-at-a-time spec.nodes[4].roles'],
  );
  const swap = issues((s) => {
    drop(s, 'k8s-03');
    add(s, 'k8s-04', 48);
  });
  t.deepEqual(
    swap.map((i) => i.rule),
    ['etcd-one-change-at-a-time'],
  );
  t.regex(swap[0]!.hint!, /remove first .* then add k8s-04/);
});

test('running-network-kept: serviceCIDR, podCIDR and clusterDomain of a running site stay', (t) => {
  const found = issues((s) => {
    s.spec.kubernetes.serviceCIDR = '10.96.0.0/12';
    s.spec.kubernetes.podCIDR = '10.244.0.0/16';
    s.spec.kubernetes.clusterDomain = 'lab.example';
  });
  t.deepEqual(
    found.map((i) => `${i.rule} ${i.path}`),
    ['running-network-kept spec.kubernetes.serviceCIDR', 'running-network-kept spec.kubernetes.podCIDR', 'running-network-kept spec.kubernetes.clusterDomain'],
  );
  t.regex(found[0]!.message, /has serviceCIDR 10\.254\.0\.0\/16; changing it to 10\.96\.0\.0\/12/);
  t.regex(found[0]!.hint!, /keep serviceCIDR: 10\.254\.0\.0\/16/);
  t.deepEqual(
    named((s) => (s.spec.kubernetes.serviceCIDR = '10.96.0.0/12'), { ...RUNNING, network: null }),
    [],
    'a record without the site block cannot say',
  );
});

test("running-node-kept: a running node's address and its control-plane and etcd roles stay", (t) => {
  t.deepEqual(
    named((s) => (nodeNamed(s, 'k8s-02').address = '192.168.93.60/24')),
    ['running-node-kept spec.nodes[1].address'],
  );
  t.deepEqual(
    named((s) => (nodeNamed(s, 'k8s-03').roles = ['etcd', 'worker'])),
    ['running-node-kept spec.nodes[2].roles'],
  );
  const workerRunning: RunningSite = {
    ...RUNNING,
    nodes: RUNNING.nodes.map((n) => (n.name === 'k8s-03' ? { ...n, etcd: false, joined: false, roles: ['worker'] } : n)),
  };
  t.deepEqual(
    named((s) => s, workerRunning),
    ['running-node-kept spec.nodes[2].roles', 'running-node-kept spec.nodes[2].roles'],
    'a worker made control plane and etcd member in place: refused for both roles',
  );
});

test("take-out-possible: the first control plane takes removed nodes out, so it must run already, and run etcd when a member goes; kubeadm stacked etcd is kubeadm reset's", (t) => {
  t.deepEqual(
    named((s) => {
      drop(s, 'k8s-03');
      s.spec.nodes.unshift({
        ...structuredClone(s.spec.nodes[0]!),
        name: 'k8s-00',
        address: '192.168.93.44/24',
        mac: '52:54:00:93:00:44',
        roles: ['control-plane', 'worker'],
      });
    }),
    ['take-out-possible spec.nodes[0].name'],
  );
  const withEtcdOnly: RunningSite = {
    ...RUNNING,
    nodes: [...RUNNING.nodes, { name: 'k8s-09', ip: '192.168.93.59', etcd: true, joined: false, roles: ['etcd'] }],
  };
  t.deepEqual(
    named((s) => (nodeNamed(s, 'k8s-01').roles = ['control-plane', 'worker']), {
      ...withEtcdOnly,
      nodes: withEtcdOnly.nodes.map((n) => (n.name === 'k8s-01' ? { ...n, etcd: false, roles: ['control-plane', 'worker'] } : n)),
    }),
    ['take-out-possible spec.nodes[0].roles'],
    'k8s-09 (etcd) goes, and k8s-01 has no etcd to remove it with',
  );
  t.deepEqual(
    named((s) => {
      s.spec.kubernetes.mode = 'kubeadm';
      drop(s, 'k8s-03');
    }),
    ['take-out-possible spec.nodes'],
  );
});

test('every running rule has a name and a summary', (t) => {
  t.deepEqual(
    RUNNING_RULES.map((r) => r.name),
    ['running-network-kept', 'running-node-kept', 'etcd-quorum-kept', 'etcd-one-change-at-a-time', 'take-out-possible'],
  );
  for (const r of RUNNING_RULES) t.true(r.summary.length > 20, r.name);
});

test("the delivery record keeps the site's networks and each node's address and roles; an older record still says who runs etcd", async (t) => {
  const lab = await renderLab1();
  const nodes = await renderedNodes(lab.site, lab.catalog, lab.state);
  const rec = computeUpdates(
    null,
    nodes,
    nodes.map((n) => n.facts.node.name),
  ).record;
  t.deepEqual(runningSite(rec), RUNNING);
  const { site: _site, ...older } = rec;
  t.deepEqual(runningSite(older), { ...RUNNING, network: null, nodes: RUNNING.nodes.map((n) => ({ ...n, ip: null, roles: null })) });
});
