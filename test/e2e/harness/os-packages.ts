/**
 * The e2e's OS packages (issue #18): what the nodes' payload carries of their distribution, and
 * what the powered-off disks say first boot did with it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SILENT_EVENTS } from '../../../generator/fetch/artifacts.js';
import { realClock } from '../../../generator/io/clock.js';
import { realFs } from '../../../generator/io/fs.js';
import type { PlannedOsPackages } from '../../../generator/model/index.js';
import { flatPackagesIndex, osRepoDir } from '../../../generator/ospkg/payload.js';
import { fetchSite } from '../../../generator/pipeline/fetch.js';
import { loadSite } from '../../../generator/pipeline/load.js';
import { buildPlan } from '../../../generator/plan/index.js';
import { fixtureCache, repoRoot } from '../../helpers.js';

/** The OS packages the e2e resolved, and their lock: kept with the fixtures, so only a first run asks Debian's mirror. */
const OSPKG_CACHE = join(fixtureCache, 'e2e-ospkg');

/**
 * The payload inputs of a run: the prebuilt binaries and images of `base`, and the nodes' OS
 * packages resolved by gen's own fetch stage against Debian's signed index (deb.debian.org, the
 * one internet source the tests may use, as debootstrap does) into a cache kept with the
 * fixtures, so a later run sends no request; the boot itself stays offline in its namespace.
 * Laid out as `gen bundle --artifacts` reads it: each file of `base` linked, `ospkg/<repo>/` with
 * the .debs and their flat Packages index, one SHA256SUMS over all. Returns the directory and the plan's OS packages.
 */
export async function payloadInputs(
  work: string,
  runSite: string,
  base: string,
  log: (m: string) => void,
): Promise<{ dir: string; osPackages: PlannedOsPackages }> {
  const loaded = await loadSite(realFs, { site: runSite, cwd: work, root: repoRoot, clock: realClock });
  if (!loaded.resolved || !loaded.catalog) throw new Error(`${runSite} does not resolve: ${loaded.issues.map((i) => i.message).join('; ')}`);
  const plan = buildPlan(loaded.resolved, loaded.catalog);
  if (!plan.osPackages.repos.length) return { dir: base, osPackages: plan.osPackages };
  const t0 = Date.now();
  const outcome = await fetchSite(
    loaded.resolved,
    { ...plan, artifacts: [], images: [] },
    {
      cacheDir: OSPKG_CACHE,
      lockPath: join(OSPKG_CACHE, `${loaded.resolved.name}.lock.json`),
      offline: false,
      updateLock: false,
      parallel: 4,
      http: { env: process.env, timeoutMs: 30_000, retries: 5, backoffMs: 250 },
      events: SILENT_EVENTS,
    },
  );
  const dir = join(work, 'artifacts');
  mkdirSync(dir);
  const sums = [readFileSync(join(base, 'SHA256SUMS'), 'utf8').trimEnd()];
  for (const name of readdirSync(base)) if (name !== 'SHA256SUMS') symlinkSync(join(base, name), join(dir, name));
  for (const repo of outcome.osRepos) {
    const repoDir = osRepoDir(repo.id);
    mkdirSync(join(dir, repoDir), { recursive: true });
    for (const d of repo.debs) {
      symlinkSync(outcome.cache.blobPath(d.sha256), join(dir, repoDir, d.filename));
      sums.push(`${d.sha256}  ${repoDir}/${d.filename}`);
    }
    const index = flatPackagesIndex(repo);
    writeFileSync(join(dir, repoDir, 'Packages'), index);
    sums.push(`${createHash('sha256').update(index).digest('hex')}  ${repoDir}/Packages`);
    const mib = repo.debs.reduce((s, d) => s + d.size, 0) / 2 ** 20;
    log(
      `OS packages ${repo.id}: ${repo.debs.length} .debs, ${mib.toFixed(1)} MiB, resolved by gen fetch in ${((Date.now() - t0) / 1000).toFixed(1)} s (${outcome.transferred} bytes downloaded)`,
    );
  }
  writeFileSync(join(dir, 'SHA256SUMS'), `${sums.join('\n')}\n`);
  return { dir, osPackages: plan.osPackages };
}

/** A copy of a catalog without ospkg.yaml: a site bundled with it plans, and its payload carries, no OS package. */
export function catalogWithoutOsPackages(work: string, catalog: string): string {
  const copy = join(work, 'catalog-without-os-packages');
  cpSync(catalog, copy, { recursive: true });
  rmSync(join(copy, 'ospkg.yaml'));
  return copy;
}

