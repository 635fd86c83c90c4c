import { createHash, randomBytes } from 'node:crypto';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { realFs } from '../generator/io/fs.js';
import { SILENT_EVENTS } from '../generator/fetch/artifacts.js';
import type { HttpSettings } from '../generator/fetch/http.js';
import type { BundlePlan, Catalog, ResolvedSite } from '../generator/model/index.js';
import type { FetchOptions } from '../generator/pipeline/fetch.js';
import { loadSite } from '../generator/pipeline/load.js';
import { buildPlan } from '../generator/plan/index.js';
import { repoRoot, testClock } from './helpers.js';
import type { UpstreamServer } from './upstream-server.js';
import { buildDebRepo, throwawayKey, type DebRepo, type FakePackage, type SigningKey } from './debrepo-fixture.js';
import { rmSync } from 'node:fs';

export interface FetchFixture {
  siteFile: string;
  catalogDir: string;
  site: ResolvedSite;
  catalog: Catalog;
  plan: BundlePlan;
  /** With `osPackages`: the loopback Debian repository (served by serveArtifacts) and its key. */
  debRepo?: DebRepo & { key: SigningKey; packages: FakePackage[] };
}

/** Loopback repositories by mirror URL, so that serveArtifacts serves them for any plan derived from the fixture's. */
const REPOS = new Map<string, DebRepo>();

/**
 * A stand-in for bookworm main that satisfies lab1's request: a few dependencies between the
 * requested packages and libraries, a virtual package, and the baseline (required, apt, systemd…)
 * that the closure leaves out.
 */
export function lab1FakePackages(request: string[]): FakePackage[] {
  const base: FakePackage[] = [
    { name: 'libc6', version: '2.36-9+deb12u10', priority: 'required', multiArch: 'same' },
    { name: 'mount', version: '2.38.1-5+deb12u3', priority: 'required', depends: 'libc6 (>= 2.34)' },
    { name: 'util-linux', version: '2.38.1-5+deb12u3', priority: 'required', essential: true, preDepends: 'libc6 (>= 2.34)' },
    { name: 'apt', version: '2.6.1', priority: 'important', depends: 'libc6' },
    { name: 'iproute2', version: '6.1.0-3', priority: 'important', depends: 'libc6' },
    { name: 'systemd', version: '252.38-1~deb12u1', priority: 'important', depends: 'libc6, mount' },
    { name: 'udev', version: '252.38-1~deb12u1', priority: 'important', depends: 'systemd' },
    { name: 'libxtables12', version: '1.8.9-2', multiArch: 'same', depends: 'libc6 (>= 2.34)' },
    { name: 'libnetfilter-conntrack3', version: '1.0.9-3', multiArch: 'same', depends: 'libc6' },
    { name: 'nginx', version: '1.22.1-9+deb12u9', provides: 'httpd, nginx-abi-1.22.1-7', depends: 'nginx-common (= 1.22.1-9+deb12u9), libc6' },
    { name: 'nginx-common', version: '1.22.1-9+deb12u9', arch: 'all' },
  ];
  const special: Record<string, Partial<FakePackage>> = {
    iptables: { depends: 'libxtables12 (= 1.8.9-2), libc6 (>= 2.34)' },
    conntrack: { version: '1:1.4.7-1+b2', depends: 'libnetfilter-conntrack3 (>= 1.0.9), libc6' },
    'nginx-light': { arch: 'all', depends: 'nginx (<< 1.22.1-9+deb12u9.1~), nginx (>= 1.22.1-9+deb12u9)' },
    'libnginx-mod-stream': { depends: 'nginx-abi-1.22.1-7, libc6' },
    chrony: { depends: 'iproute2, libc6, adduser | passwd' },
    procps: { priority: 'important' },
    kmod: { priority: 'important' },
  };
  const out = [...base, { name: 'passwd', version: '1:4.13+dfsg1-1', priority: 'required' }];
  for (const name of request) {
    if (out.some((p) => p.name === name)) continue;
    out.push({ name, version: '1.0-1', ...special[name] });
  }
  return out;
}

/**
 * lab1 with every download source on a loopback server, and a copy of the catalog without pins
 * (the test serves its own bytes, so upstream checksum files are the only source of truth).
 * Images are left out unless a registry mirror is given.
 */
