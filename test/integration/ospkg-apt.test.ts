import test from 'ava';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parsePackages } from '../../generator/ospkg/control.js';
import { installedFromStatus, PackageIndex, resolveClosure } from '../../generator/ospkg/resolve.js';
import { compareVersions } from '../../generator/ospkg/version.js';
import { buildPlan } from '../../generator/plan/index.js';
import { fixtureCache, loadDefaultCatalog } from '../helpers.js';
import { siteFromLab1 } from '../sites.js';
import { aptSimulate } from '../apt-helper.js';

/**
 * apt is the reference resolver. The bare chroot (debootstrap minbase bookworm, built by
 * scripts/fixtures/build-chroot.sh) holds a Packages index and a dpkg status of the same day: our
 * closure for lab1's request, with the chroot's installed packages as the baseline, must equal
 * the `Inst` lines of `apt-get -s install` over the same index and status. The chroot is only
 * read: its index and status are copied into a temporary directory apt is pointed at.
 */
const chroot = join(fixtureCache, 'chroot-bookworm');
const listsDir = join(chroot, 'var', 'lib', 'apt', 'lists');

function work(t: { teardown(f: () => void): void }) {
  if (!existsSync(join(chroot, 'var', 'lib', 'dpkg', 'status'))) throw new Error(`${chroot} is missing: run bash scripts/fixtures/build-chroot.sh`);
  const index = readdirSync(listsDir).find((f) => f.endsWith('_main_binary-amd64_Packages'));
  if (!index) throw new Error(`${listsDir} holds no uncompressed main amd64 Packages index`);
  const dir = mkdtempSync(join(tmpdir(), 'kubeseed-apt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(dir, 'cache', 'archives', 'partial'), { recursive: true });
  for (const f of readdirSync(listsDir).filter((x) => x.startsWith(index.replace(/_main_binary-amd64_Packages$/, '_'))))
    copyFileSync(join(listsDir, f), join(dir, 'lists', f));
  copyFileSync(join(chroot, 'var', 'lib', 'dpkg', 'status'), join(dir, 'status'));
  // The list file's name says which source line it belongs to: deb.debian.org_debian_dists_bookworm_… → that URI and suite.
  const m = /^(.+)_dists_([^_]+)_main_binary-amd64_Packages$/.exec(index)!;
  writeFileSync(join(dir, 'sources.list'), `deb [trusted=yes arch=amd64] http://${m[1]!.replaceAll('_', '/')} ${m[2]} main\n`);
  return { dir, index: join(dir, 'lists', index) };
}

test("our closure of lab1's OS packages equals apt-get -s install over the bare chroot's index and dpkg status", async (t) => {
  t.timeout(180_000);
  const { dir, index } = work(t);
  const catalog = await loadDefaultCatalog();
  const request = buildPlan(siteFromLab1(catalog), catalog).osPackages.repos[0]!.packages;
  const installed = installedFromStatus(parsePackages(readFileSync(join(dir, 'status'), 'utf8')));
  const ours = resolveClosure(new PackageIndex([readFileSync(index)], 'amd64'), request, installed).map((p) => `${p.name} ${p.version}`);
  const apt = aptSimulate(dir, request);
  const onlyOurs = ours.filter((x) => !apt.includes(x));
  const onlyApt = apt.filter((x) => !ours.includes(x));
  t.deepEqual({ onlyOurs, onlyApt }, { onlyOurs: [], onlyApt: [] }, `request: ${request.join(' ')}`);
  t.true(apt.length > 20, `apt installs ${apt.length} packages`);
  t.log(`${ours.length} packages, identical to apt's Inst lines; ${installed.length} installed in the chroot`);
});

test('Debian version comparison agrees with dpkg --compare-versions on versions of the real index', (t) => {
  t.timeout(180_000);
  const { index } = work(t);
  const versions = [...new Set(parsePackages(readFileSync(index, 'latin1')).map((p) => p.version))].sort();
  // Every tilde and epoch version is interesting; the rest sampled evenly.
  const odd = versions.filter((v) => v.includes('~') || v.includes(':') || v.includes('+'));
  const picked = [...odd.filter((_, i) => i % Math.ceil(odd.length / 60) === 0), ...versions.filter((_, i) => i % Math.ceil(versions.length / 60) === 0)];
  const wrong: string[] = [];
  for (let i = 0; i + 1 < picked.length; i++) {
    const [a, b] = [picked[i]!, picked[(i * 7 + 3) % picked.length]!];
    const ours = compareVersions(a, b);
    const lt = dpkgSays(a, 'lt', b);
    const gt = dpkgSays(a, 'gt', b);
    const dpkg = lt ? -1 : gt ? 1 : 0;
    if (ours !== dpkg) wrong.push(`${a} vs ${b}: ours ${ours}, dpkg ${dpkg}`);
  }
  t.deepEqual(wrong, []);
  t.log(`${picked.length} pairs compared`);
});

function dpkgSays(a: string, op: string, b: string): boolean {
  try {
    execFileSync('dpkg', ['--compare-versions', a, op, b], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
