import test from 'ava';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SILENT_EVENTS, type FetchContext } from '../../generator/fetch/artifacts.js';
import { BlobCache } from '../../generator/fetch/cache.js';
import { HttpClient } from '../../generator/fetch/http.js';
import { fetchDeb, resolveOsRepo } from '../../generator/ospkg/fetch.js';
import { baselineFromIndex, PackageIndex } from '../../generator/ospkg/resolve.js';
import { buildPlan } from '../../generator/plan/index.js';
import { aptSimulate, statusFile } from '../apt-helper.js';
import { loadDefaultCatalog } from '../helpers.js';
import { siteFromLab1 } from '../sites.js';

/**
 * The one test that leaves loopback: lab1's OS packages resolved against Debian bookworm's real
 * signed index on deb.debian.org (the catalog's own keys and mirror), every .deb downloaded and
 * verified; then apt, over that same index with the baseline as its dpkg status, must install
 * exactly the same set.
 */
test('lab1 against the real, signed bookworm index: InRelease verified, closure downloaded and verified, the same set apt picks', async (t) => {
  t.timeout(600_000);
  const dir = mkdtempSync(join(tmpdir(), 'kubeseed-debian-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const catalog = await loadDefaultCatalog();
  const plan = buildPlan(siteFromLab1(catalog), catalog);
  const repo = plan.osPackages.repos[0]!;
  t.is(repo.mirror, 'https://deb.debian.org/debian');
  const http = new HttpClient({ env: process.env, timeoutMs: 60_000, retries: 3, backoffMs: 500 });
  t.teardown(() => http.close());
  const ctx: FetchContext = { http, cache: new BlobCache(join(dir, 'cache')), lock: null, updateLock: false, events: SILENT_EVENTS };
  const r = await resolveOsRepo(repo, ctx, catalog.dir);
  const names = r.debs.map((d) => d.name);
  for (const must of ['conntrack', 'nftables', 'socat', 'nginx', 'nginx-light', 'libnginx-mod-stream', 'chrony', 'iptables', 'ebtables', 'ethtool'])
    t.true(names.includes(must), must);
  for (const never of ['libc6', 'util-linux', 'mount', 'systemd', 'apt', 'iproute2']) t.false(names.includes(never), `${never} is in the baseline`);
  for (const d of r.debs) await fetchDeb(repo.id, d, ctx);
  for (const d of r.debs) t.true(await ctx.cache.has(d.sha256), d.filename);
  t.log(
    `${r.debs.length} .debs, ${(r.debs.reduce((s, d) => s + d.size, 0) / 1048576).toFixed(1)} MiB; InRelease sha256 ${r.entry.release.sha256.slice(0, 12)}…`,
  );

  // apt over the same (uncompressed, verified) index, with the baseline installed.
  const index = readFileSync(ctx.cache.blobPath(r.entry.indexes['main/binary-amd64/Packages.gz']!.unpacked));
  const pkgIndex = new PackageIndex([index], 'amd64');
  const baseline = baselineFromIndex(pkgIndex, repo.baseline ?? []);
  const apt = join(dir, 'apt');
  mkdirSync(join(apt, 'lists', 'partial'), { recursive: true });
  mkdirSync(join(apt, 'cache', 'archives', 'partial'), { recursive: true });
  writeFileSync(join(apt, 'lists', 'deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages'), index);
  writeFileSync(join(apt, 'lists', 'deb.debian.org_debian_dists_bookworm_InRelease'), readFileSync(ctx.cache.blobPath(r.entry.release.sha256)));
  writeFileSync(join(apt, 'sources.list'), 'deb [trusted=yes arch=amd64] http://deb.debian.org/debian bookworm main\n');
  writeFileSync(join(apt, 'status'), statusFile(pkgIndex, baseline));
  const theirs = aptSimulate(apt, repo.packages);
  const ours = r.debs.map((d) => `${d.name} ${d.version}`).sort();
  t.deepEqual({ onlyOurs: ours.filter((x) => !theirs.includes(x)), onlyApt: theirs.filter((x) => !ours.includes(x)) }, { onlyOurs: [], onlyApt: [] });
});
