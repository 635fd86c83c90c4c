import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { ROCKY_SITE, fixtureStateDir } from '../goldens.js';
import { fixtureCache, runCli } from '../helpers.js';
import { tempDirs } from '../temp.js';
import { listTree } from '../tree.js';

/** A Debian bookworm minbase root, built by scripts/fixtures/build-chroot.sh. */
const CHROOT = join(fixtureCache, 'chroot-bookworm');

const dir = tempDirs()('kubeseed-ks-');

let dist = '';
test.before(() => {
  cpSync(fixtureStateDir, join(dir, 'state'), { recursive: true });
  const r = runCli(['bundle', '--site', ROCKY_SITE, '--state', join(dir, 'state'), '--out', join(dir, 'out'), '--skip-payload']);
  if (r.code !== 0) throw new Error(r.stderr);
  dist = join(dir, 'out', 'lab1', 'dist');
});

function postBody(ks: string): string {
  const lines = ks.split('\n');
  const start = lines.findIndex((l) => l.startsWith('%post'));
  const end = lines.findIndex((l, i) => i > start && l === '%end');
  return `${lines.slice(start + 1, end).join('\n')}\n`;
}

/** path → mode and size (or link target) of every regular file and symlink under root. */
const tree = (root: string) =>
  new Map(
    listTree(root).map((e) => [e.path, e.stat.isSymbolicLink() ? `link ${readlinkSync(e.abs)}` : `${(e.stat.mode & 0o7777).toString(8)} ${e.stat.size}`]),
  );

test('every node has a ks.cfg (mode 0600: it carries keys) and the %post passes shellcheck as POSIX sh', (t) => {
  for (const node of ['k8s-01', 'k8s-02', 'k8s-03']) {
    const file = join(dist, 'nodes', node, 'ks.cfg');
    t.is(statSync(file).mode & 0o777, 0o600, node);
    const body = postBody(readFileSync(file, 'utf8'));
    const r = spawnSync('shellcheck', ['-s', 'sh', '-'], { input: body, encoding: 'utf8' });
    t.is(r.status, 0, `${node}: ${r.stdout}`);
  }
});

test("the %post run in a Debian chroot lays down exactly the node's files, with their modes, and enables first boot", (t) => {
  t.timeout(120_000);
  t.true(existsSync(join(CHROOT, 'bin', 'sh')), `no chroot fixture at ${CHROOT}: run scripts/fixtures/build-chroot.sh`);
  const root = join(dir, 'root');
  execFileSync('cp', ['-a', CHROOT, root]);
  const before = tree(root);
  writeFileSync(join(root, 'post.sh'), postBody(readFileSync(join(dist, 'nodes', 'k8s-02', 'ks.cfg'), 'utf8')));
  const r = spawnSync('chroot', [root, '/bin/sh', '/post.sh'], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  rmSync(join(root, 'post.sh'));

  // What the node must hold: every member of its files archive, with the archive's mode and bytes.
  const unpacked = join(dir, 'expected');
  execFileSync('mkdir', ['-p', unpacked]);
  execFileSync('tar', ['-xzpf', join(dist, 'nodes', 'k8s-02', 'node-files.tar.gz'), '-C', unpacked]);
  const expected = tree(unpacked);
  t.true(expected.size > 40, `${expected.size} node files`);
  const after = tree(root);
  const added = new Map([...after].filter(([p, v]) => before.get(p) !== v));
  for (const [path, modeSize] of expected) {
    t.is(added.get(path), modeSize, path);
    t.is(sha(join(root, path)), sha(join(unpacked, path)), `${path} content`);
  }
  const extra = [...added.keys()].filter((p) => !expected.has(p)).sort();
  // The originals kubeseed-reset puts back: none (the host has none of the node's files yet), and the directories made.
  t.deepEqual(extra, [
    'etc/kubeseed/node-files.sha256',
    'etc/systemd/system/multi-user.target.wants/kubeseed-firstboot.service',
    'root/node-files.tar.gz',
    'var/lib/kubeseed/originals/.created',
    'var/lib/kubeseed/originals/.kept',
  ]);
  t.is(added.get('etc/systemd/system/multi-user.target.wants/kubeseed-firstboot.service'), 'link /etc/systemd/system/kubeseed-firstboot.service');
  t.regex(added.get('root/node-files.tar.gz')!, /^600 /);
  t.regex(added.get('etc/kubernetes/pki/ca.key')!, /^600 /);
});

test('a %post whose archive does not match its checksum list installs nothing', (t) => {
  const root = join(dir, 'root-bad');
  execFileSync('cp', ['-a', CHROOT, root]);
  const body = postBody(readFileSync(join(dist, 'nodes', 'k8s-01', 'ks.cfg'), 'utf8'));
  // Flip one checksum in the embedded list.
  const broken = body.replace(/\n([0-9a-f])([0-9a-f]{63}) {2}etc\/hosts\n/, (_m, a: string, b: string) => `\n${a === '0' ? '1' : '0'}${b}  etc/hosts\n`);
  t.not(broken, body);
  writeFileSync(join(root, 'post.sh'), broken);
  const r = spawnSync('chroot', [root, '/bin/sh', '/post.sh'], { encoding: 'utf8' });
  t.not(r.status, 0);
  t.false(existsSync(join(root, 'etc', 'kubernetes', 'pki', 'ca.key')));
  t.false(existsSync(join(root, 'opt', 'kubeseed', 'firstboot')));
});

function sha(p: string): string {
  return createHash('sha256').update(readFileSync(p)).digest('hex');
}
