import test from 'ava';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { cliPath } from '../helpers.js';
import { cleanup, firstLine, makeWork, type Work } from '../state-fixture.js';

/**
 * Issue #19 item 4: gen verify checks the whole manifest and SHA256SUMS, never opens a symlink or
 * special file, reports empty directories and extra entries, and never hangs or prints a trace.
 * Each case: a fresh bundle, one change, the exit code and the first line.
 */

const roots: string[] = [];
let base: Work;
test.before(() => {
  base = makeWork(roots);
  const r = base.gen('bundle', ['--skip-payload']);
  if (r.code !== 0) throw new Error(r.stderr);
});
test.after.always(() => cleanup(roots));

function freshDist(): string {
  const dir = join(base.dir, `copy-${Math.random().toString(36).slice(2)}`);
  cpSync(base.dist, dir, { recursive: true, verbatimSymlinks: true });
  return dir;
}

function verify(dist: string, json = false) {
  // A hang is a failure too: the test gives verify 30 s.
  const r = spawnSync(process.execPath, [cliPath, 'verify', dist, ...(json ? ['--json'] : [])], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** Rewrites manifest.json with `edit` and keeps SHA256SUMS consistent with it (a careful forger). */
function forgeManifest(dist: string, edit: (m: { files: { path: string; mode: string; sha256: string; size: number }[] } & Record<string, unknown>) => void) {
  const m = JSON.parse(readFileSync(join(dist, 'manifest.json'), 'utf8'));
  edit(m);
  const text = `${JSON.stringify(m, null, 2)}\n`;
  writeFileSync(join(dist, 'manifest.json'), text);
  const sums = readFileSync(join(dist, 'SHA256SUMS'), 'utf8').replace(/^[0-9a-f]{64} {2}manifest\.json$/m, `${sha(text)}  manifest.json`);
  writeFileSync(join(dist, 'SHA256SUMS'), sums);
}

test('a fresh bundle verifies: exit 0', (t) => {
  const r = verify(freshDist());
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout.trim().split('\n').at(-1)!, /^ok: \d+ files match the manifest$/);
  t.is(r.stderr, '');
});

const problemCases: [string, (d: string) => void, RegExp][] = [
  [
    'manifest.json edited outside files',
    (d) => writeFileSync(join(d, 'manifest.json'), readFileSync(join(d, 'manifest.json'), 'utf8').replace('"site": "lab1"', '"site": "evil"')),
    /^problem {2}manifest\.json: sha256 differs from SHA256SUMS \(the manifest was changed\)$/,
  ],
  ['SHA256SUMS removed', (d) => rmSync(join(d, 'SHA256SUMS')), /^problem {2}SHA256SUMS: missing$/],
  [
    'SHA256SUMS edited',
    (d) => writeFileSync(join(d, 'SHA256SUMS'), readFileSync(join(d, 'SHA256SUMS'), 'utf8').replace(/^[0-9a-f]{64}(?= {2}verify\.sh$)/m, '0'.repeat(64))),
    /^problem {2}verify\.sh: SHA256SUMS and manifest\.json disagree on its sha256$/,
  ],
  [
    'a symlink added',
    (d) => symlinkSync('/etc/passwd', join(d, 'nodes/k8s-01/passwd')),
    /^problem {2}nodes\/k8s-01\/passwd: a symlink \(a bundle holds regular files only\); not opened$/,
  ],
  ['an empty directory added', (d) => mkdirSync(join(d, 'nodes/k8s-09')), /^problem {2}nodes\/k8s-09\/: empty directory$/],
  [
    'a file replaced by a symlink',
    (d) => {
      rmSync(join(d, 'verify.sh'));
      symlinkSync('/bin/sh', join(d, 'verify.sh'));
    },
    /^problem {2}verify\.sh: a symlink where the manifest lists a file \(a bundle holds regular files only\); not opened$/,
  ],
  [
    'a FIFO as a listed file',
    (d) => {
      rmSync(join(d, 'nodes/k8s-01/user-data'));
      spawnSync('mkfifo', [join(d, 'nodes/k8s-01/user-data')]);
    },
    /^problem {2}nodes\/k8s-01\/user-data: a FIFO where the manifest lists a file \(a bundle holds regular files only\); not opened$/,
  ],
  ['an extra file', (d) => writeFileSync(join(d, 'vm/extra.sh'), 'x'), /^problem {2}vm\/extra\.sh: not in the manifest$/],
  ['a file missing', (d) => rmSync(join(d, 'vm/Vagrantfile')), /^problem {2}vm\/Vagrantfile: missing$/],
  [
    'a secret listed as 0644 by a forged manifest',
    (d) => {
      spawnSync('chmod', ['0644', join(d, 'nodes/k8s-03/k8s-03.tar.gz')]);
      forgeManifest(d, (m) => {
        m.files.find((f) => f.path === 'nodes/k8s-03/k8s-03.tar.gz')!.mode = '0644';
      });
    },
    /^problem {2}nodes\/k8s-03\/k8s-03\.tar\.gz: mode 0644, must be 0600: it carries private keys or tokens$/,
  ],
  [
    'a file left out of a forged manifest and SHA256SUMS',
    (d) =>
      forgeManifest(d, (m) => {
        m.files = m.files.filter((f) => f.path !== 'vm/k8s-01.sh');
      }),
    /^problem {2}SHA256SUMS lists vm\/k8s-01\.sh, which the manifest does not$/,
  ],
];

for (const [what, change, first] of problemCases) {
  test(`gen verify with ${what}: exit 1, the problem named first`, (t) => {
    const d = freshDist();
    change(d);
    const r = verify(d);
    t.is(r.signal, null, 'no hang');
    t.is(r.code, 1, r.stdout + r.stderr);
    t.regex(firstLine(r.stderr), first);
    t.notRegex(r.stderr, /\n\s+at /);
  });
}

const badInput: [string, (d: string) => string, RegExp][] = [
  [
    'a manifest without files',
    (d) => {
      writeFileSync(join(d, 'manifest.json'), '{"kind":"BundleManifest"}');
      return d;
    },
    /^gen verify: \S+\/manifest\.json has no files list$/,
  ],
  [
    'a manifest that is a FIFO',
    (d) => {
      rmSync(join(d, 'manifest.json'));
      spawnSync('mkfifo', [join(d, 'manifest.json')]);
      return d;
    },
    /^gen verify: \S+\/manifest\.json is a FIFO, not a file; not opened$/,
  ],
  [
    'a manifest that is a symlink',
    (d) => {
      rmSync(join(d, 'manifest.json'));
      symlinkSync('/dev/zero', join(d, 'manifest.json'));
      return d;
    },
    /^gen verify: \S+\/manifest\.json is a symlink, not a file; not opened$/,
  ],
  [
    'a manifest that is not JSON',
    (d) => {
      writeFileSync(join(d, 'manifest.json'), '{"files": [');
      return d;
    },
    /^gen verify: \S+\/manifest\.json is not JSON: /,
  ],
  [
    'a manifest entry with a path out of the bundle',
    (d) => {
      forgeManifest(d, (m) => {
        m.files[0]!.path = '../../etc/passwd';
      });
      return d;
    },
    /^gen verify: \S+\/manifest\.json files\[0\]\.path is not a relative path inside the bundle$/,
  ],
  [
    'a manifest whose files are not objects',
    (d) => {
      writeFileSync(join(d, 'manifest.json'), '{"kind":"BundleManifest","files":[1]}');
      return d;
    },
    /^gen verify: \S+\/manifest\.json files\[0\] is not an object$/,
  ],
  [
    'a manifest that is an array',
    (d) => {
      writeFileSync(join(d, 'manifest.json'), '[]');
      return d;
    },
    /^gen verify: \S+\/manifest\.json is not a JSON object$/,
  ],
  [
    'a directory without a manifest',
    (d) => {
      rmSync(join(d, 'manifest.json'));
      return d;
    },
    /^gen verify: \S+ holds no manifest\.json$/,
  ],
  ['a path that does not exist', (d) => join(d, 'nope'), /^gen verify: \S+\/nope does not exist$/],
  [
    'a FIFO as the bundle',
    (d) => {
      spawnSync('mkfifo', [join(d, 'fifo')]);
      return join(d, 'fifo');
    },
    /^gen verify: \S+\/fifo is a FIFO$/,
  ],
];

for (const [what, make, first] of badInput) {
  test(`gen verify on ${what}: exit 2 with one clear line, no hang, no trace`, (t) => {
    const target = make(freshDist());
    const r = verify(target);
    t.is(r.signal, null, 'no hang');
    t.is(r.code, 2, r.stdout + r.stderr);
    t.regex(firstLine(r.stderr), first);
    t.notRegex(r.stderr, /\n\s+at /);
  });
}

test('after a crash between the two renames of the swap, verify names the moved-aside bundle', (t) => {
  const d = freshDist();
  const parent = join(d, 'out');
  mkdirSync(parent);
  cpSync(base.dist, join(parent, 'dist.old-77'), { recursive: true });
  const r = verify(join(parent, 'dist'));
  t.is(r.code, 2);
  t.regex(firstLine(r.stderr), /^gen verify: \S+\/out\/dist does not exist$/);
  t.regex(r.stderr, /hint: a gen bundle run stopped while publishing: the previous bundle is \S+\/dist\.old-77/);
});
