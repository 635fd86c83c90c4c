/**
 * First boot's OS-package install and preflight (issue #18), run for real in a copy of the Debian
 * minbase chroot (scripts/fixtures/build-chroot.sh) inside an empty network namespace: the node's
 * files and payload land where install.sh and a copied payload tarball put them, and
 * `/opt/kubeseed/firstboot --until preflight` runs up to the checks, never further.
 */
import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { realFs } from '../../generator/io/fs.js';
import { readTemplates } from '../../generator/io/templates.js';
import type { Catalog, PlannedOsPackages, RenderedFile, ResolvedSite } from '../../generator/model/index.js';
import { memFile, writeTarTo } from '../../generator/pack/files.js';
import { loadSite } from '../../generator/pipeline/load.js';
import { buildPlan, planOsPackages } from '../../generator/plan/index.js';
import { nodeFilesList, renderNode } from '../../generator/render/index.js';
import { createEngine, type TemplateSources } from '../../generator/text/template.js';
import type { StateFiles } from '../../generator/pki/issue.js';
import { fixtureCache, loadDefaultCatalog, repoRoot, testClock } from '../helpers.js';
import { makeState } from '../pki-fixture.js';

const CHROOT = join(fixtureCache, 'chroot-bookworm');
const DEBS = join(fixtureCache, 'ospkg-debs-bookworm');
const REPO = 'debian-12-amd64';
const WORKER = 'e2e-02';
const dir = mkdtempSync(join(tmpdir(), 'kubeseed-fbos-'));
const mounts: string[] = [];

let site: ResolvedSite;
let catalog: Catalog;
let defaults: Catalog;
let state: StateFiles;
let templates: TemplateSources;

test.before(async () => {
  execFileSync('bash', [join(repoRoot, 'scripts/fixtures/build-chroot.sh')], { stdio: 'ignore' });
  execFileSync('bash', [join(repoRoot, 'scripts/fixtures/build-ospkg-debs.sh')], { stdio: 'ignore' });
  // smoke2's worker: local apiserver proxy (nginx with its stream module) and IPVS.
  const loaded = await loadSite(realFs, { site: join(repoRoot, 'test/e2e/sites/smoke2.yaml'), cwd: repoRoot, root: repoRoot, clock: testClock });
  if (!loaded.resolved || !loaded.catalog) throw new Error(JSON.stringify(loaded.issues));
  site = loaded.resolved;
  catalog = loaded.catalog;
  state = (await makeState(site, join(dir, 'state'))).files;
  templates = await readTemplates(join(repoRoot, 'blueprints', 'templates'));
  defaults = await loadDefaultCatalog();
});
test.after.always(() => {
  for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
  rmSync(dir, { recursive: true, force: true });
});

/**
 * The worker's OS-package request as the planner makes it from the default catalog's needs table
 * (the e2e catalog smoke2 uses carries Kubernetes 1.20.2 but no ospkg.yaml).
 */
function plannedOsPackages(): PlannedOsPackages {
  const withArchive = { ...site, artifacts: { ...site.artifacts, sources: { ...site.artifacts.sources, ...defaults.sources } } };
  return planOsPackages(withArchive, defaults.osPackages);
}

/** smoke2's worker as the generator renders it, with the given OS-package plan. */
function renderWorker(osPackages: PlannedOsPackages): RenderedFile[] {
  const plan = { ...buildPlan(site, catalog), osPackages };
  return renderNode({ site, node: site.nodes.find((n) => n.name === WORKER)!, plan, state, engine: createEngine(templates) });
}

/** A payload directory as a tarball at /root/kubeseed-payload.tar, with SHA256SUMS over every file. */
function payloadTar(root: string, files: Record<string, string>): void {
  const stage = join(dir, `payload-${Math.random().toString(36).slice(2)}`);
  const sums: string[] = [];
  for (const [path, source] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    mkdirSync(dirname(join(stage, path)), { recursive: true });
    copyFileSync(source, join(stage, path));
    sums.push(`${createHash('sha256').update(readFileSync(source)).digest('hex')}  ${path}`);
  }
  writeFileSync(join(stage, 'SHA256SUMS'), `${sums.join('\n')}\n`);
  execFileSync('tar', ['-cf', join(root, 'root', 'kubeseed-payload.tar'), '-C', stage, '.']);
}

