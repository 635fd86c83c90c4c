import test from 'ava';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Issue } from '../../generator/model/index.js';
import { cleanup, ecdsaLab1, makeWork } from '../state-fixture.js';
import { nodeNamed } from '../sites.js';

/**
 * The rules for a running site through the CLI: once gen bundle has recorded what the nodes got
 * (<state>/delivered.json), gen validate and gen bundle check a changed blueprint against it.
 */

const roots: string[] = [];
test.after.always(() => cleanup(roots));

test.serial(
  'gen validate and gen bundle refuse removing two of three etcd members and changing serviceCIDR of a running site (exit 2, named rules with hints)',
  (t) => {
    const w = makeWork(roots);
    t.is(w.gen('validate').code, 0, 'no state yet: the blueprint alone');
    t.is(w.gen('bundle', ['--skip-payload']).code, 0);
    t.true(existsSync(join(w.state, 'delivered.json')));
    const record = readFileSync(join(w.state, 'delivered.json'), 'utf8');

    writeFileSync(
      w.site,
      ecdsaLab1((s) => {
        s.spec.nodes = s.spec.nodes.filter((n) => n.name === 'k8s-01');
        s.spec.kubernetes.serviceCIDR = '10.96.0.0/12';
      }),
    );
    const v = w.gen('validate', ['--json']);
    t.is(v.code, 2, v.stderr);
    const issues = (JSON.parse(v.stdout) as { valid: boolean; issues: Issue[] }).issues;
    t.deepEqual(issues.map((i) => `${i.rule} ${i.path}`).sort(), ['etcd-quorum-kept spec.nodes', 'running-network-kept spec.kubernetes.serviceCIDR']);
    const cidr = issues.find((i) => i.rule === 'running-network-kept')!;
    t.true(typeof cidr.line === 'number' && cidr.line > 1, 'the issue points at the line of serviceCIDR');

    const human = w.gen('validate');
    t.is(human.code, 2);
    t.regex(human.stderr + human.stdout, /etcd-quorum-kept/);
    t.regex(human.stderr + human.stdout, /remove one member per change/);
    t.regex(human.stderr + human.stdout, /keep serviceCIDR: 10\.254\.0\.0\/16/);

    const b = w.gen('bundle', ['--skip-payload']);
    t.is(b.code, 2, b.stderr);
    t.regex(b.stderr + b.stdout, /etcd-quorum-kept/);
    t.is(readFileSync(join(w.state, 'delivered.json'), 'utf8'), record, 'a refused bundle leaves the record as it was');

    t.is(w.gen('validate', ['--state', join(w.dir, 'elsewhere')]).code, 0, 'a state without a record: the blueprint alone, which is a valid new site');
  },
);

test.serial('one etcd member removed from a running site validates; a state found through --out or --state is the one checked', (t) => {
  const w = makeWork(roots);
  t.is(w.gen('bundle', ['--skip-payload', '--out', 'out2']).code, 0);
  writeFileSync(
    w.site,
    ecdsaLab1((s) => {
      s.spec.nodes = s.spec.nodes.filter((n) => n.name !== 'k8s-03');
      nodeNamed(s, 'k8s-02').roles = ['worker'];
    }),
  );
  t.is(w.gen('validate').code, 0, 'no state under ./output: the blueprint alone');
  const v = w.gen('validate', ['--out', 'out2', '--json']);
  t.is(v.code, 2);
  t.deepEqual(
    (JSON.parse(v.stdout) as { issues: Issue[] }).issues.map((i) => `${i.rule} ${i.path}`),
    ['running-node-kept spec.nodes[1].roles', 'running-node-kept spec.nodes[1].roles', 'etcd-quorum-kept spec.nodes'],
  );
  writeFileSync(
    w.site,
    ecdsaLab1((s) => (s.spec.nodes = s.spec.nodes.filter((n) => n.name !== 'k8s-03'))),
  );
  const ok = w.gen('validate', ['--state', join('out2', 'lab1', 'state')]);
  t.is(ok.code, 0, ok.stderr);
});