/** What the stock image lacks and every node of the e2e sites needs: the preflight must name these packages. */
export const PREFLIGHT_MISSING = ['conntrack', 'iptables', 'ipset', 'nginx-light', 'libnginx-mod-stream'];

/** A file of an ext4 image, read with debugfs (empty when absent). */
const cat = (image: string, path: string) => spawnSync('debugfs', ['-R', `cat ${path}`, image], { encoding: 'utf8', maxBuffer: 1 << 26 }).stdout;
/** The names in a directory of an ext4 image, without . and .. */
const ls = (image: string, path: string) =>
  [...spawnSync('debugfs', ['-R', `ls -p ${path}`, image], { encoding: 'utf8' }).stdout.matchAll(/^\/\d+\/\d+\/\d+\/\d+\/([^/]*)\//gm)]
    .map((m) => m[1]!)
    .filter((n) => n !== '.' && n !== '..');

/** Installed package → version, from a dpkg status file. */
function installed(status: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const stanza of status.split(/\n\n+/)) {
    const field = (f: string) => new RegExp(`^${f}: (.*)$`, 'm').exec(stanza)?.[1];
    if (field('Status') === 'install ok installed') out.set(field('Package')!, field('Version')!);
  }
  return out;
}

export interface BaseImage {
  packages: Map<string, string>;
  sources: string;
  dpkgLog: string;
}

/** What the guest image holds before any boot: its packages, apt sources and dpkg log. */
export function baseImage(disk: string): BaseImage {
  return { packages: installed(cat(disk, '/var/lib/dpkg/status')), sources: cat(disk, '/etc/apt/sources.list'), dpkgLog: cat(disk, '/var/log/dpkg.log') };
}

/**
 * From a powered-off node's disk: every package the node asked for that its image lacked was
 * installed during the boots (dpkg's log beyond the image's) at the version status.json records,
 * by apt with the payload's repository as its only source; and apt fetched nothing (no index in
 * its lists, no .deb in its cache, the node's own sources.list as on the image).
 */
export function checkOsPackages(
  check: (name: string, ok: boolean, detail?: string) => void,
  node: string,
  raw: string,
  osPackages: PlannedOsPackages,
  base: BaseImage,
): void {
  const request = osPackages.nodes[node];
  if (!request) return;
  const missing = request.packages.filter((p) => !base.packages.has(p));
  const log = cat(raw, '/var/log/dpkg.log');
  const since = log.startsWith(base.dpkgLog) ? log.slice(base.dpkgLog.length) : log;
  const fromDpkg = new Map([...since.matchAll(/ status installed ([^:\s]+)(?::\S+)? (\S+)$/gm)].map((m) => [m[1]!, m[2]!]));
  const status = JSON.parse(cat(raw, '/var/lib/kubeseed/status.json') || '{}') as { osPackages?: string[] };
  const recorded = new Map((status.osPackages ?? []).map((x) => [x.slice(0, x.indexOf('=')), x.slice(x.indexOf('=') + 1)]));
  const history = cat(raw, '/var/log/apt/history.log');
  const payloadOnly = /Commandline: apt-get .*Dir::Etc::sourcelist=\S+ -o Dir::Etc::sourceparts=- /.test(history);
  const wrong = missing.filter((p) => !fromDpkg.has(p) || recorded.get(p) !== fromDpkg.get(p));
  check(
    `${node}: the OS packages its image lacked came from the payload (dpkg's log on its disk)`,
    missing.length > 0 && wrong.length === 0 && payloadOnly,
    `${missing.length} of ${request.packages.length} requested were not on the image; installed during first boot: ${missing.map((p) => `${p} ${fromDpkg.get(p) ?? 'NOT INSTALLED'}`).join(', ')}; ${fromDpkg.size} packages in dpkg's log since the image, ${recorded.size} in status.json; apt's only source the payload: ${payloadOnly ? 'yes' : 'no'}${wrong.length ? `; missing or not recorded: ${wrong.join(', ')}` : ''}`,
  );
  const lists = ls(raw, '/var/lib/apt/lists').filter((n) => n !== 'partial' && n !== 'lock');
  const debs = ls(raw, '/var/cache/apt/archives').filter((n) => n.endsWith('.deb'));
  const sources = cat(raw, '/etc/apt/sources.list');
  check(
    `${node}: apt contacted no source (no index fetched, no .deb downloaded, sources.list as on the image)`,
    lists.length === 0 && debs.length === 0 && sources === base.sources && sources.length > 0,
    `lists: ${lists.join(', ') || 'none'}; .debs in apt's cache: ${debs.length}; sources.list ${sources === base.sources ? 'unchanged' : 'changed'}`,
  );
}