export async function fetchFixture(
  dir: string,
  base: string,
  opts: { mirror?: string; arm64Node?: boolean; osPackages?: boolean } = {},
): Promise<FetchFixture> {
  const catalogDir = join(dir, 'catalog');
  cpSync(join(repoRoot, 'blueprints', 'catalog'), catalogDir, { recursive: true });
  // Without OS packages unless asked: the catalog then plans none (tests of artifacts and images stay about them).
  const key = opts.osPackages ? await throwawayKey() : null;
  if (key) writeFileSync(join(catalogDir, 'keys', 'debian-archive-keys.asc'), key.armoredPublic);
  else rmSync(join(catalogDir, 'ospkg.yaml'));
  const site = parseDocument(readFileSync(join(repoRoot, 'blueprints', 'sites', 'lab1.yaml'), 'utf8'));
  const releaseFile = join(catalogDir, 'releases', `${String(site.getIn(['spec', 'kubernetes', 'version']))}.yaml`);
  const release = parseDocument(readFileSync(releaseFile, 'utf8'));
  release.set('pinned', {});
  if (!opts.mirror) release.set('images', []);
  writeFileSync(releaseFile, release.toString());

  const sources = ['kubernetes', 'etcd', 'containerd', 'runc', 'crictl', 'cni-plugins'];
  site.setIn(['spec', 'artifacts', 'sources'], Object.fromEntries([...sources, ...(key ? ['debian'] : [])].map((s) => [s, `${base}/${s}`])));
  if (opts.mirror) site.setIn(['spec', 'artifacts', 'registryMirrors'], { 'registry.k8s.io': opts.mirror, 'docker.io': opts.mirror, 'quay.io': opts.mirror });
  else {
    // Without images: no add-ons, and the bridge network that needs none.
    site.setIn(['spec', 'addons'], []);
    site.setIn(['spec', 'network', 'plugin'], 'bridge');
  }
  if (opts.arm64Node) {
    site.setIn(['spec', 'artifacts', 'arch'], ['amd64', 'arm64']);
    site.setIn(['spec', 'nodes', 2, 'arch'], 'arm64');
  }
  const siteFile = join(dir, 'lab1.yaml');
  writeFileSync(siteFile, site.toString());

  const loaded = await loadSite(realFs, { site: siteFile, catalog: catalogDir, cwd: dir, root: repoRoot, clock: testClock });
  if (!loaded.resolved || !loaded.catalog) throw new Error(JSON.stringify(loaded.issues, null, 2));
  const plan = buildPlan(loaded.resolved, loaded.catalog);
  if (!key) return { siteFile, catalogDir, site: loaded.resolved, catalog: loaded.catalog, plan };
  const repo = plan.osPackages.repos[0]!;
  const packages = lab1FakePackages(repo.packages);
  const built = await buildDebRepo({ suite: repo.suite, packages, key });
  REPOS.set(repo.mirror, built);
  return { siteFile, catalogDir, site: loaded.resolved, catalog: loaded.catalog, plan, debRepo: { ...built, key, packages } };
}

/** Replaces what the loopback repository of `mirror` serves (a later serveArtifacts serves the new files). */
export function replaceDebRepo(mirror: string, repo: DebRepo): void {
  REPOS.set(mirror, repo);
}

/** Puts random bytes at every artifact URL of the plan and the matching checksum files; returns the bytes per artifact id. */
export function serveArtifacts(server: UpstreamServer, plan: BundlePlan, size: (i: number) => number): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const sums = new Map<string, string[]>();
  plan.artifacts.forEach((a, i) => {
    const bytes = randomBytes(size(i));
    out.set(a.id, bytes);
    server.files.set(new URL(a.url).pathname, bytes);
    const c = a.checksum;
    if (c.kind === 'pinned' || !c.url) throw new Error(`fixture: ${a.id} is pinned`);
    const hex = createHash(c.algorithm).update(bytes).digest('hex');
    const path = new URL(c.url).pathname;
    const lines = sums.get(path) ?? [];
    lines.push(c.kind === 'hash-file' ? hex : `${hex}  ${c.entry}`);
    if (c.kind === 'sums-file') lines.push(`${'0'.repeat(hex.length)}  unrelated-${i}.tar.gz`);
    sums.set(path, lines);
  });
  for (const [path, lines] of sums) server.files.set(path, Buffer.from(`${lines.join('\n')}\n`));
  for (const r of plan.osPackages.repos) {
    const repo = REPOS.get(r.mirror);
    if (!repo) continue;
    const prefix = new URL(r.mirror).pathname.replace(/\/+$/, '');
    for (const [path, bytes] of repo.files) server.files.set(`${prefix}/${path}`, bytes);
  }
  return out;
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Fetch options for a test working in `dir`: its own cache, lock and HOME, silent, with the given HTTP timing. */
export function fetchOptions(dir: string, http: Omit<HttpSettings, 'env'>, over: Partial<FetchOptions> = {}): FetchOptions {
  return {
    cacheDir: join(dir, 'cache'),
    lockPath: join(dir, 'lab1.lock.json'),
    offline: false,
    updateLock: false,
    parallel: 4,
    http: { env: { HOME: dir }, ...http },
    events: SILENT_EVENTS,
    ...over,
  };
}
