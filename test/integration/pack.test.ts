import test from 'ava';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { buildIso, IsoError, MAX_FILE_SIZE } from '../../generator/pack/iso9660.js';
import { memFile, writeIsoTo, writeTarTo } from '../../generator/pack/files.js';
import { cliPath, runCli } from '../helpers.js';
import { tempDirs } from '../temp.js';
import { describeTree, modeAndHash } from '../tree.js';

const tmp = tempDirs();
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A small tree with what seeds and payloads hold: nested dirs, a 0600 key, long names, an empty file, a 3 MB file. */
function sampleFiles() {
  const big = Buffer.alloc(3 * 1024 * 1024 + 17);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  return [
    memFile('user-data', '#cloud-config\nhostname: n1\n', 0o644),
    memFile('meta-data', 'instance-id: n1\n', 0o644),
    memFile('network-config', 'version: 2\n', 0o644),
    memFile('node-files.tar.gz', Buffer.from([1, 2, 3]), 0o600),
    memFile('payload/containerd-1.6.20-linux-amd64.tar.gz', big, 0o644),
    memFile('payload/a.name.with.many.dots-and-a-length-beyond-thirty-one.bin', 'x', 0o644),
    memFile('payload/A.name.with.many.dots-and-a-length-beyond-thirty-one.bin', 'y', 0o644),
    memFile('deep/er/still/file', 'deep', 0o755),
    memFile('empty', '', 0o644),
  ];
}

async function isoOf(dir: string, files = sampleFiles(), volumeId = 'cidata') {
  const path = join(dir, 'test.iso');
  await writeIsoTo(path, files, { volumeId, mtime: 1_600_000_000 });
  return path;
}

