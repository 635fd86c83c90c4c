import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LATEST_ARCHIVE_TIME } from '../../generator/pack/epoch.js';
import { memFile, writeTarTo } from '../../generator/pack/files.js';
import { fetchFixture, serveArtifacts } from '../fetch-fixture.js';
import { cliPath, exitAndOutput, repoRoot, runCli } from '../helpers.js';
import { BILLION_LAUGHS } from '../hostile-fixtures.js';
import { UpstreamServer } from '../upstream-server.js';

/**
 * Input an operator (or an attacker) can hand the CLI that used to hang it, crash it with a stack
 * trace, or pass silently: each case is run through the real CLI, with its exit code and the first
 * line it prints asserted.
 */

const firstLine = (text: string) => text.split('\n')[0]!;

function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `kubeseed-${prefix}-`));
}

function expectRefusal(t: import('ava').ExecutionContext, r: { code: number | null; stderr: string }, code: number, line: string | RegExp): void {
  t.is(r.code, code, r.stderr);
  if (typeof line === 'string') t.is(firstLine(r.stderr), line);
  else t.regex(firstLine(r.stderr), line);
  t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
}

test('--site naming a directory, a device or a FIFO: exit 2 with one line, never read', (t) => {
  const dir = tmp('special');
  try {
    expectRefusal(t, runCli(['validate', '--site', dir]), 2, `gen validate: ${dir} is a directory, not a regular file`);
    expectRefusal(t, runCli(['validate', '--site', '/dev/zero']), 2, 'gen validate: /dev/zero is a character device, not a regular file');
    expectRefusal(t, runCli(['plan', '--site', '/dev/urandom']), 2, 'gen plan: /dev/urandom is a character device, not a regular file');
    const fifo = join(dir, 'site.yaml');
    t.is(spawnSync('mkfifo', [fifo]).status, 0);
    // Nobody writes to the FIFO: a CLI that opened it would wait until the timeout kills it.
    const r = spawnSync(process.execPath, [cliPath, 'validate', '--site', fifo], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
    expectRefusal(t, { code: r.status, stderr: r.stderr }, 2, `gen validate: ${fifo} is a named pipe (FIFO), not a regular file`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a catalog with a billion-laughs index: exit 2, the alias named with its line', (t) => {
  const dir = tmp('laughs');
  try {
    mkdirSync(join(dir, 'cat'));
    writeFileSync(join(dir, 'cat', 'catalog.yaml'), `${BILLION_LAUGHS}\n`);
    const r = runCli(['validate', '--site', 'lab1', '--catalog', 'cat'], { cwd: dir });
    expectRefusal(
      t,
      r,
      2,
      'cat/catalog.yaml:2:8  error  aliases expand past the limit of 100  (write the values out; a blueprint needs no anchors or aliases)  [yaml-aliases]',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('command line: negative, exponent and out-of-range numbers, repeated and conflicting options: exit 2, one line', (t) => {
  expectRefusal(t, runCli(['fetch', '--parallel', '-5']), 2, 'gen fetch: --parallel "-5": expected a whole number from 1 to 64');
  expectRefusal(t, runCli(['bundle', '--skip-payload', '--parallel', '1e3']), 2, 'gen bundle: --parallel "1e3": expected a whole number from 1 to 64');
  expectRefusal(t, runCli(['fetch', '--timeout', '99999999']), 2, 'gen fetch: --timeout "99999999": expected a whole number from 1 to 86400');
  expectRefusal(t, runCli(['fetch', '--retries', '-1']), 2, 'gen fetch: --retries "-1": expected a whole number from 0 to 100');
  expectRefusal(
    t,
    runCli(['validate', '--site', 'lab1', '--site', 'lab1-rocky']),
    2,
    'gen validate: --site is given 2 times ("lab1", "lab1-rocky"); give it once',
  );
  expectRefusal(
    t,
    runCli(['bundle', '--skip-payload', '--artifacts', '/tmp']),
    2,
    'gen bundle: --skip-payload and --artifacts cannot be used together: --skip-payload writes no payload, --artifacts names where to take it from: choose one',
  );
  expectRefusal(
    t,
    runCli(['bundle', '--artifacts', '/tmp', '--offline']),
    2,
    'gen bundle: --artifacts and --offline cannot be used together: --artifacts takes the payload from a directory instead of fetching, so fetch options do not apply',
  );
  expectRefusal(
    t,
    runCli(['fetch', '--offline', '--update-lock']),
    2,
    'gen fetch: --offline and --update-lock cannot be used together: --update-lock asks upstream for current checksums, which --offline does not reach',
  );
});

test('SOURCE_DATE_EPOCH that is not a plain integer, or later than the archives hold: exit 2 before anything is written', (t) => {
  const out = tmp('epoch');
  try {
    for (const [value, line] of [
      ['1e3', 'gen bundle: SOURCE_DATE_EPOCH=1e3 is not a whole number of seconds'],
      ['-1', 'gen bundle: SOURCE_DATE_EPOCH=-1 is not a whole number of seconds'],
      [String(LATEST_ARCHIVE_TIME + 1), `gen bundle: SOURCE_DATE_EPOCH=${LATEST_ARCHIVE_TIME + 1} is later than the archives can record`],
    ] as const) {
      expectRefusal(t, runCli(['bundle', '--skip-payload', '--out', out], { env: { SOURCE_DATE_EPOCH: value } }), 2, line);
    }
    t.deepEqual(readdirSync(out), [], 'no state, no dist');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('GNU tar reads mtimes past 2038 and up to the last second we allow', async (t) => {
  const dir = tmp('tar-time');
  try {
    for (const [mtime, shown] of [
      [2 ** 31, '2038-01-19 03:14:08'],
      [2 ** 32, '2106-02-07 06:28:16'],
      [LATEST_ARCHIVE_TIME, '2155-12-31 23:59:59'],
    ] as const) {
      const file = join(dir, `${mtime}.tar`);
      await writeTarTo(file, [memFile('etc/hello', 'hi\n', 0o600)], mtime, false);
      const r = spawnSync('tar', ['--full-time', '-tvf', file], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
      t.is(r.status, 0, r.stderr);
      t.regex(r.stdout, new RegExp(`^-rw------- root/root +3 ${shown} etc/hello$`, 'm'));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs the CLI with `dir` replaced by a fresh tmpfs (own mount namespace, own user namespace: no root needed). */
function onTmpfs(dir: string, mountOptions: string, args: string[]) {
  const r = spawnSync(
    'unshare',
    ['-r', '-m', 'sh', '-c', 'mount -t tmpfs -o "$1" kubeseed-test "$2" && shift 2 && exec "$@"', 'sh', mountOptions, dir, process.execPath, cliPath, ...args],
    {
      encoding: 'utf8',
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** lab1 with ECDSA keys: the PKI costs milliseconds instead of seconds of RSA key generation. */
function ecdsaSite(dir: string): string {
  const file = join(dir, 'lab1.yaml');
  writeFileSync(file, readFileSync(join(repoRoot, 'blueprints', 'sites', 'lab1.yaml'), 'utf8').replace('keyAlgorithm: rsa-2048', 'keyAlgorithm: ecdsa-p256'));
  return file;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('a read-only or full output file system: exit 1, one line naming the path (EROFS, ENOSPC)', (t) => {
  const dir = tmp('fs');
  const site = ecdsaSite(tmp('fs-site'));
  try {
    expectRefusal(
      t,
      onTmpfs(dir, 'ro', ['certs', '--site', site, '--out', dir]),
      1,
      new RegExp(`^gen certs: [a-z]+ ${escape(dir)}/\\S+: read-only file system \\(EROFS\\)$`),
    );
    // Four pages: the state's first few keys fit, the rest do not.
    expectRefusal(
      t,
      onTmpfs(dir, 'size=16k', ['certs', '--site', site, '--out', dir]),
      1,
      new RegExp(`^gen certs: [a-z]+ ${escape(dir)}/\\S+: no space left on device \\(ENOSPC\\)$`),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(dirname(site), { recursive: true, force: true });
  }
});

test('an output directory the user may not write: exit 1, one line naming the path (EACCES)', (t) => {
  const dir = tmp('eacces');
  try {
    chmodSync(dir, 0o755);
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    // root writes anywhere: as root, the CLI runs as nobody (65534) to meet the permission check.
    const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const r = spawnSync(process.execPath, [cliPath, 'certs', '--site', ecdsaSite(dir), '--out', locked], {
      encoding: 'utf8',
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1' },
      ...asUser,
    });
    expectRefusal(t, { code: r.status, stderr: r.stderr }, 1, new RegExp(`^gen certs: mkdir ${escape(locked)}/\\S+: permission denied \\(EACCES\\)$`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a catalog whose sources are file://, gopher://, a metadata address or carry a password, or whose path has an unknown placeholder: exit 2, the password never printed', (t) => {
  const dir = tmp('catalog');
  try {
    cpSync(join(repoRoot, 'blueprints', 'catalog'), join(dir, 'cat'), { recursive: true });
    const index = join(dir, 'cat', 'catalog.yaml');
    const text = readFileSync(index, 'utf8')
      .replace('kubernetes: https://dl.k8s.io', 'kubernetes: http://build:hunter2@mirror.local/k8s')
      .replace('etcd: https://github.com/etcd-io/etcd/releases/download', 'etcd: file:///etc')
      .replace('containerd: https://github.com/containerd/containerd/releases/download', 'containerd: gopher://mirror.local/')
      .replace('runc: https://github.com/opencontainers/runc/releases/download', 'runc: http://169.254.169.254/latest/meta-data/')
      .replace('path: "release/{version}/bin/linux/{arch}/kube-apiserver"', 'path: "release/{version}/bin/linux/{arhc}/kube-apiserver"');
    writeFileSync(index, text);
    const r = runCli(['validate', '--site', 'lab1', '--catalog', 'cat', '--json'], { cwd: dir });
    t.is(r.code, 2, r.stderr);
    const issues = (JSON.parse(r.stdout) as { issues: { path: string; rule: string; line?: number }[] }).issues;
    t.deepEqual(issues.map((i) => `${i.rule} ${i.path}`).sort(), [
      'catalog-source-url sources.containerd',
      'catalog-source-url sources.etcd',
      'catalog-source-url sources.kubernetes',
      'catalog-source-url sources.runc',
      'catalog-template components.kube-apiserver.path',
    ]);
    t.true(issues.every((i) => typeof i.line === 'number'));
    const human = runCli(['plan', '--site', 'lab1', '--catalog', 'cat'], { cwd: dir });
    expectRefusal(
      t,
      human,
      2,
      /^cat\/catalog\.yaml:\d+:\d+ {2}error {2}sources\.kubernetes: http:\/\/\*\*\*:\*\*\*@mirror\.local\/k8s carries credentials {2}\(remove user:password@ from the URL; registry credentials go in the auth file/,
    );
    t.false(`${r.stdout}${r.stderr}${human.stdout}${human.stderr}`.includes('hunter2'), 'the password is never printed');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** onTmpfs without blocking this process: the upstream server of the next test lives in it. */
async function onTmpfsAsync(dir: string, mountOptions: string, args: string[], env: Record<string, string>) {
  const child = spawn(
    'unshare',
    ['-r', '-m', 'sh', '-c', 'mount -t tmpfs -o "$1" kubeseed-test "$2" && shift 2 && exec "$@"', 'sh', mountOptions, dir, process.execPath, cliPath, ...args],
    { cwd: repoRoot, env: { ...process.env, NO_COLOR: '1', ...env } },
  );
  return exitAndOutput(child);
}

test('gen fetch into a full cache: exit 1 at once, one line naming the partial file (ENOSPC), not a retried "network" error', async (t) => {
  const dir = tmp('fetch-full');
  const up = await new UpstreamServer().start();
  try {
    const fx = await fetchFixture(dir, up.base);
    serveArtifacts(up, fx.plan, () => 300_000);
    const cache = join(dir, 'cache');
    mkdirSync(cache);
    // 256 KiB of tmpfs: the first download that crosses it fails.
    const r = await onTmpfsAsync(cache, 'size=256k', ['fetch', '--site', fx.siteFile, '--catalog', fx.catalogDir, '--cache', cache, '--parallel', '1'], {
      HOME: dir,
    });
    expectRefusal(t, r, 1, new RegExp(`^gen fetch: [a-z]+ ${escape(cache)}/\\S+: no space left on device \\(ENOSPC\\)$`));
    t.notRegex(r.stderr, /retry/i, 'a full disk is not retried');
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a public time server: gen bundle stops at validation (exit 2, the field named), before any state is written', (t) => {
  const out = tmp('egress');
  try {
    const site = join(repoRoot, 'test', 'fixtures', 'sites', 'invalid', '52-public-ntp-server.yaml');
    const r = runCli(['bundle', '--skip-payload', '--site', site, '--out', out], { cwd: out });
    expectRefusal(
      t,
      r,
      2,
      /52-public-ntp-server\.yaml:\d+:\d+ {2}error {2}spec\.os\.ntpServers\[0\]: 0\.debian\.pool\.ntp\.org is on the public internet, which the nodes of an air-gapped site cannot reach/,
    );
    t.deepEqual(readdirSync(out), [], 'no state, no dist');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('--lock, --registry-auth and --artifacts naming a device, a FIFO or a path outside: exit 2, one line, never read', (t) => {
  const dir = tmp('other-files');
  try {
    const fifo = join(dir, 'fifo');
    t.is(spawnSync('mkfifo', [fifo]).status, 0);
    const cache = join(dir, 'cache');
    expectRefusal(t, runCli(['fetch', '--offline', '--lock', '/dev/zero', '--cache', cache]), 2, 'gen fetch: lock file /dev/zero is not a regular file');
    expectRefusal(t, runCli(['fetch', '--offline', '--registry-auth', fifo, '--cache', cache]), 2, `gen fetch: ${fifo} is not a regular file`);
    const art = join(dir, 'art');
    mkdirSync(art);
    t.is(spawnSync('mkfifo', [join(art, 'SHA256SUMS')]).status, 0);
    const out = join(dir, 'out');
    const sums = runCli(['bundle', '--artifacts', art, '--out', out]);
    expectRefusal(
      t,
      {
        code: sums.code,
        stderr: sums.stderr
          .split('\n')
          .filter((l) => !l.startsWith('['))
          .join('\n'),
      },
      2,
      `gen bundle: ${art}/SHA256SUMS is not a regular file`,
    );
    rmSync(join(art, 'SHA256SUMS'));
    writeFileSync(join(art, 'SHA256SUMS'), `${'0'.repeat(64)}  ../../etc/hostname\n`);
    const outside = runCli(['bundle', '--artifacts', art, '--out', out]);
    expectRefusal(
      t,
      {
        code: outside.code,
        stderr: outside.stderr
          .split('\n')
          .filter((l) => !l.startsWith('['))
          .join('\n'),
      },
      2,
      `gen bundle: ${art}/SHA256SUMS lists "../../etc/hostname", which is not a file name of that directory`,
    );
    t.false(existsSync(join(out, 'lab1', 'state')), 'refused before the PKI');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