/** A fresh copy of the chroot holding what install.sh lays down: the node's archive, its checksum list, first boot. */
async function nodeRoot(name: string, files: RenderedFile[]): Promise<string> {
  const root = join(dir, name);
  execFileSync('cp', ['-a', CHROOT, root]);
  // first boot also logs to /dev/console: not the host's.
  rmSync(join(root, 'dev', 'console'), { force: true });
  mkdirSync(join(root, 'etc', 'kubeseed'), { recursive: true });
  writeFileSync(join(root, 'etc', 'kubeseed', 'node-files.sha256'), nodeFilesList(files));
  await writeTarTo(
    join(root, 'root', 'node-files.tar.gz'),
    files.map((f) => memFile(f.path.slice(1), f.content, parseInt(f.mode, 8))),
    0,
    true,
  );
  const fb = files.find((f) => f.path === '/opt/kubeseed/firstboot')!;
  mkdirSync(join(root, 'opt', 'kubeseed'), { recursive: true });
  writeFileSync(join(root, 'opt', 'kubeseed', 'firstboot'), fb.content);
  chmodSync(join(root, 'opt', 'kubeseed', 'firstboot'), 0o755);
  execFileSync('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
  mounts.push(join(root, 'proc'));
  return root;
}

/** Runs first boot up to a step in an empty network namespace: no apt source could answer. */
function firstboot(root: string, until: string) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('unshare', ['--net', 'chroot', root, '/opt/kubeseed/firstboot', '--until', until], {
    encoding: 'utf8',
    env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' },
    timeout: 600_000,
  });
  return { code: r.status, out: r.stdout + r.stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

const status = (root: string) =>
  JSON.parse(readFileSync(join(root, 'var', 'lib', 'kubeseed', 'status.json'), 'utf8')) as {
    state: string;
    step: string;
    detail: string;
    osPackages: string[];
  };

test('a host without nginx, conntrack or ipset and a payload without its packages: preflight stops first boot within seconds, naming each package', async (t) => {
  const root = await nodeRoot('bare', renderWorker(plannedOsPackages()));
  payloadTar(root, { README: join(repoRoot, 'README.md') });
  const r = firstboot(root, 'preflight');
  t.not(r.code, 0, r.out);
  t.true(r.seconds < 30, `${r.seconds} s`);
  const s = status(root);
  t.is(s.state, 'failed');
  t.is(s.step, '4-preflight');
  for (const [what, pkg] of [
    ['file /usr/sbin/nginx', 'nginx-light'],
    ['file /usr/lib/nginx/modules/ngx_stream_module.so', 'libnginx-mod-stream'],
    ['command conntrack', 'conntrack'],
    ['command ipset', 'ipset'],
    ['command iptables', 'iptables'],
  ]) {
    t.true(r.out.includes(`preflight: missing ${what} (package ${pkg};`), `${what}:\n${r.out}`);
    t.true(s.detail.includes(`${what} (package ${pkg};`), s.detail);
  }
  t.regex(s.detail, /install: .*nginx-light .*libnginx-mod-stream/);
  // Nothing after the preflight ran: no kernel setting was changed, no service unit started.
  t.false(existsSync(join(root, 'var/lib/kubeseed/steps/5-prepare-os.start')));
  t.log(`preflight failed after ${r.seconds.toFixed(1)} s: ${s.detail.slice(0, 300)}`);
});

test("first boot installs the node's packages from the payload's flat repository, offline, and records them; a rerun installs nothing", async (t) => {
  t.timeout(600_000);
  const planned = plannedOsPackages();
  const request = planned.nodes[WORKER]!;
  t.is(request.repo, REPO);
  const wanted = request.packages;
  const files = renderWorker(planned);
  const root = await nodeRoot('stock', files);
  // Every node runs systemd: install it as a stock image has it (twice: the first pass configures what systemd pre-depends on).
  execFileSync('cp', ['-r', join(DEBS, 'base'), join(root, 'tmp', 'base')]);
  execFileSync('chroot', [root, 'sh', '-c', 'dpkg -i /tmp/base/*.deb; dpkg -i /tmp/base/systemd_*.deb && rm -r /tmp/base'], { stdio: 'ignore' });
  // The payload's repository: every .deb under its pool name and a Packages index beside them.
  const debs = readdirSync(DEBS).filter((f) => f.endsWith('.deb'));
  const repoDir = join(dir, 'repo');
  mkdirSync(repoDir, { recursive: true });
  for (const f of debs) copyFileSync(join(DEBS, f), join(repoDir, f));
  writeFileSync(
    join(repoDir, 'Packages'),
    execFileSync('dpkg-scanpackages', ['--multiversion', '.', '/dev/null'], { cwd: repoDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  );
  payloadTar(root, Object.fromEntries([...debs, 'Packages'].map((f) => [`ospkg/${REPO}/${f}`, join(repoDir, f)])));
  const sources = readFileSync(join(root, 'etc/apt/sources.list'), 'utf8');
  const lists = readdirSync(join(root, 'var/lib/apt/lists')).sort();
  const archives = readdirSync(join(root, 'var/cache/apt/archives')).sort();

  const install = firstboot(root, 'install-os-packages');
  t.is(install.code, 0, install.out);
  const s = status(root);
  for (const p of ['conntrack', 'ipset', 'nginx-light', 'libnginx-mod-stream', 'iptables'])
    t.true(
      s.osPackages.some((x) => x.startsWith(`${p}=`)),
      `${p} in ${s.osPackages.join(' ')}`,
    );
  const installed = execFileSync('chroot', [root, 'dpkg-query', '-W', '-f', '${db:Status-Abbrev}${Package}\n', ...wanted], { encoding: 'utf8' });
  t.is(installed.split('\n').filter((l) => l.startsWith('ii')).length, wanted.length, installed);
  // The node's apt configuration and state are as they were; no daemon was started or left enabled by the install.
  t.is(readFileSync(join(root, 'etc/apt/sources.list'), 'utf8'), sources);
  t.deepEqual(readdirSync(join(root, 'var/lib/apt/lists')).sort(), lists);
  t.deepEqual(readdirSync(join(root, 'var/cache/apt/archives')).sort(), archives);
  t.false(existsSync(join(root, 'usr/sbin/policy-rc.d')));
  t.false(existsSync(join(root, 'etc/systemd/system/multi-user.target.wants/nginx.service')), 'nginx.service left enabled');

  // A kernel with the node's modules built in (this host has no modules of its own), then the checks.
  const release = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  mkdirSync(join(root, 'lib/modules', release), { recursive: true });
  writeFileSync(
    join(root, 'lib/modules', release, 'modules.builtin'),
    [
      'kernel/net/bridge/br_netfilter.ko',
      'kernel/fs/overlayfs/overlay.ko',
      'kernel/net/netfilter/nf_conntrack.ko',
      ...['ip_vs', 'ip_vs_rr', 'ip_vs_wrr', 'ip_vs_sh'].map((m) => `kernel/net/netfilter/ipvs/${m}.ko`),
    ].join('\n') + '\n',
  );
  execFileSync('chroot', [root, 'depmod', release], { stdio: 'ignore' });
  const check = firstboot(root, 'preflight');
  t.is(check.code, 0, check.out);
  t.regex(check.out, /preflight: \d+ checks passed/);
  t.is(status(root).state, 'stopped');

  // Run the install step again (its marker removed, as after a failure): everything is already there.
  const dpkgLog = readFileSync(join(root, 'var/log/dpkg.log'), 'utf8');
  rmSync(join(root, 'var/lib/kubeseed/steps/3-install-os-packages.done'));
  const again = firstboot(root, 'install-os-packages');
  t.is(again.code, 0, again.out);
  t.regex(again.out, new RegExp(`OS packages: all ${wanted.length} already installed`));
  t.is(readFileSync(join(root, 'var/log/dpkg.log'), 'utf8'), dpkgLog);
  t.deepEqual(status(root).osPackages, s.osPackages);
});

test('a payload file that SHA256SUMS does not list is refused before apt sees the repository', async (t) => {
  const files = renderWorker({ repos: [], nodes: { [WORKER]: { repo: REPO, packages: ['conntrack'] } } });
  const root = await nodeRoot('unlisted', files);
  const repoDir = join(dir, 'repo-unlisted');
  mkdirSync(repoDir, { recursive: true });
  const deb = readdirSync(DEBS).find((f) => f.startsWith('conntrack_'))!;
  copyFileSync(join(DEBS, deb), join(repoDir, deb));
  writeFileSync(
    join(repoDir, 'Packages'),
    execFileSync('dpkg-scanpackages', ['--multiversion', '.', '/dev/null'], { cwd: repoDir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  );
  payloadTar(root, { [`ospkg/${REPO}/Packages`]: join(repoDir, 'Packages') });
  // Slipped into the tarball after SHA256SUMS was written.
  execFileSync('tar', ['-rf', join(root, 'root', 'kubeseed-payload.tar'), '--transform', `s|^|./ospkg/${REPO}/|`, '-C', repoDir, deb]);
  const r = firstboot(root, 'install-os-packages');
  t.not(r.code, 0, r.out);
  t.regex(status(root).detail, new RegExp(`payload files not listed in SHA256SUMS: ospkg/${REPO}/${deb.replace(/[.+]/g, '\\$&')}`));
  t.false(existsSync(join(root, 'usr/sbin/conntrack')));
});
