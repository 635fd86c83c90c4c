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
import { repoRoot } from './helpers.js';
import type { UpstreamServer } from './upstream-server.js';

export interface FetchFixture {
  siteFile: string;
  catalogDir: string;
  site: ResolvedSite;
  catalog: Catalog;
  plan: BundlePlan;
}

/**
 * lab1 with every download source on a loopback server, and a copy of the catalog without pins
 * (the test serves its own bytes, so upstream checksum files are the only source of truth).
 * Images are left out unless a registry mirror is given.
 */
export async function fetchFixture(dir: string, base: string, opts: { mirror?: string; arm64Node?: boolean } = {}): Promise<FetchFixture> {
  const catalogDir = join(dir, 'catalog');
  cpSync(join(repoRoot, 'blueprints', 'catalog'), catalogDir, { recursive: true });
  const releaseFile = join(catalogDir, 'releases', 'v1.34.2.yaml');
  const release = parseDocument(readFileSync(releaseFile, 'utf8'));
  release.set('pinned', {});
  if (!opts.mirror) release.set('images', []);
  writeFileSync(releaseFile, release.toString());

  const site = parseDocument(readFileSync(join(repoRoot, 'blueprints', 'sites', 'lab1.yaml'), 'utf8'));
  const sources = ['kubernetes', 'etcd', 'containerd', 'runc', 'crictl', 'cni-plugins'];
  site.setIn(['spec', 'artifacts', 'sources'], Object.fromEntries(sources.map((s) => [s, `${base}/${s}`])));
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

  const loaded = await loadSite(realFs, { site: siteFile, catalog: catalogDir, cwd: dir, root: repoRoot });
  if (!loaded.resolved || !loaded.catalog) throw new Error(JSON.stringify(loaded.issues, null, 2));
  return { siteFile, catalogDir, site: loaded.resolved, catalog: loaded.catalog, plan: buildPlan(loaded.resolved, loaded.catalog) };
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
