import test from 'ava';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobCache } from '../../generator/fetch/cache.js';
import { readLock } from '../../generator/fetch/lock.js';
import { FailureError } from '../../generator/model/index.js';
import { fetchSite, type FetchOptions } from '../../generator/pipeline/fetch.js';
import { buildDebRepo, clearsign, debFilename, fakeDeb, throwawayKey } from '../debrepo-fixture.js';
import { fetchFixture, fetchOptions, replaceDebRepo, serveArtifacts, sha256 } from '../fetch-fixture.js';
import { runCliAsync } from '../helpers.js';
import { flatPackagesIndex } from '../../generator/ospkg/payload.js';
import { UpstreamServer } from '../upstream-server.js';

function tmp(t: { teardown(f: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'kubeseed-ospkg-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const options = (dir: string, over: Partial<FetchOptions> = {}): FetchOptions => fetchOptions(dir, { timeoutMs: 2000, retries: 2, backoffMs: 5 }, over);

async function setup(t: { teardown(f: () => void | Promise<void>): void }) {
  const dir = tmp(t);
  const up = await new UpstreamServer().start();
  t.teardown(() => up.stop());
  const fx = await fetchFixture(dir, up.base, { osPackages: true });
  serveArtifacts(up, fx.plan, () => 5_000);
  return { dir, up, fx, repoPath: (p: string) => `/debian/${p}` };
}

/** What the closure of lab1's request is in the fixture's repository (its baseline left out). */
const LAB1_CLOSURE = [
  'chrony',
  'conntrack',
  'ebtables',
  'ethtool',
  'iptables',
  'kmod',
  'libnetfilter-conntrack3',
  'libnginx-mod-stream',
  'libxtables12',
  'nftables',
  'nginx',
  'nginx-common',
  'nginx-light',
  'procps',
  'socat',
];

test('the closure of lab1 comes from the signed loopback index: every .deb verified into the cache and recorded in the lock', async (t) => {
  const { dir, fx } = await setup(t);
  const out = await fetchSite(fx.site, fx.plan, options(dir));
  t.is(out.osRepos.length, 1);
  const repo = out.osRepos[0]!;
  t.is(repo.id, 'debian-12-amd64');
  t.deepEqual(
    repo.debs.map((d) => d.name),
    LAB1_CLOSURE,
  );
  for (const d of repo.debs) {
    const pkg = fx.debRepo!.packages.find((p) => p.name === d.name)!;
    t.is(d.sha256, sha256(fakeDeb(pkg)), d.name);
    t.true(readFileSync(out.cache.blobPath(d.sha256)).equals(fakeDeb(pkg)), `${d.name} in the cache`);
    t.is(d.filename, debFilename(pkg).split('/').pop()!);
    t.regex(d.stanza, new RegExp(`^Package: ${d.name}\\n`));
  }
  const lock = (await readLock(join(dir, 'lab1.lock.json')))!;
  const entry = lock.osPackages!['debian-12-amd64']!;
  t.deepEqual(Object.keys(entry.debs).sort(), LAB1_CLOSURE);
  t.like(entry.debs['conntrack'], {
    version: '1:1.4.7-1+b2',
    arch: 'amd64',
    url: `${fx.plan.osPackages.repos[0]!.mirror}/pool/main/c/conntrack/conntrack_1.4.7-1+b2_amd64.deb`,
  });
  t.is(entry.indexes['main/binary-amd64/Packages.gz']!.sha256, sha256(fx.debRepo!.files.get(fx.debRepo!.indexPath)!));
  t.is(entry.release.sha256, sha256(fx.debRepo!.files.get(fx.debRepo!.inReleasePath)!));
});

test('a warm gen fetch over the cached index sends no request; --offline lists the missing .debs by name', async (t) => {
  const { dir, up, fx } = await setup(t);
  const args = ['fetch', '--site', fx.siteFile, '--catalog', fx.catalogDir, '--cache', join(dir, 'cache')];
  const first = await runCliAsync(args, { env: { HOME: dir } });
  t.is(first.code, 0, first.stderr);
  t.true(up.log.some((l) => l.path.endsWith('/InRelease')));
  const requests = up.log.length;
  const second = await runCliAsync(args, { env: { HOME: dir } });
  t.is(second.code, 0, second.stderr);
  t.is(up.log.length, requests, 'no request at all');
  t.regex(second.stdout, /\(unchanged\)/);

  // The index stays, two .debs go: offline names exactly those.
  const lock = (await readLock(join(dir, 'lab1.lock.json')))!;
  const cache = new BlobCache(join(dir, 'cache'));
  for (const name of ['socat', 'nginx']) await cache.evict(lock.osPackages!['debian-12-amd64']!.debs[name]!.sha256);
  const offline = await runCliAsync([...args, '--offline'], { env: { HOME: dir } });
  t.is(offline.code, 1);
  t.regex(offline.stderr, /offline: 2 item\(s\) missing/);
  t.regex(offline.stderr, /debian-12-amd64\/nginx_1\.22\.1-9\+deb12u9_amd64\.deb/);
  t.regex(offline.stderr, /debian-12-amd64\/socat_1\.0-1_amd64\.deb/);
  t.is(up.log.length, requests, 'offline touched no network');

  // Without the index, offline names the index.
  const empty = await runCliAsync([...args.slice(0, -1), join(dir, 'empty'), '--offline'], { env: { HOME: dir } });
  t.is(empty.code, 1);
  t.regex(empty.stderr, /debian-12-amd64: package index http:\/\/127\.0\.0\.1:\d+\/debian\/dists\/bookworm\/InRelease/);
});

test('an InRelease signed by another key, or altered after signing, is refused naming the file; nothing of it is cached', async (t) => {
  const { dir, up, fx, repoPath } = await setup(t);
  const inRelease = repoPath(fx.debRepo!.inReleasePath);
  const original = fx.debRepo!.files.get(fx.debRepo!.inReleasePath)!.toString();
  const body = /-----BEGIN PGP SIGNED MESSAGE-----\nHash: \w+\n\n([\s\S]*?)\n-----BEGIN PGP SIGNATURE-----/.exec(original)![1]!;
  up.files.set(inRelease, Buffer.from(await clearsign(body, await throwawayKey('someone else'))));
  const e1 = await fetchSite(fx.site, fx.plan, options(dir)).then(
    () => null,
    (e: Error) => e,
  );
  t.true(e1 instanceof FailureError, String(e1));
  t.regex(e1!.message, /debian-12-amd64: .*\/debian\/dists\/bookworm\/InRelease: no signature by the archive keys/);

  up.files.set(inRelease, Buffer.from(original.replace('Codename: bookworm', 'Codename: bookwerm')));
  const e2 = await fetchSite(fx.site, fx.plan, options(dir)).then(
    () => null,
    (e: Error) => e,
  );
  t.regex(e2!.message, /debian-12-amd64: .*\/dists\/bookworm\/InRelease: bad signature/);
  t.false(existsSync(join(dir, 'lab1.lock.json')), 'no lock written');
  t.false(existsSync(join(dir, 'cache', 'blobs', 'sha256', sha256(fx.debRepo!.files.get(fx.debRepo!.indexPath)!))), 'no index cached');
});

test('an InRelease past its Valid-Until is refused (a frozen or replayed mirror)', async (t) => {
  const { dir, up, fx, repoPath } = await setup(t);
  const stale = await buildDebRepo({
    suite: 'bookworm',
    packages: fx.debRepo!.packages,
    key: fx.debRepo!.key,
    releaseFields: ['Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC'],
  });
  up.files.set(repoPath(stale.inReleasePath), stale.files.get(stale.inReleasePath)!);
  const e = await fetchSite(fx.site, fx.plan, options(dir)).then(
    () => null,
    (x: Error) => x,
  );
  t.true(e instanceof FailureError, String(e));
  t.regex(e!.message, /debian-12-amd64: .*\/dists\/bookworm\/InRelease expired on Sat, 01 Jan 2000/);
});

test('a Packages.gz that is not the one InRelease lists is refused naming it', async (t) => {
  const { dir, up, fx, repoPath } = await setup(t);
  const other = await buildDebRepo({ suite: 'bookworm', packages: fx.debRepo!.packages.filter((p) => p.name !== 'socat'), key: fx.debRepo!.key });
  up.files.set(repoPath(fx.debRepo!.indexPath), other.files.get(other.indexPath)!);
  const e = await fetchSite(fx.site, fx.plan, options(dir)).then(
    () => null,
    (x: Error) => x,
  );
  t.true(e instanceof FailureError, String(e));
  t.regex(e!.message, /checksum mismatch: .*\/debian\/dists\/bookworm\/main\/binary-amd64\/Packages\.gz has/);
  t.false(existsSync(join(dir, 'lab1.lock.json')));
});

test('a tampered .deb is refused naming the file, and never enters the cache', async (t) => {
  const { dir, up, fx, repoPath } = await setup(t);
  const socat = fx.debRepo!.packages.find((p) => p.name === 'socat')!;
  const good = fakeDeb(socat);
  const bad = Buffer.from(good);
  bad.writeUInt8(bad.readUInt8(100) ^ 0xff, 100);
  up.files.set(repoPath(debFilename(socat)), bad);
  const e = await fetchSite(fx.site, fx.plan, options(dir)).then(
    () => null,
    (x: Error) => x,
  );
  t.true(e instanceof FailureError, String(e));
  t.regex(e!.message, /debian-12-amd64\/socat_1\.0-1_amd64\.deb: checksum mismatch: .*\/pool\/main\/s\/socat\/socat_1\.0-1_amd64\.deb has sha256/);
  t.false(existsSync(join(dir, 'cache', 'blobs', 'sha256', sha256(bad))));
  t.false(existsSync(join(dir, 'lab1.lock.json')));
});

test('an archive that moved on since the lock is an error until --update-lock takes it', async (t) => {
  const { dir, up, fx } = await setup(t);
  await fetchSite(fx.site, fx.plan, options(dir));
  const newer = await buildDebRepo({
    suite: 'bookworm',
    packages: fx.debRepo!.packages.map((p) => (p.name === 'socat' ? { ...p, version: '1.0-2' } : p)),
    key: fx.debRepo!.key,
  });
  replaceDebRepo(fx.plan.osPackages.repos[0]!.mirror, newer);
  serveArtifacts(up, fx.plan, () => 5_000);
  // A fresh cache with the old lock: the InRelease is downloaded again and no longer lists the locked index.
  const e = await fetchSite(fx.site, fx.plan, options(dir, { cacheDir: join(dir, 'cache2') })).then(
    () => null,
    (x: Error) => x,
  );
  t.true(e instanceof FailureError, String(e));
  t.regex(
    e!.message,
    /debian-12-amd64: the archive changed: .*InRelease now lists main\/binary-amd64\/Packages\.gz with sha256 [0-9a-f]{64}, the lock records [0-9a-f]{64}/,
  );
  const updated = await fetchSite(fx.site, fx.plan, options(dir, { cacheDir: join(dir, 'cache2'), updateLock: true }));
  t.is(updated.osRepos[0]!.debs.find((d) => d.name === 'socat')!.version, '1.0-2');
  t.is((await readLock(join(dir, 'lab1.lock.json')))!.osPackages!['debian-12-amd64']!.debs['socat']!.version, '1.0-2');
});

test("the payload's flat repository (Packages index beside the .debs) is one apt installs the request from, offline, with the baseline installed", async (t) => {
  const { dir, fx } = await setup(t);
  const out = await fetchSite(fx.site, fx.plan, options(dir));
  const repo = out.osRepos[0]!;
  const flat = join(dir, 'flat');
  mkdirSync(flat);
  for (const d of repo.debs) copyFileSync(out.cache.blobPath(d.sha256), join(flat, d.filename));
  writeFileSync(join(flat, 'Packages'), flatPackagesIndex(repo));
  t.regex(readFileSync(join(flat, 'Packages'), 'utf8'), /^Filename: \.\/nginx-light_1\.0-1_all\.deb$/m);

  // A node image: the fixture's baseline (required + apt, iproute2, systemd, udev) installed.
  const baseline = ['libc6', 'mount', 'util-linux', 'passwd', 'apt', 'iproute2', 'systemd', 'udev'].map((n) => fx.debRepo!.packages.find((p) => p.name === n)!);
  const status = baseline
    .map(
      (p) =>
        `Package: ${p.name}\nStatus: install ok installed\nVersion: ${p.version}\nArchitecture: ${p.arch ?? 'amd64'}\n${p.multiArch ? `Multi-Arch: ${p.multiArch}\n` : ''}`,
    )
    .join('\n');
  const apt = aptIn(join(dir, 'apt'), `deb [trusted=yes] file:${flat} ./`, status);
  apt(['update']);
  const sim = apt(['-s', 'install', ...fx.plan.osPackages.nodes['k8s-01']!.packages]);
  const inst = [...sim.matchAll(/^Inst (\S+) /gm)].map((m) => m[1]).sort();
  t.deepEqual(
    inst,
    repo.debs.map((d) => d.name),
  );
});

/** apt-get run against its own sources, lists and dpkg status in `root` (nothing of the host's apt is read). */
function aptIn(root: string, source: string, status: string) {
  mkdirSync(join(root, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(root, 'cache', 'archives', 'partial'), { recursive: true });
  writeFileSync(join(root, 'sources.list'), `${source}\n`);
  writeFileSync(join(root, 'status'), status);
  const opts = [
    '-o',
    `Dir::Etc::sourcelist=${join(root, 'sources.list')}`,
    '-o',
    'Dir::Etc::sourceparts=/nonexistent',
    '-o',
    `Dir::State::Lists=${join(root, 'lists')}`,
    '-o',
    `Dir::State::status=${join(root, 'status')}`,
    '-o',
    `Dir::Cache=${join(root, 'cache')}`,
    '-o',
    'Debug::NoLocking=1',
    '-o',
    'APT::Sandbox::User=root',
    '-o',
    'APT::Install-Recommends=false',
  ];
  return (args: string[]) => execFileSync('apt-get', [...opts, ...args], { encoding: 'utf8', env: { ...process.env, APT_CONFIG: '/dev/null' } });
}
