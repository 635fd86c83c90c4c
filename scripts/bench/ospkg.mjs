// OS package resolution benchmark (issue #18), measured in the same run as its reference:
//  lab1's closure resolved over a cached, locked bookworm index (the warm path of gen fetch:
//  index read from the cache, InRelease signature checked again, baseline and closure computed,
//  no network at all), target under 1 s; beside it `apt-get -s install` of the same request over
//  the same index (the bare chroot's, scripts/fixtures/build-chroot.sh) with its package cache warm.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SILENT_EVENTS } from '../../dist/generator/fetch/artifacts.js';
import { BlobCache } from '../../dist/generator/fetch/cache.js';
import { parseRelease } from '../../dist/generator/ospkg/control.js';
import { resolveOsRepo } from '../../dist/generator/ospkg/fetch.js';
import { buildPlan } from '../../dist/generator/plan/index.js';
import { fixtureCache, loadDefaultCatalog } from '../../dist/test/helpers.js';
import { siteFromLab1 } from '../../dist/test/pki-fixture.js';
import { aptSimulate } from '../../dist/test/apt-helper.js';

const chroot = join(fixtureCache, 'chroot-bookworm');
const lists = join(chroot, 'var', 'lib', 'apt', 'lists');
if (!existsSync(lists)) throw new Error(`${chroot} is missing: run bash scripts/fixtures/build-chroot.sh`);
const indexName = readdirSync(lists).find((f) => f.endsWith('_main_binary-amd64_Packages'));
const inReleaseName = readdirSync(lists).find((f) => f.endsWith('_InRelease'));
const dir = mkdtempSync(join(tmpdir(), 'bench-ospkg-'));
const now = () => Number(process.hrtime.bigint()) / 1e9;
/** CPU seconds of this process, and of its waited-for children (from /proc: user + system ticks). */
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const childCpu = () => {
  const f = readFileSync('/proc/self/stat', 'utf8')
    .slice(readFileSync('/proc/self/stat', 'utf8').lastIndexOf(')') + 2)
    .split(' ');
  return (Number(f[13]) + Number(f[14])) / 100;
};
const sha = (b) => createHash('sha256').update(b).digest('hex');

try {
  const catalog = await loadDefaultCatalog();
  const repo = buildPlan(siteFromLab1(catalog), catalog).osPackages.repos[0];
  const index = readFileSync(join(lists, indexName));
  const inRelease = readFileSync(join(lists, inReleaseName));
  const gzPath = 'main/binary-amd64/Packages.gz';
  const listed = parseRelease(inRelease.toString('utf8')).sha256.get(gzPath);
  const cache = new BlobCache(join(dir, 'cache'));
  await cache.put(index, sha(index));
  await cache.put(inRelease, sha(inRelease));
  const lock = {
    apiVersion: 'kubeseed/v1alpha1',
    kind: 'Lock',
    site: 'lab1',
    artifacts: {},
    images: {},
    osPackages: {
      [repo.id]: {
        suite: repo.suite,
        arch: repo.arch,
        release: { url: `${repo.mirror}/dists/${repo.suite}/InRelease`, size: inRelease.length, sha256: sha(inRelease) },
        indexes: { [gzPath]: { url: `${repo.mirror}/dists/${repo.suite}/${gzPath}`, size: listed.size, sha256: listed.sha256, unpacked: sha(index) } },
        debs: {},
      },
    },
  };
  // http: null: the warm path may not touch the network (it would throw if it tried).
  const ctx = { http: null, cache, lock, updateLock: false, events: SILENT_EVENTS };
  const times = [];
  const cpus = [];
  let debs = 0;
  for (let i = 0; i < 5; i++) {
    const t = now();
    const c = cpu();
    const r = await resolveOsRepo(repo, ctx, catalog.dir);
    times.push(now() - t);
    cpus.push(cpu() - c);
    debs = r.debs.length;
  }

  const apt = join(dir, 'apt');
  mkdirSync(join(apt, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(apt, 'cache', 'archives', 'partial'), { recursive: true });
  copyFileSync(join(lists, indexName), join(apt, 'lists', indexName));
  copyFileSync(join(lists, inReleaseName), join(apt, 'lists', inReleaseName));
  copyFileSync(join(chroot, 'var', 'lib', 'dpkg', 'status'), join(apt, 'status'));
  const m = /^(.+)_dists_([^_]+)_main_binary-amd64_Packages$/.exec(indexName);
  writeFileSync(join(apt, 'sources.list'), `deb [trusted=yes arch=amd64] http://${m[1].replaceAll('_', '/')} ${m[2]} main\n`);
  const aptTimes = [];
  const aptCpus = [];
  let aptCount = 0;
  for (let i = 0; i < 4; i++) {
    const t = now();
    const c = childCpu();
    aptCount = aptSimulate(apt, repo.packages).length;
    aptTimes.push(now() - t);
    aptCpus.push(childCpu() - c);
  }
  const stanzas = index.toString('latin1').split('\n\nPackage: ').length;
  console.log(
    `ospkg: lab1's OS packages (${repo.packages.length} asked, closure of ${debs} .debs beyond the baseline) over a cached, locked bookworm main index (${stanzas} stanzas, ${(index.length / 1048576).toFixed(0)} MiB), no network`,
  );
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  console.log(
    `  gen fetch's warm resolution      best ${Math.min(...times).toFixed(3)} s wall, ${Math.min(...cpus).toFixed(3)} s CPU; first ${times[0].toFixed(3)} s  (target < 1 s)`,
  );
  console.log(
    `  apt-get -s install, same index   best ${Math.min(...aptTimes.slice(1)).toFixed(3)} s wall, ${Math.min(...aptCpus.slice(1)).toFixed(3)} s CPU; first ${aptTimes[0].toFixed(3)} s (builds its package cache)  (${aptCount} packages over the chroot's own status)`,
  );
  console.log(`  load average ${load} on ${(await import('node:os')).cpus().length} cores while measured`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
