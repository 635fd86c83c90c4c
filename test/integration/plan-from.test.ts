import test from 'ava';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PlanChange } from '../../generator/plan/change.js';
import { runCli } from '../helpers.js';
import { cleanup, ecdsaLab1, listing, makeWork, type Work } from '../state-fixture.js';

/**
 * Issue #23: `gen plan --from` shows what a bundle of the changed blueprint would change against an
 * earlier bundle, before anything is written. lab1 (ECDSA keys) is bundled on v1.36.4, then the
 * blueprint names v1.37.1: two real releases of the catalog, one minor apart.
 */

const roots: string[] = [];
test.after.always(() => cleanup(roots));

let w: Work;
let manifest: string;
test.before(() => {
  w = makeWork(roots, (s) => (s.spec.kubernetes.version = 'v1.36.4'));
  const b = w.gen('bundle', ['--skip-payload']);
  if (b.code !== 0) throw new Error(b.stderr);
  manifest = join(w.dist, 'manifest.json');
  writeFileSync(
    w.site,
    ecdsaLab1((s) => (s.spec.kubernetes.version = 'v1.37.1')),
  );
});

/** A digest of everything below the output directory (dist and state), to prove a run wrote nothing there. */
const snapshot = () =>
  createHash('sha256')
    .update(JSON.stringify(listing(join(w.dir, 'output'))))
    .digest('hex');

test.serial('--from manifest.json: versions, images, and per node the files and the units that restart; nothing written', (t) => {
  const before = snapshot();
  const r = w.gen('plan', ['--from', manifest, '--json']);
  t.is(r.code, 0, r.stderr);
  const c = JSON.parse(r.stdout) as PlanChange;
  t.deepEqual(c.from, { kind: 'manifest', file: manifest, kubernetes: 'v1.36.4', mode: 'binary', revision: 1 });
  t.deepEqual(c.to, { kubernetes: 'v1.37.1', mode: 'binary' });
  t.deepEqual(c.versions, [
    { component: 'crictl', from: 'v1.36.0', to: 'v1.37.0' },
    { component: 'kubernetes', from: 'v1.36.4', to: 'v1.37.1' },
  ]);
  t.deepEqual(c.images, { added: ['registry.k8s.io/coredns/coredns:v1.14.4'], removed: ['registry.k8s.io/coredns/coredns:v1.14.2'] });
  t.is(c.artifacts, null, 'a manifest lists no downloads');
  t.deepEqual(
    c.nodes!.map((n) => n.node),
    ['k8s-01', 'k8s-02', 'k8s-03'],
  );
  for (const n of c.nodes!) {
    const units = n.restarts.map((x) => x.unit);
    // lab1: three control planes with etcd; etcd (v3.6.14) and containerd (2.3.5) do not change.
    t.deepEqual(
      units.filter((u) => !u.startsWith('cluster-')),
      ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'],
      n.node,
    );
    t.deepEqual(n.restarts.find((x) => x.unit === 'kubelet')!.because, ['kubelet v1.37.1']);
    t.true(n.changed.includes('/opt/kubeseed/firstboot'), `${n.node}: ${n.changed.join(' ')}`);
    t.true(n.changed.includes('/etc/kubeseed/release'), `${n.node}: the release the node records (kubeseed-status) changes`);
  }
  t.true(c.nodes![0]!.changed.includes('/opt/kubeseed/manifests/20-coredns.yaml'), 'the bootstrap node gets the new CoreDNS manifest');
  t.false(
    c.nodes![1]!.changed.some((p) => p.startsWith('/opt/kubeseed/manifests/')),
    'only the bootstrap node carries the cluster manifests',
  );

  const human = w.gen('plan', ['--from', manifest]);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /^Site lab1: Kubernetes v1\.36\.4 -> v1\.37\.1, binary mode$/m);
  t.regex(human.stdout, /^kubernetes +v1\.36\.4 +v1\.37\.1$/m);
  t.regex(human.stdout, /^ {2}\+ registry\.k8s\.io\/coredns\/coredns:v1\.14\.4$/m);
  t.regex(human.stdout, /^ {2}k8s-02: 0 file\(s\) added, 2 changed, 0 removed$/m);
  t.regex(human.stdout, /restarts: kube-apiserver \(kube-apiserver v1\.37\.1\); kube-controller-manager/);
  t.regex(human.stdout, /Nothing was written/);
  t.is(snapshot(), before, 'nothing was written');
});

