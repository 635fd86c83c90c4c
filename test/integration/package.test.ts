import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers.js';

/**
 * The package as a user installs it (issue #24): `npm pack` of the tree the tests run from, the
 * tarball installed into a private prefix, then `gen` run from an empty directory, far from the
 * checkout. The dependencies' tarballs come from npm's cache (`npm ci` filled it); an install
 * without a lock still asks the npm registry for their metadata (`--offline` fails with
 * ENOTCACHED, shrinkwrap or not), the one request this test makes beyond loopback.
 */
function sh(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, timeout: 240_000 });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

test('the packed tarball installs into a fresh prefix and gen validates, plans and bundles lab1 from an empty directory', (t) => {
  t.timeout(480_000);
  const tmp = mkdtempSync(join(tmpdir(), 'kubeseed-pack-'));
  try {
    // --ignore-scripts: dist/ is already built (the tests run from it); rebuilding it under running tests would race.
    const pack = sh('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', tmp], repoRoot);
    t.is(pack.code, 0, pack.out);
    const tarball = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
    t.truthy(tarball, pack.out);
    const prefix = join(tmp, 'prefix');
    const install = sh('npm', ['install', '--global', '--prefer-offline', '--no-audit', '--no-fund', '--prefix', prefix, join(tmp, tarball!)], tmp);
    t.is(install.code, 0, install.out);
    const gen = join(prefix, 'bin', 'gen');
    t.true(existsSync(gen), 'npm put gen in <prefix>/bin');

    const work = join(tmp, 'empty');
    mkdirSync(work);
    const version = sh(gen, ['--version'], work);
    t.is(version.code, 0, version.out);
    t.regex(version.out, /^gen \d+\.\d+\.\d+/);
    t.regex(version.out, /catalog: .*v1\.20\.2/);
    t.notRegex(version.out, /commit:/, 'an installed package is no checkout');

    const validate = sh(gen, ['validate', '--site', 'lab1'], work);
    t.is(validate.code, 0, validate.out);
    const plan = sh(gen, ['plan', '--site', 'lab1', '--json'], work);
    t.is(plan.code, 0, plan.out);
    t.is((JSON.parse(plan.out) as { site: string }).site, 'lab1');
    const bundle = sh(gen, ['bundle', '--site', 'lab1', '--skip-payload'], work, { SOURCE_DATE_EPOCH: '1700000000' });
    t.is(bundle.code, 0, bundle.out);
    const dist = join(work, 'output', 'lab1', 'dist');
    t.true(existsSync(join(dist, 'manifest.json')), 'the bundle lands in ./output/<site>/dist');
    const verify = sh(gen, ['verify', dist], work);
    t.is(verify.code, 0, verify.out);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