test('xorriso, isoinfo -R and isoinfo -J read every file back byte-identical, with names, modes and label', async (t) => {
  const dir = tmp('kubeseed-iso-');
  const files = sampleFiles();
  const iso = await isoOf(dir, files);
  t.regex(execFileSync('isoinfo', ['-d', '-i', iso], { encoding: 'utf8' }), /Volume id: cidata/);
  t.is(execFileSync('blkid', ['-o', 'value', '-s', 'LABEL', iso], { encoding: 'utf8' }).trim(), 'cidata');
  const listing = execFileSync('xorriso', ['-indev', iso, '-find', '/', '-type', 'f', '-exec', 'lsdl'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  for (const f of files) {
    const want = readFileSync(await contentPath(dir, f));
    const rr = execFileSync('isoinfo', ['-R', '-i', iso, '-x', `/${f.path}`], { maxBuffer: 1 << 26 });
    t.is(sha(rr), sha(want), `RR ${f.path}`);
    const joliet = execFileSync('isoinfo', ['-J', '-i', iso, '-x', `/${f.path}`], { maxBuffer: 1 << 26 });
    t.is(sha(joliet), sha(want), `Joliet ${f.path}`);
    const line = listing.split('\n').find((l) => l.endsWith(`'/${f.path}'`));
    t.truthy(line, `xorriso lists ${f.path}`);
    const modeText = line!.slice(0, 10);
    t.is(modeText, `-${rwx(f.mode)}`, `mode of ${f.path}`);
  }
  const xo = spawnSync('xorriso', ['-indev', iso, '-check_media', '--'], { encoding: 'utf8' });
  t.regex(xo.stdout + xo.stderr, /Media region :\s+0 ,\s+\d+ , \+ good/);
});

async function contentPath(dir: string, f: ReturnType<typeof memFile>): Promise<string> {
  const p = join(dir, 'expected', f.path);
  mkdirSync(join(p, '..'), { recursive: true });
  const chunks: Buffer[] = [];
  for await (const c of f.open() as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  writeFileSync(p, Buffer.concat(chunks));
  return p;
}

function rwx(mode: number): string {
  return [6, 3, 0].map((s) => ((mode >> s) & 4 ? 'r' : '-') + ((mode >> s) & 2 ? 'w' : '-') + ((mode >> s) & 1 ? 'x' : '-')).join('');
}

test('a FUSE mount (fuseiso) reads the files back: this machine has no iso9660 kernel driver for a loop mount', async (t) => {
  t.true(existsSync('/dev/fuse'), '/dev/fuse is needed');
  const dir = tmp('kubeseed-fuse-');
  const iso = await isoOf(dir);
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  const m = spawnSync('fuseiso', ['-p', iso, mnt], { encoding: 'utf8' });
  t.is(m.status, 0, m.stderr);
  try {
    t.is(readFileSync(join(mnt, 'user-data'), 'utf8'), '#cloud-config\nhostname: n1\n');
    t.is(readFileSync(join(mnt, 'deep/er/still/file'), 'utf8'), 'deep');
    t.is(statSync(join(mnt, 'payload/containerd-1.6.20-linux-amd64.tar.gz')).size, 3 * 1024 * 1024 + 17);
  } finally {
    spawnSync(existsSync('/usr/bin/fusermount3') ? 'fusermount3' : 'fusermount', ['-u', mnt]);
  }
});

test("our NoCloud seed and cloud-localds' seed pass the same reader test", async (t) => {
  const dir = tmp('kubeseed-seed-');
  const seed = {
    'user-data': '#cloud-config\nhostname: n1\n',
    'meta-data': 'instance-id: n1\nlocal-hostname: n1\n',
    'network-config': 'version: 2\nethernets: {}\n',
  };
  for (const [k, v] of Object.entries(seed)) writeFileSync(join(dir, k), v);
  const ours = join(dir, 'ours.iso');
  await writeIsoTo(
    ours,
    Object.entries(seed).map(([k, v]) => memFile(k, v, 0o644)),
    { volumeId: 'cidata', mtime: 1_600_000_000 },
  );
  const theirs = join(dir, 'theirs.iso');
  execFileSync('cloud-localds', ['-N', join(dir, 'network-config'), theirs, join(dir, 'user-data'), join(dir, 'meta-data')]);
  for (const iso of [ours, theirs]) {
    t.regex(execFileSync('isoinfo', ['-d', '-i', iso], { encoding: 'utf8' }), /Volume id: cidata/, iso);
    for (const [k, v] of Object.entries(seed)) {
      t.is(execFileSync('isoinfo', ['-R', '-i', iso, '-x', `/${k}`], { encoding: 'utf8' }), v, `${iso} RR ${k}`);
      t.is(execFileSync('isoinfo', ['-J', '-i', iso, '-x', `/${k}`], { encoding: 'utf8' }), v, `${iso} Joliet ${k}`);
    }
  }
});

test('the same entries and time give a byte-identical image', async (t) => {
  const a = readFileSync(await isoOf(tmp('kubeseed-iso-a-')));
  const b = readFileSync(await isoOf(tmp('kubeseed-iso-b-')));
  t.is(sha(a), sha(b));
});

test('a file over 4 GiB is refused with a clear error (sparse test file, nothing written)', (t) => {
  const dir = tmp('kubeseed-big-');
  const big = join(dir, 'images-amd64.oci.tar');
  const fd = openSync(big, 'w');
  ftruncateSync(fd, MAX_FILE_SIZE + 1);
  closeSync(fd);
  const err = t.throws(
    () =>
      buildIso(
        [{ ...memFile('x', 'x', 0o644) }, { path: 'images-amd64.oci.tar', mode: 0o644, size: statSync(big).size, open: () => (async function* () {})() }],
        { volumeId: 'KSPAYLOAD', mtime: 0 },
      ),
    { instanceOf: IsoError },
  );
  t.regex(err.message, /images-amd64\.oci\.tar is 4294965249 bytes; .* at most 4294965248 bytes \(4 GiB\)/);
});

test('tar: sorted entries, owner root 0/0, fixed mtime, exact modes; gzip output deterministic', async (t) => {
  const dir = tmp('kubeseed-tar-');
  const files = [memFile('b/key.pem', 'k', 0o600), memFile('a/run.sh', '#!/bin/sh\n', 0o755), memFile('c.txt', 'c', 0o644)];
  await writeTarTo(join(dir, 'x.tar.gz'), files, 1_600_000_000, true);
  await writeTarTo(join(dir, 'y.tar.gz'), [...files].reverse(), 1_600_000_000, true);
  t.is(sha(readFileSync(join(dir, 'x.tar.gz'))), sha(readFileSync(join(dir, 'y.tar.gz'))), 'input order does not matter');
  const listing = execFileSync('tar', ['--numeric-owner', '--full-time', '-tvzf', join(dir, 'x.tar.gz')], {
    encoding: 'utf8',
    env: { ...process.env, TZ: 'UTC' },
  })
    .trim()
    .split('\n');
  t.deepEqual(
    listing.map((l) => l.replace(/\s+/g, ' ')),
    ['-rwxr-xr-x 0/0 10 2020-09-13 12:26:40 a/run.sh', '-rw------- 0/0 1 2020-09-13 12:26:40 b/key.pem', '-rw-r--r-- 0/0 1 2020-09-13 12:26:40 c.txt'],
  );
  t.regex(execFileSync('tar', ['-tvzf', join(dir, 'x.tar.gz')], { encoding: 'utf8' }), /root\/root/);
});

const treeHashes = (dir: string) => describeTree(dir, modeAndHash);

test('two runs of gen bundle on the same site and state give byte-identical dist trees; keys stay 0600', (t) => {
  const cwd = tmp('kubeseed-bundle-');
  t.is(runCli(['bundle', '--site', 'lab1', '--skip-payload'], { cwd }).code, 0);
  const first = treeHashes(join(cwd, 'output/lab1/dist'));
  const again = runCli(['bundle', '--site', 'lab1', '--skip-payload'], { cwd });
  t.is(again.code, 0, again.stderr);
  t.deepEqual(treeHashes(join(cwd, 'output/lab1/dist')), first);
  t.true(first['admin/admin.kubeconfig']!.startsWith('600 '));
  t.true(first['nodes/k8s-01/node-files.tar.gz']!.startsWith('600 '));
  const verify = spawnSync('sh', [join(cwd, 'output/lab1/dist/verify.sh')], { encoding: 'utf8' });
  t.is(verify.status, 0, verify.stdout + verify.stderr);
  t.regex(
    execFileSync('tar', ['-tvzf', join(cwd, 'output/lab1/dist/nodes/k8s-01/node-files.tar.gz')], { encoding: 'utf8' }),
    /-rw------- root\/root +\d+ .* etc\/kubernetes\/pki\/ca\.key/,
  );
});

test('a bundle killed mid-pack leaves the previous dist untouched', async (t) => {
  const cwd = tmp('kubeseed-kill-');
  t.is(runCli(['bundle', '--site', 'lab1', '--skip-payload'], { cwd }).code, 0);
  const before = treeHashes(join(cwd, 'output/lab1/dist'));
  // An artifacts directory large enough that packing takes a while.
  const art = join(cwd, 'art');
  mkdirSync(art);
  const big = Buffer.alloc(64 * 1024 * 1024, 7);
  const names: string[] = [];
  for (let i = 0; i < 6; i++) {
    writeFileSync(join(art, `blob-${i}`), big);
    names.push(`${sha(big)}  blob-${i}\n`);
  }
  writeFileSync(join(art, 'SHA256SUMS'), names.join(''));
  const child = spawn(process.execPath, [cliPath, 'bundle', '--site', 'lab1', '--artifacts', art], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  // Kill it as soon as it reports any stage after verifying the artifacts.
  for (let i = 0; i < 200 && !/\[3\/6\]/.test(log); i++) await new Promise((r) => setTimeout(r, 25));
  child.kill('SIGKILL');
  await exited;
  t.deepEqual(treeHashes(join(cwd, 'output/lab1/dist')), before, `old dist intact (child said: ${log})`);
});

test('gen bundle refuses an artifacts directory that does not cover the plan, and writes nothing', (t) => {
  const cwd = tmp('kubeseed-cover-');
  mkdirSync(join(cwd, 'art'));
  writeFileSync(join(cwd, 'art', 'x'), 'x');
  writeFileSync(join(cwd, 'art', 'SHA256SUMS'), `${sha('x')}  x\n`);
  const r = runCli(['bundle', '--site', 'lab1', '--artifacts', 'art'], { cwd });
  t.is(r.code, 2);
  t.regex(
    r.stderr,
    /the artifacts do not cover the plan:[\s\S]*kube-apiserver-v1\.37\.1-amd64 \(kube-apiserver@v1\.37\.1\/amd64\) is missing[\s\S]*images-amd64\.oci\.tar/,
  );
  t.false(existsSync(join(cwd, 'output/lab1/dist')));
  t.deepEqual(
    readdirSync(join(cwd, 'output/lab1')).filter((x) => x.startsWith('.dist')),
    [],
  );
});

test('gen verify: a fresh bundle is ok; a changed file, a widened key mode and an extra file are reported (exit 1)', (t) => {
  const cwd = tmp('kubeseed-verify-');
  t.is(runCli(['bundle', '--site', 'lab1', '--skip-payload'], { cwd }).code, 0);
  const dist = join(cwd, 'output/lab1/dist');
  const ok = runCli(['verify', dist, '--json'], { cwd });
  t.is(ok.code, 0, ok.stdout + ok.stderr);
  t.true((JSON.parse(ok.stdout) as { ok: boolean }).ok);
  writeFileSync(join(dist, 'nodes/k8s-02/meta-data'), 'instance-id: forged\n');
  execFileSync('chmod', ['0644', join(dist, 'admin/admin.kubeconfig')]);
  writeFileSync(join(dist, 'nodes/k8s-01/extra'), 'x');
  const bad = runCli(['verify', dist, '--json'], { cwd });
  t.is(bad.code, 1);
  const problems = (JSON.parse(bad.stdout) as { problems: string[] }).problems;
  t.true(problems.some((p) => p.startsWith('nodes/k8s-02/meta-data')));
  t.true(problems.includes('admin/admin.kubeconfig: mode 0644, must be 0600: it carries private keys or tokens'), problems.join('\n'));
  t.true(problems.includes('nodes/k8s-01/extra: not in the manifest'));
  t.is(runCli(['verify', cwd], { cwd }).code, 2, 'a directory without manifest.json is bad input');
  const sums = spawnSync('sh', [join(dist, 'verify.sh')], { encoding: 'utf8' });
  t.not(sums.status, 0, 'verify.sh catches the changed file too');
});
