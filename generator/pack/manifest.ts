import { createHash } from 'node:crypto';
import { chmod, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { realFs } from '../io/fs.js';
import { sha256File } from '../io/hash.js';
import type { BundlePlan, Catalog, ResolvedSite } from '../model/index.js';
import { DIST } from './dist-layout.js';
import type { PayloadFile } from './payload.js';

export interface ManifestInput {
  site: ResolvedSite;
  plan: BundlePlan;
  catalog: Catalog;
  /** The site's nodes this bundle holds. */
  nodes: string[];
  /** The payload's forms written, the one to carry first. */
  payloads: PayloadFile[];
  epoch: number;
  /** dist path → sha256 of what was hashed already. */
  known: Map<string, string>;
  /** The site revision (generator/update): what the nodes' updates bring them to. */
  revision: number;
}

/**
 * `manifest.json` (what the bundle holds: versions, images, nodes, every file with size, mode
 * and sha256) and `SHA256SUMS` over every file, manifest included. Returns the number of files.
 */
export async function writeManifest(dist: string, m: ManifestInput): Promise<number> {
  const { site, plan, catalog, epoch, known } = m;
  const files = await realFs.listFiles(dist);
  const entries = [];
  for (const f of files) {
    const st = await stat(join(dist, f));
    entries.push({ path: f, size: st.size, mode: (st.mode & 0o777).toString(8).padStart(4, '0'), sha256: known.get(f) ?? (await sha256File(join(dist, f))) });
  }
  const release = catalog.releases.find((r) => r.version === site.kubernetes.version)!;
  const manifest = {
    apiVersion: 'kubeseed/v1alpha1',
    kind: 'BundleManifest',
    site: site.name,
    kubernetesVersion: site.kubernetes.version,
    mode: site.kubernetes.mode,
    created: new Date(epoch * 1000).toISOString(),
    revision: m.revision,
    versions: release.versions,
    images: plan.images.map((i) => ({ ref: i.ref, platform: i.platform })),
    // The file to carry; `payloads` lists every form written (`--payload-format`).
    payload: m.payloads[0]?.name ?? null,
    payloads: m.payloads.map((p) => ({ format: p.format, path: DIST.payload(p.name), size: p.size, sha256: p.sha256 })),
    nodes: m.nodes,
    files: entries,
  };
  const manifestText = `${JSON.stringify(manifest, null, 2)}\n`;
  await writeFile(join(dist, DIST.manifest), manifestText, { mode: 0o644 });
  await chmod(join(dist, DIST.manifest), 0o644);
  // The files were hashed for the manifest already; only manifest.json itself is new.
  const hashes = new Map(entries.map((e) => [e.path, e.sha256]));
  hashes.set(DIST.manifest, createHash('sha256').update(manifestText).digest('hex'));
  const sums = [...hashes.keys()].sort().map((f) => `${hashes.get(f)}  ${f}\n`);
  await writeFile(join(dist, DIST.sums), sums.join(''), { mode: 0o644 });
  await chmod(join(dist, DIST.sums), 0o644);
  return hashes.size + 1;
}
