import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fixtureStateDir } from '../goldens.js';
import { runCli } from '../helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'kubeseed-scripts-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

test('the shell scripts a bundle ships (install.sh, verify.sh, the VM scripts) pass shellcheck as POSIX sh', (t) => {
  cpSync(fixtureStateDir, join(dir, 'state'), { recursive: true });
  const r = runCli(['bundle', '--site', 'lab1', '--state', join(dir, 'state'), '--out', join(dir, 'out'), '--skip-payload']);
  t.is(r.code, 0, r.stderr);
  const dist = join(dir, 'out', 'lab1', 'dist');
  execFileSync('tar', ['-xzf', join(dist, 'nodes', 'k8s-01', 'k8s-01.tar.gz'), '-C', dir]);
  const scripts = [
    join(dir, 'k8s-01', 'install.sh'),
    join(dist, 'verify.sh'),
    ...readdirSync(join(dist, 'vm'))
      .filter((f) => f.endsWith('.sh'))
      .map((f) => join(dist, 'vm', f)),
  ];
  t.is(scripts.length, 7); // install.sh, verify.sh, a VM script per node, vm/up.sh and vm/down.sh
  for (const s of scripts) {
    t.true(readFileSync(s, 'utf8').startsWith('#!/bin/sh\n'), s);
    const check = spawnSync('shellcheck', ['-s', 'sh', s], { encoding: 'utf8' });
    t.is(check.status, 0, `${s}: ${check.stdout}`);
  }
});
