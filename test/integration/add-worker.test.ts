import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { parseRecord, type DeliveryRecord } from '../../generator/update/record.js';
import { fixtureStateDir } from '../goldens.js';
import { runCli } from '../helpers.js';
import { lab1, type SiteEdit } from '../sites.js';
import { tempDirs } from '../temp.js';
import { describeTree, modeAndHash } from '../tree.js';

/**
 * Issue #22, adding a worker: the real `gen bundle` on a site with state, then on the same site
 * with one more worker. The new node gets its seed; the others get nothing (flannel), or only the
 * static route to the new node's pod subnet (bridge, whose routes are per node by design), and the
 * delivery record says so. Serial: each test runs gen bundle twice.
 */

const tmp = tempDirs('kubeseed-add-worker-');

const addWorker: SiteEdit = (s) => {
  s.spec.nodes.push({ ...structuredClone(s.spec.nodes[2]!), name: 'k8s-04', address: '192.168.93.48/24', mac: '52:54:00:93:00:48', roles: ['worker'] });
};
const bridge: SiteEdit = (s) => {
  s.spec.network.plugin = 'bridge';
};

/** A work directory with a copy of the fixture state, lab1 bundled once, and a way to bundle it again with edits. */
function bundledLab1(...edits: SiteEdit[]) {
  const cwd = tmp();
  const state = join(cwd, 'state');
  cpSync(fixtureStateDir, state, { recursive: true });
  const dist = join(cwd, 'output', 'lab1', 'dist');
  const bundle = (...more: SiteEdit[]) => {
    const site = lab1();
    for (const e of [...edits, ...more]) e(site);
    writeFileSync(join(cwd, 'lab1.yaml'), stringify(site));
    const r = runCli(['bundle', '--site', 'lab1.yaml', '--state', state, '--skip-payload', '--json'], { cwd });
    const record = parseRecord(readFileSync(join(state, 'delivered.json'), 'utf8')) as DeliveryRecord;
    return { ...r, record, tree: describeTree(dist, modeAndHash) };
  };
  return { dist, bundle };
}

const under = (tree: Record<string, string>, node: string) => Object.fromEntries(Object.entries(tree).filter(([p]) => p.startsWith(`nodes/${node}/`)));
const OLD = ['k8s-01', 'k8s-02', 'k8s-03'];

test.serial('a worker added to a flannel site: gen bundle writes its seed, and the other nodes get no update and byte-identical files', (t) => {
  const w = bundledLab1();
  const before = w.bundle();
  t.is(before.code, 0, before.stderr);
  const after = w.bundle(addWorker);
  t.is(after.code, 0, after.stderr);
  const out = JSON.parse(after.stdout) as { nodes: string[]; nodeUpdates: string[] };
  t.deepEqual(out.nodes, [...OLD, 'k8s-04']);
  t.deepEqual(out.nodeUpdates, [], 'no node update');
  for (const n of OLD) {
    t.deepEqual(under(after.tree, n), under(before.tree, n), `${n}: the same files, byte for byte`);
    t.deepEqual(after.record.nodes[n], before.record.nodes[n], `${n}: its delivery record is unchanged`);
  }
  t.false(
    Object.keys(after.tree).some((p) => p.includes('.update.') || p === 'apply-updates.sh'),
    'no update tarball and no apply-updates.sh',
  );
  t.truthy(after.tree['nodes/k8s-04/seed.iso']);
  const rec = after.record.nodes['k8s-04']!;
  t.is(rec.base, null, 'the new node installs from its seed: no update base');
  t.is(rec.revision, after.record.revision);
  t.regex(after.stderr + after.stdout, /recorded k8s-04/);
  t.is(runCli(['verify', w.dist]).code, 0);
});

test.serial('a worker added to a bridge site: the other nodes get only the static route to its pod subnet, and restart nothing else', (t) => {
  const w = bundledLab1(bridge);
  const before = w.bundle();
  t.is(before.code, 0, before.stderr);
  const after = w.bundle(addWorker);
  t.is(after.code, 0, after.stderr);
  t.deepEqual((JSON.parse(after.stdout) as { nodeUpdates: string[] }).nodeUpdates, OLD);
  for (const n of OLD) {
    const files = Object.entries(after.record.nodes[n]!.files)
      .filter(([, f]) => f.since === after.record.revision)
      .map(([p]) => p);
    t.deepEqual(files, ['/etc/systemd/system/kubeseed-routes.service'], `${n}: the one changed file`);
    const summary = readFileSync(join(w.dist, 'nodes', n, `${n}-rev2.update.txt`), 'utf8');
    const unit = spawnSync(
      'tar',
      ['-xzOf', join(w.dist, 'nodes', n, `${n}-rev2.update.tar.gz`), `${n}-rev2/files/etc/systemd/system/kubeseed-routes.service`],
      {
        encoding: 'utf8',
      },
    ).stdout;
    t.regex(unit, /^ExecStart=\/sbin\/ip route replace \S+ via 192\.168\.93\.48$/m, 'the route to the new node');
    t.deepEqual(
      summary.split('\n').filter((l) => l.startsWith('  restart ')),
      ['  restart kubeseed-routes (wait: active)'],
      summary,
    );
  }
  t.is(after.record.nodes['k8s-04']!.base, null);
  t.is(runCli(['verify', w.dist]).code, 0);
});
