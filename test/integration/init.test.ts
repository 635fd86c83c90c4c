import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { cliPath, runCli } from '../helpers.js';
import { tempDirs } from '../temp.js';

/** Issue #21 item 4: gen init writes a valid blueprint from flags or answers, and never overwrites one. */

const tmp = tempDirs('kubeseed-init-');

test('gen init from flags writes a blueprint that gen validate accepts, with the nodes, addresses, roles, MACs and mode given', (t) => {
  const cwd = tmp();
  const r = runCli(
    [
      'init',
      '--name',
      'lab2',
      '--mode',
      'kubeadm',
      '--node',
      'cp-1,10.20.0.11/24,control-plane+etcd,52:54:00:20:00:11',
      '--node',
      'w-1,10.20.0.21/24',
      '--node',
      'w-2,10.20.0.22/24,worker',
      '--json',
    ],
    { cwd },
  );
  t.is(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { file: string; nodes: { name: string; address: string; roles: string[] }[] };
  t.is(out.file, join(cwd, 'lab2.yaml'));
  t.deepEqual(
    out.nodes.map((n) => [n.name, n.address, n.roles.join('+')]),
    [
      ['cp-1', '10.20.0.11/24', 'control-plane+etcd'],
      ['w-1', '10.20.0.21/24', 'worker'],
      ['w-2', '10.20.0.22/24', 'worker'],
    ],
  );
  const doc = parse(readFileSync(out.file, 'utf8')) as {
    metadata: { name: string };
    spec: { kubernetes: { mode: string; version: string }; nodes: { mac?: string; gateway: string; dns: string[] }[] };
  };
  t.is(doc.metadata.name, 'lab2');
  t.is(doc.spec.kubernetes.mode, 'kubeadm');
  t.regex(doc.spec.kubernetes.version, /^v1\.\d+\.\d+$/);
  t.is(doc.spec.nodes[0]!.mac, '52:54:00:20:00:11');
  t.is(doc.spec.nodes[1]!.gateway, '10.20.0.1', 'the first address of the subnet');
  t.deepEqual(doc.spec.nodes[2]!.dns, ['10.20.0.1']);
  const valid = runCli(['validate', '--site', out.file], { cwd });
  t.is(valid.code, 0, valid.stderr);
  t.regex(valid.stdout, /valid: lab2 — 3 node\(s\), Kubernetes v1\.\d+\.\d+, kubeadm mode/);
  t.deepEqual(readdirSync(cwd), ['lab2.yaml'], 'no temporary file left');
});

test('gen init refuses to overwrite, and writes nothing for values the rules refuse (exit 2, issues named)', (t) => {
  const cwd = tmp();
  writeFileSync(join(cwd, 'lab3.yaml'), 'mine\n');
  const again = runCli(['init', '--name', 'lab3', '--node', 'a,10.0.0.5/24'], { cwd });
  t.is(again.code, 2);
  t.regex(again.stderr, /lab3\.yaml exists; gen init never overwrites a blueprint/);
  t.is(readFileSync(join(cwd, 'lab3.yaml'), 'utf8'), 'mine\n');

  // Two nodes with one address, and no etcd node: every problem at once, and no file.
  const bad = runCli(['init', '--name', 'lab4', '--node', 'a,10.0.0.5/24,worker', '--node', 'b,10.0.0.5/24,worker', '--json'], { cwd });
  t.is(bad.code, 2, bad.stderr);
  const err = JSON.parse(bad.stdout) as { error: string; issues: { path: string; rule: string; file: string }[] };
  t.regex(err.error, /not valid; nothing was written/);
  t.true(
    err.issues.some((i) => i.path.startsWith('spec.nodes[1].address')),
    JSON.stringify(err.issues),
  );
  t.true(
    err.issues.some((i) => /etcd|control-plane/.test(i.rule)),
    JSON.stringify(err.issues.map((i) => i.rule)),
  );
  t.true(err.issues.every((i) => i.file === join(cwd, 'lab4.yaml')));
  t.false(existsSync(join(cwd, 'lab4.yaml')));
  t.deepEqual(readdirSync(cwd), ['lab3.yaml']);

  const usage = runCli(['init', '--name', 'x'], { cwd });
  t.is(usage.code, 2);
  t.regex(usage.stderr, /--name and at least one --node are needed/);
  const mode = runCli(['init', '--name', 'x', '--node', 'a,10.0.0.5/24', '--mode', 'hard'], { cwd });
  t.is(mode.code, 2);
  t.regex(mode.stderr, /--mode hard: expected binary, kubeadm/);
});

test('gen init --interactive asks each question and takes the answers (defaults on empty lines)', (t) => {
  const cwd = tmp();
  // name, mode, version (default), network (default), os (default), 2 nodes: name (default), address, roles (default), MAC; gateway (default).
  const answers = ['edge', 'binary', '', '', '', '2', '', '172.16.5.10/24', '', '52:54:00:05:00:10', 'n2', '172.16.5.11/24', '', '', ''].join('\n');
  const r = spawnSync(process.execPath, [cliPath, 'init', '--interactive'], {
    cwd,
    input: `${answers}\n`,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  t.is(r.status, 0, r.stderr);
  const doc = parse(readFileSync(join(cwd, 'edge.yaml'), 'utf8')) as { spec: { nodes: { name: string; address: string; roles: string[]; mac?: string }[] } };
  t.deepEqual(
    doc.spec.nodes.map((n) => [n.name, n.address, n.roles.join('+'), n.mac ?? '']),
    [
      ['edge-01', '172.16.5.10/24', 'control-plane+etcd+worker', '52:54:00:05:00:10'],
      ['n2', '172.16.5.11/24', 'worker', ''],
    ],
  );
  t.is(runCli(['validate', '--site', join(cwd, 'edge.yaml')], { cwd }).code, 0);
});