test.serial('--from a lock: the downloads that change, versions read from their ids', (t) => {
  // The lock gen fetch would have written for v1.36.4 (sizes and hashes made up: plan reads neither).
  const old = runCli(['plan', '--site', w.site, '--catalog', w.args[3]!, '--json'], { cwd: w.dir });
  t.is(old.code, 0, old.stderr);
  const planned = JSON.parse(old.stdout) as { artifacts: { id: string; url: string }[] };
  const lock = join(w.dir, 'lab1-v1.36.4.lock.json');
  const oldIds = planned.artifacts.map((a) => a.id.replace('v1.37.1', 'v1.36.4').replace('crictl@v1.37.0', 'crictl@v1.36.0'));
  writeFileSync(
    lock,
    JSON.stringify({
      apiVersion: 'kubeseed/v1alpha1',
      kind: 'Lock',
      site: 'lab1',
      artifacts: Object.fromEntries(oldIds.map((id) => [id, { url: `https://dl.k8s.io/${id}`, size: 1, sha256: '0'.repeat(64) }])),
      images: {},
    }),
  );
  const r = w.gen('plan', ['--from', lock, '--json']);
  t.is(r.code, 0, r.stderr);
  const c = JSON.parse(r.stdout) as PlanChange;
  t.is(c.from.kind, 'lock');
  t.is(c.from.kubernetes, 'v1.36.4');
  t.deepEqual(c.versions, [
    { component: 'crictl', from: 'v1.36.0', to: 'v1.37.0' },
    { component: 'kubernetes', from: 'v1.36.4', to: 'v1.37.1' },
  ]);
  t.true(c.artifacts!.added.includes('kube-apiserver@v1.37.1/amd64'));
  t.true(c.artifacts!.removed.includes('kube-apiserver@v1.36.4/amd64'));
  t.false(
    c.artifacts!.added.some((id) => id.startsWith('etcd@')),
    'etcd is the same download',
  );
  t.is(c.artifacts!.added.length, c.artifacts!.removed.length);
});

test.serial('--from refuses what it cannot compare, and a blueprint the skew rules refuse, before anything is written', (t) => {
  const before = snapshot();
  const missing = w.gen('plan', ['--from', 'nowhere.json']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /--from .*nowhere\.json: no such file/);
  t.regex(missing.stderr, /lock gen fetch wrote/);
  const notOne = w.gen('plan', ['--from', w.site]);
  t.is(notOne.code, 2);
  t.regex(notOne.stderr, /is not JSON/);
  const other = join(w.dir, 'other-manifest.json');
  writeFileSync(other, JSON.stringify({ ...JSON.parse(readFileSync(manifest, 'utf8')), site: 'lab2' }));
  const wrongSite = w.gen('plan', ['--from', other]);
  t.is(wrongSite.code, 2);
  t.regex(wrongSite.stderr, /belongs to site 'lab2', not 'lab1'/);
  const sizes = w.gen('plan', ['--from', manifest, '--sizes']);
  t.is(sizes.code, 2);
  t.regex(sizes.stderr, /--from/);
  writeFileSync(
    w.site,
    ecdsaLab1((s) => (s.spec.kubernetes.version = 'v1.35.9')),
  );
  try {
    const down = w.gen('plan', ['--from', manifest, '--json']);
    t.is(down.code, 2);
    t.regex(down.stdout, /upgrade-no-downgrade/);
  } finally {
    writeFileSync(
      w.site,
      ecdsaLab1((s) => (s.spec.kubernetes.version = 'v1.37.1')),
    );
  }
  t.is(snapshot(), before, 'neither the dist nor the state changed');
});

test('gen plan --help names --from', (t) => {
  const h = runCli(['plan', '--help']);
  t.is(h.code, 0);
  t.regex(h.stdout, /--from FILE +instead of the plan, what a gen bundle/);
});
